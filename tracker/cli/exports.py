"""Files and pictures for others: `tracker feeds` (and OPML), `export`, `graph`, `report`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker.answers.output import (
    EXPORT_FORMATS,
    PICTURE_FORMATS,
    counted,
    write_file,
    write_stdout,
)
from tracker.cli.base import (
    config_of,
    emit,
    format_option,
    global_options,
    main,
    out_path,
    parse_since,
    read_sessions,
)
from tracker.errors import EXIT_FAILURES, InputError
from tracker.terminal import echo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


def _sessions_if_any(ctx: click.Context) -> sessionmaker[Session] | None:
    """The database, or None when there is none yet (a config's feeds can be listed without one)."""
    from tracker.errors import MissingDatabaseError

    try:
        return read_sessions(ctx)
    except MissingDatabaseError:
        return None


def _write(data: bytes, out: Path | None) -> None:
    """Bytes to a file (replaced whole, never left half-written) or to stdout."""
    if out is None:
        write_stdout(data)
    else:
        write_file(out, data)


class _SubGroup(click.Group):
    """A group under `tracker` whose own commands take --config and -v after their names too."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.extend(global_options())
        super().add_command(cmd, name)


@main.group(cls=_SubGroup, invoke_without_command=True)
@format_option
@click.pass_context
def feeds(ctx: click.Context, fmt: str) -> None:
    """List every feed: publisher, tags, state, last poll, next check, items.

    States, most telling first (the words of `status` and the metrics too): gone (410
    Gone, never polled again); failing ×N and the last error's kind; moved (a permanent
    redirect moved it); active; inactive (no longer in the config); archived (seen only
    in archives); new (in the config, not yet polled or ingested).

    \b
    Examples:
      tracker --config config/tracker.toml feeds
      tracker feeds --format json | jq -r 'select(.state == "failing") | .url'
      tracker feeds export --out subscriptions.opml
    """
    if ctx.invoked_subcommand is not None:
        return
    from tracker.answers.feeds import FEED_KEYS, FEED_TABLE, feed_list, table_rows
    from tracker.answers.output import render

    config = config_of(ctx)
    rows = feed_list(_sessions_if_any(ctx), config.feeds)
    rows = table_rows(rows) if fmt == "table" else rows
    emit(render(rows, fmt, FEED_TABLE, FEED_KEYS, empty="no feeds (add [[feeds]] or [[opml]] to the config)"), fmt)


@feeds.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default: stdout).")
@click.option("--all", "everything", is_flag=True, help="Also feeds no longer in the config (gone feeds never).")
@click.pass_context
def feeds_export(ctx: click.Context, out: Path | None, everything: bool) -> None:
    """Write the followed feeds as OPML 2.0 (folders from tags, publishers kept), for a feed reader or [[opml]].

    Followed: in the config (stored or not yet), or stored and active; never gone (410).

    \b
    Example:
      tracker --config config/tracker.toml feeds export --out subscriptions.opml
    """
    from tracker.answers.feeds import export_opml

    out_path(out)
    _write(export_opml(_sessions_if_any(ctx), config_of(ctx).feeds, everything), out)


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="prov-json",
              show_default=True, help="W3C PROV (JSON or PROV-N), or flat item_provenance rows.")
@click.option("--since", help="Only items published since (ISO 8601, or 24h, 7d, …), and what they were copied from.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default: stdout).")
@click.pass_context
def export_command(ctx: click.Context, fmt: str, since: str | None, out: Path | None) -> None:
    """Export the provenance graph: W3C PROV (items as entities, copies wasDerivedFrom their
    parents and hadPrimarySource their originals, wasAttributedTo publishers) or flat rows.

    \b
    Examples:
      tracker export --format prov-json --out provenance.json
      tracker export --format csv --since 7d > last-week.csv
    """
    from tracker.answers.export import export

    out_path(out)
    text = export(read_sessions(ctx), fmt, parse_since(since))
    if text and not text.endswith("\n"):
        text += "\n"
    _write(text.encode("utf-8"), out)


_GRAPH_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".mmd": "mermaid", ".mermaid": "mermaid"}


@main.command()
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(PICTURE_FORMATS),
              help="Picture format (default: from --out's suffix, else dot).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default: standard output).")
@click.pass_context
def graph(ctx: click.Context, url: str, fmt: str | None, out: Path | None) -> None:
    """Draw the story of an article: who copied whom, how closely, how fast.

    Publishers are nodes, the original framed; each copy points at its parent, labelled
    with relation, similarity (or containment for excerpts) and delay; a dashed red frame
    marks a claimed date the captures disprove. SVG and PNG need Graphviz's dot; without
    it the DOT text is written instead (chain.svg becomes chain.dot), with a warning, and
    the exit status is 1.

    \b
    Examples:
      tracker graph https://mirror-of-mirrors.example/p/7100/ --out chain.svg
      tracker graph https://mirror-of-mirrors.example/p/7100/ --format png --out chain.png
      tracker graph https://mirror-of-mirrors.example/p/7100/ --format mermaid
    """
    from tracker.answers.graph import story_picture

    out_path(out)
    if fmt is None and out is not None and out.suffix.lower() not in _GRAPH_SUFFIXES:
        raise InputError(f"--out {out.name}: say --format, or use one of {', '.join(sorted(_GRAPH_SUFFIXES))}")
    fmt = fmt or (_GRAPH_SUFFIXES[out.suffix.lower()] if out else "dot")
    if fmt == "png" and out is None and sys.stdout.isatty():
        raise InputError("PNG is binary: give --out FILE or redirect standard output")
    picture, warning = story_picture(read_sessions(ctx), url, fmt)
    if warning:
        echo(f"tracker: warning: {warning}", err=True)
    if out is None:
        click.echo(picture.data, nl=False)  # bytes go to the binary stream as they are
    else:
        if picture.format != fmt:
            out = out.with_suffix(".dot")
        _write(picture.data, out)
        click.echo(f"wrote {out} ({picture.format})", err=True)
    if picture.format != fmt:
        # What was asked was not drawn: a script must not take the DOT text for the picture.
        echo(f"tracker: no {fmt} written (DOT text instead); exit {EXIT_FAILURES}", err=True)
        sys.exit(EXIT_FAILURES)


@main.command()
@click.option("--out", required=True, metavar="DIR", type=click.Path(path_type=Path), help="Folder to write index.html into (created if needed).")
@click.option("--since", metavar="T", help="Only items published since: an ISO date or time (UTC), or a span back from now: 36h, 7d, 2w.")
@click.option("--top", metavar="N", type=click.IntRange(1, 200), default=10, show_default=True, help="How many of the most republished stories to draw.")
@click.pass_context
def report(ctx: click.Context, out: Path, since: str | None, top: int) -> None:
    """Write a self-contained HTML report: chains, who copies whom, copy delays, publishers.

    One index.html with everything inline; it runs no scripts and loads nothing from the
    network, so it opens offline and can be mailed as one file.

    \b
    Examples:
      tracker report --out report/
      tracker report --out report/ --since 7d --top 20
      tracker report --out report/ --since 2025-01-01
    """
    from tracker.answers.report import write_report

    out_path(out)
    result = write_report(read_sessions(ctx), out, parse_since(since), top)
    for warning in result.warnings:
        echo(f"tracker: warning: {warning}", err=True)
    stories = "1 story" if result.stories == 1 else f"{result.stories} stories"
    if result.drawn < result.stories:
        stories += f" ({result.drawn} drawn, the rest as text trees)"
    elif result.stories:
        stories += " drawn"
    click.echo(f"wrote {result.path}: {stories}, {counted(result.publishers, 'publisher')}")

"""The `tracker` command: a thin shell over the Python API.

Every command is documented with an example in its help. Errors the tracker expects
(`TrackerError`) become one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker import __version__
from tracker.archive import parse_time
from tracker.config import Config, load_config
from tracker.errors import InputError, TrackerError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except TrackerError as error:
            click.echo(f"tracker: error: {error}", err=True)
            sys.exit(error.exit_code)


@click.group(cls=_Group)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="TRACKER_CONFIG",
              help="Config file (TOML). Default: $TRACKER_CONFIG, else ./tracker.toml.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__)
@click.pass_context
def main(ctx: click.Context, config_file: str | None, verbose: int) -> None:
    """Who published this first, and who copied it from whom?

    tracker reads feed captures, finds republished copies across feeds and records
    the original of every story and the chain of republications in SQL.
    """
    from tracker.logs import configure

    configure("text", ("warning", "info", "debug")[min(verbose, 2)])
    ctx.obj = config_file


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.obj)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="For plain feed files: the URL of the feed they were captured from.")
@click.option("--captured-at", help="For plain feed files: when they were captured (ISO 8601; default: file time).")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal).")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], url: str | None, captured_at: str | None, progress: bool | None) -> None:
    """Ingest WARC archives or plain feed files.

    \b
    Examples:
      tracker --config config/tracker.toml ingest captures.warc.gz
      tracker ingest --url https://www.khaama.com/feed/ --captured-at 2025-01-07T09:30:00Z khaama.xml
    """
    from tracker.ingest import ingest_paths
    from tracker.pipeline import Pipeline
    from tracker.store.database import open_database

    config = _config(ctx)
    try:
        when = parse_time(captured_at) if captured_at else None
    except TrackerError as error:
        raise InputError(f"--captured-at: {error}") from None
    pipeline = Pipeline(open_database(config.database.url), config)
    pipeline.register_feeds()
    show = sys.stderr.isatty() if progress is None else progress
    report = ingest_paths(pipeline, list(paths), url, when, progress=show)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{_n(report.captures, 'capture')} ({report.skipped_known} already stored), {_n(report.new_items, 'new item')}, "
        f"{_n(report.updates, 'update')}, {_n(report.republications, 'republication')} found, {_n(report.errors, 'error')}"
    )


@main.command()
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table: the tree for people; json/csv: every item of the story (item_provenance rows with evidence, "
                   "plus depth, in_chain, queried), depth first.")
@click.pass_context
def origin(ctx: click.Context, url: str, fmt: str) -> None:
    """Print an article's original and its chain of republications.

    \b
    Examples:
      tracker origin https://ru24.pro/70678-pakistani-airstrikes-kill-civilians-in-eastern-afghanistan-a.html
      tracker origin --format json https://ru24.pro/70678-….html | jq 'select(.in_chain)'
    """
    from tracker.store.database import open_database

    sessions = open_database(_config(ctx).database.url)
    if fmt == "table":
        from tracker.queries import origin_report

        click.echo(origin_report(sessions, url))
        return
    from tracker.answers import ORIGIN_KEYS, origin_rows
    from tracker.output import csv_text, json_lines

    rows = origin_rows(sessions, url)
    click.echo(json_lines(rows) if fmt == "json" else csv_text(rows, ORIGIN_KEYS), nl=fmt == "json")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table for people (with totals); json (one object per publisher per line) or csv for programs.")
@click.pass_context
def stats(ctx: click.Context, fmt: str) -> None:
    """Print counts per publisher: items, originals, copies made, copies suffered.

    \b
    Examples:
      tracker --config config/tracker.toml stats
      tracker stats --format csv > publishers.csv
    """
    from tracker.store.database import open_database

    sessions = open_database(_config(ctx).database.url)
    if fmt == "table":
        from tracker.queries import stats_report

        click.echo(stats_report(sessions))
        return
    from tracker.answers import STATS_KEYS, stats_rows
    from tracker.output import csv_text, json_lines

    rows = stats_rows(sessions)
    text = json_lines(rows) if fmt == "json" else csv_text(rows, STATS_KEYS)
    if text:
        click.echo(text, nl=fmt == "json")


def _logging(config: Config, verbose: int, fmt: str | None) -> None:
    from tracker.logs import configure

    level = "debug" if verbose > 1 else config.log.level
    configure(fmt or config.log.format, level)


@main.command()
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format (default: [log] format, else text).")
@click.pass_context
def run(ctx: click.Context, log_format: str | None) -> None:
    """Run the polling daemon until SIGTERM/SIGINT (SIGHUP re-reads the config).

    \b
    Example:
      tracker --config config/tracker.toml run --log-format json
    """
    from tracker.config import config_path
    from tracker.scheduler import Daemon

    config = _config(ctx)
    _logging(config, ctx.parent.params.get("verbose", 0) if ctx.parent else 0, log_format)
    sys.exit(Daemon(config, config_path(ctx.obj)).run())


@main.command()
@click.option("--all", "everything", is_flag=True, help="Poll every active feed, due or not.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format.")
@click.pass_context
def poll(ctx: click.Context, everything: bool, log_format: str | None) -> None:
    """Poll every due feed once (--all: every feed) and exit; for cron.

    \b
    Example:
      tracker --config config/tracker.toml poll --all
    """
    from tracker.scheduler import poll_once

    config = _config(ctx)
    _logging(config, ctx.parent.params.get("verbose", 0) if ctx.parent else 0, log_format)
    outcomes = poll_once(config, everything)
    failed = sum(1 for o in outcomes if o.error_kind)
    new = sum(o.report.new_items for o in outcomes)
    copies = sum(o.report.republications for o in outcomes)
    unchanged = sum(1 for o in outcomes if o.not_modified)
    click.echo(
        f"{_n(len(outcomes), 'feed')} polled ({unchanged} unchanged, {failed} failed), {_n(new, 'new item')}, "
        f"{_n(copies, 'republication')} found"
    )
    if outcomes and failed == len(outcomes):
        sys.exit(1)  # for cron: every feed failed


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Is the daemon alive, what is due, what is failing, what was found lately.

    \b
    Example:
      tracker --config config/tracker.toml status
    """
    from tracker.status import status_report

    click.echo(status_report(_config(ctx)))


@main.command()
@click.option("--seconds-per-step", type=float, default=8.0, show_default=True, help="Real seconds per step of the simulated network (14 steps).")
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path), help="Keep the demo's SQLite database at this path.")
def demo(seconds_per_step: float, database: Path | None) -> None:
    """Watch the tracker discover republications in a simulated network (offline, ~2 minutes).

    \b
    Example:
      tracker demo
    """
    from tracker.demo import run_demo

    found = run_demo(seconds_per_step, click.echo, database)
    sys.exit(0 if found else 1)


# -- feeds, query commands and export (issue 8) ----------------------------------------------------
_FORMATS = ("table", "json", "csv")


def _format_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True,
        help="table for people; json (one JSON object per line, keys as in the view) or csv for programs.",
    )(func)


def _emit(text: str, fmt: str) -> None:
    if not text:
        return
    click.echo(text, nl=fmt != "csv")  # CSV rows end in \r\n already


def _since(value: str | None, option: str = "--since") -> datetime | None:
    from tracker.answers import parse_when

    if value is None:
        return None
    try:
        return parse_when(value)
    except InputError as error:
        raise InputError(f"{option}: {error}") from None


def _sessions(ctx: click.Context) -> sessionmaker[Session]:
    from tracker.store.database import open_database

    return open_database(_config(ctx).database.url)


def _write(data: bytes, out: Path | None) -> None:
    """Bytes to a file (replaced whole, never left half-written) or to stdout."""
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    scratch = out.with_name(out.name + ".tmp")
    try:
        scratch.write_bytes(data)
        scratch.replace(out)
    except OSError as error:
        raise InputError(f"--out: cannot write {out} ({error.strerror})") from None


@main.group(invoke_without_command=True)
@_format_option
@click.pass_context
def feeds(ctx: click.Context, fmt: str) -> None:
    """List every feed: publisher, tags, state, last poll, next check, items.

    States: active; moved (a permanent redirect moved it); failing ×N and the last
    error's kind; gone (410 Gone, retired); inactive (no longer in the config); new
    (in the config, not yet polled or ingested).

    \b
    Examples:
      tracker --config config/tracker.toml feeds
      tracker feeds --format json | jq -r 'select(.state == "failing") | .url'
      tracker feeds export --out subscriptions.opml
    """
    if ctx.invoked_subcommand is not None:
        return
    from tracker.feeds import FEED_KEYS, FEED_TABLE, feed_list, table_rows
    from tracker.output import render

    config = _config(ctx)
    rows = feed_list(_sessions(ctx), config.feeds)
    rows = table_rows(rows) if fmt == "table" else rows
    _emit(render(rows, fmt, FEED_TABLE, FEED_KEYS, empty="no feeds (add [[feeds]] or [[opml]] to the config)"), fmt)


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
    from tracker.feeds import export_opml

    _write(export_opml(_sessions(ctx), _config(ctx).feeds, everything), out)


@main.command()
@click.option("--publisher", help="Only stories whose original is this publisher's.")
@click.option("--since", help="Only stories published since (ISO 8601, or 24h, 7d, …).")
@click.option("--until", help="Only stories published before (ISO 8601, or 24h, 7d, …).")
@click.option("--min-copies", type=click.IntRange(min=0), default=0, show_default=True, help="Only stories copied at least this often.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many stories (newest first).")
@_format_option
@click.pass_context
def stories(ctx: click.Context, publisher: str | None, since: str | None, until: str | None, min_copies: int,
            limit: int | None, fmt: str) -> None:
    """List stories (rows of the `stories` view), newest first.

    \b
    Examples:
      tracker stories --min-copies 2 --since 7d
      tracker stories --publisher "Khaama Press" --format csv > khaama.csv
    """
    from tracker.answers import STORY_TABLE, story_list
    from tracker.output import render
    from tracker.store.views import STORY_COLUMNS

    rows = story_list(_sessions(ctx), publisher=publisher, since=_since(since), until=_since(until, "--until"),
                      min_copies=min_copies, limit=limit)
    _emit(render(rows, fmt, STORY_TABLE, STORY_COLUMNS, empty="no stories"), fmt)


@main.command()
@click.argument("publisher")
@click.option("--since", help="Only copies published since (ISO 8601, or 24h, 7d, …).")
@_format_option
@click.pass_context
def copies(ctx: click.Context, publisher: str, since: str | None, fmt: str) -> None:
    """Who republishes PUBLISHER's stories: how many copies, how fast, how much.

    Copies at any depth count (a copy of a mirror of PUBLISHER too; "direct" are copied
    from PUBLISHER itself). Delays are from PUBLISHER's original to the copy: the median
    and the 90th percentile. Containment: the share of the copy found in its parent.

    \b
    Example:
      tracker copies "Khaama Press" --since 30d
    """
    from tracker.answers import COPIES_KEYS, COPIES_TABLE, copies_of
    from tracker.output import render

    rows = copies_of(_sessions(ctx), publisher, _since(since))
    _emit(render(rows, fmt, COPIES_TABLE, COPIES_KEYS, empty=f"nobody republishes {publisher}"), fmt)


@main.command()
@click.option("--since", help="Only copies published since (ISO 8601, or 24h, 7d, …).")
@_format_option
@click.pass_context
def publishers(ctx: click.Context, since: str | None, fmt: str) -> None:
    """Who copies whom: one row per (copier, source) pair, source being the publisher copied from.

    Copies; median delay after the source's item; the share of the copier's items that
    are copies from this source.

    \b
    Example:
      tracker publishers --since 7d
    """
    from tracker.answers import PAIR_KEYS, PAIR_TABLE, publisher_pairs
    from tracker.output import render

    rows = publisher_pairs(_sessions(ctx), _since(since))
    _emit(render(rows, fmt, PAIR_TABLE, PAIR_KEYS, empty="no republications"), fmt)


@main.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many items.")
@_format_option
@click.pass_context
def find(ctx: click.Context, words: tuple[str, ...], limit: int, fmt: str) -> None:
    """Items whose title contains every one of WORDS (any case), newest first.

    \b
    Example:
      tracker find torkham crossing
    """
    from tracker.answers import ITEM_TABLE, find_items
    from tracker.output import render
    from tracker.store.views import ITEM_COLUMNS

    rows = find_items(_sessions(ctx), " ".join(words), limit)
    _emit(render(rows, fmt, ITEM_TABLE, ITEM_COLUMNS, empty="no item has those words in its title"), fmt)


@main.command("export")
@click.option("--format", "fmt", type=click.Choice(["prov-json", "prov-n", "jsonl", "csv"]), default="prov-json",
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
    from tracker.export import export

    text = export(_sessions(ctx), fmt, _since(since))
    if text and not text.endswith("\n"):
        text += "\n"
    _write(text.encode("utf-8"), out)

"""The `tracker` command: a thin shell over the Python API.

Every command is documented with an example in its help. Errors the tracker expects
(`TrackerError`) become one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from tracker import __version__
from tracker.archive import parse_time
from tracker.config import Config, load_config
from tracker.errors import TrackerError


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
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = config_file


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
    when = parse_time(captured_at) if captured_at else None
    pipeline = Pipeline(open_database(config.database.url), config)
    pipeline.register_feeds()
    show = sys.stderr.isatty() if progress is None else progress
    report = ingest_paths(pipeline, list(paths), url, when, progress=show)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{report.captures} captures ({report.skipped_known} already stored), {report.new_items} new items, "
        f"{report.updates} updates, {report.republications} republications found, {report.errors} errors"
    )


@main.command()
@click.argument("url")
@click.pass_context
def origin(ctx: click.Context, url: str) -> None:
    """Print an article's original and its chain of republications.

    \b
    Example:
      tracker origin https://ru24.pro/39291-souness-eyes-summer-move-for-owen.html
    """
    from tracker.queries import origin_report
    from tracker.store.database import open_database

    click.echo(origin_report(open_database(_config(ctx).database.url), url))


@main.command()
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Print counts per publisher: items, originals, copies made, copies suffered.

    \b
    Example:
      tracker --config config/tracker.toml stats
    """
    from tracker.queries import stats_report
    from tracker.store.database import open_database

    click.echo(stats_report(open_database(_config(ctx).database.url)))

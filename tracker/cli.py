"""The `tracker` command: a thin shell over the Python API.

Every command is documented with an example in its help. Errors the tracker expects
(`TrackerError`) become one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracker import __version__
from tracker.archive import parse_time
from tracker.config import Config, load_config
from tracker.errors import InputError, TrackerError


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
@click.pass_context
def origin(ctx: click.Context, url: str) -> None:
    """Print an article's original and its chain of republications.

    \b
    Example:
      tracker origin https://ru24.pro/70678-pakistani-airstrikes-kill-civilians-in-eastern-afghanistan-a.html
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


def _logging(config: Config, verbose: int, fmt: str | None) -> None:
    from tracker.logs import configure

    level = "debug" if verbose > 1 else config.log.level
    configure(fmt or config.log.format, level)


@main.command()
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format (default: [log] format, else text).")
@click.pass_context
def run(ctx: click.Context, log_format: str | None) -> None:
    """Run the polling daemon until SIGTERM/SIGINT (SIGHUP re-reads the config).

    With [http] listen = "127.0.0.1:9180" it serves /healthz and /metrics (Prometheus);
    under systemd it reports readiness and feeds the watchdog (contrib/tracker.service).

    \b
    Examples:
      tracker --config config/tracker.toml run --log-format json
      curl http://127.0.0.1:9180/healthz
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

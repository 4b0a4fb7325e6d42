"""`tracker ingest`: WARC archives and plain feed files, in one process or --workers N."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracker.answers.output import counted

# PROGRESS_SECONDS is the package's (tracker.cli.PROGRESS_SECONDS, where tests set it): read at run time.
from tracker.cli import base as cli
from tracker.cli.base import WORKERS, config_of, found_text, global_args, main, require_postgresql
from tracker.config import Config
from tracker.errors import EXIT_FAILURES, EXIT_INTERNAL, EXIT_INTERRUPTED, IngestInterrupted, InputError, TrackerError
from tracker.reader.archive import parse_time
from tracker.terminal import echo

if TYPE_CHECKING:
    from tracker.model import IngestReport


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="For plain feed files: the URL of the feed they were captured from.")
@click.option("--captured-at", help="For plain feed files: when they were captured (ISO 8601; default: file time).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal; otherwise a progress line every few seconds).")
@click.option("--workers", type=WORKERS, default=1, show_default=True,
              help="PostgreSQL only: ingest in N processes, the captures split between them by feed URL.")
@click.option("--share", hidden=True, help="I/N: ingest only the feeds of share I of N (a process of --workers N).")
@click.option("--share-plan", hidden=True, type=click.Path(path_type=Path),
              help="JSON {feed URL: share}: which share ingests each feed (written by --workers N).")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], url: str | None, captured_at: str | None, progress: bool | None,
           workers: int, share: str | None, share_plan: Path | None) -> None:
    """Ingest WARC archives or plain feed files.

    Exits 1 when a capture or record could not be read (a file that is not a feed,
    a damaged archive), 130 on Ctrl-C: what was stored stays stored, and running the
    same command again resumes (stored captures are skipped).

    \b
    Examples:
      tracker --config config/tracker.toml ingest samples/demo-network.warc.gz
      tracker ingest --url https://www.khaama.com/feed/ --captured-at 2025-01-07T09:30:00Z khaama.xml
      tracker ingest --workers 2 archive/*.warc.gz     # PostgreSQL
    """
    from tracker.ingest.archives import Progress, check_paths, ingest_paths
    from tracker.ingest.shares import parse_share, report_json
    from tracker.pipeline.capture import Pipeline
    from tracker.store.database import open_database

    config = config_of(ctx)
    require_postgresql(config, workers)
    try:
        when = parse_time(captured_at) if captured_at else None
    except TrackerError as error:
        raise InputError(f"--captured-at: {error}") from None
    part = parse_share(share) if share else None
    check_paths(list(paths), url)  # before the database is opened (or created)
    if workers > 1 and part is None:
        return _ingest_in_processes(ctx, config, list(paths), url, when, captured_at, workers, progress)
    sessions = open_database(config.database.url)
    pipeline = Pipeline(sessions, config)
    pipeline.register_feeds()
    # One process of several shows progress lines, never a bar: N bars on one terminal would fight.
    show = False if part is not None else sys.stderr.isatty() if progress is None else progress
    who = f"ingest {part[0] + 1}/{part[1]}" if part is not None else "ingest"

    def log_progress(done: Progress) -> None:
        echo(f"{who}: {counted(done.captures, 'capture')} done, {counted(done.new_items, 'new item')}, "
             f"{counted(done.errors, 'error')}, {done.rate:.1f} captures/s", err=True)

    interrupted = False
    try:
        report = ingest_paths(pipeline, list(paths), url, when, progress=show,
                              on_progress=None if show or progress is False else log_progress,
                              progress_every=cli.PROGRESS_SECONDS, share=part,
                              plan=json.loads(share_plan.read_text()) if share_plan else None,
                              # The shares already keep the cores busy: each parses its own captures.
                              workers=0 if part is not None and part[1] > 1 else None)
    except IngestInterrupted as stop:
        report, interrupted = stop.report, True
    if part is not None:
        # One process of `--workers N`: its report is for the parent, which sums and prints.
        click.echo(report_json(report))
        sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILURES if report.errors or report.failed_records else 0)
    _ingest_summary(report, interrupted)


def _ingest_summary(report: IngestReport, interrupted: bool) -> None:
    """The ingest's closing lines, and its exit status."""
    for warning in report.warnings:
        echo(f"warning: {warning}", err=True)
    echo(
        f"{counted(report.captures, 'capture')} ({report.skipped_known} already stored), {counted(report.new_items, 'new item')}, "
        f"{counted(report.updates, 'update')}, {found_text(report.found)}, {counted(report.errors + report.failed_records, 'error')}"
    )
    if report.pages or report.pages_failed:
        # Items, not pages: one page may be the text of items of several publishers (a syndicated article).
        echo(f"{counted(report.pages, 'article page')}: {counted(report.pages_used, 'item')} took a page's text, "
             f"{report.pages_failed} unreadable or failed, {report.pages_unmatched} stored matching no item (yet)")
    if interrupted:
        echo("tracker: interrupted; everything above is stored. Run the same command again to resume "
             "(captures already stored are skipped).", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if report.errors or report.failed_records:
        sys.exit(EXIT_FAILURES)


def _ingest_in_processes(ctx: click.Context, config: Config, paths: list[Path], url: str | None, when: datetime | None,
                         captured_at: str | None, workers: int, progress: bool | None) -> None:
    """`ingest --workers N`: N processes, each a share of the feeds; one summary for them all."""
    from tracker.ingest.archives import plan_shares
    from tracker.ingest.shares import ingest_in_processes
    from tracker.store.database import open_database

    open_database(config.database.url)  # migrated here, once, before the workers start
    args = (["--url", url] if url else []) + (["--captured-at", captured_at] if captured_at else [])
    args += ["--no-progress"] if progress is False else []
    with tempfile.TemporaryDirectory(prefix="tracker-ingest-") as scratch:
        plan = Path(scratch) / "plan.json"
        plan.write_text(json.dumps(plan_shares(paths, url, when, workers)))
        done = ingest_in_processes(global_args(ctx), [*args, "--share-plan", str(plan)], paths, workers)
    # A share killed by a signal (kill -9, the OOM killer) says nothing itself and has a
    # negative status, which no exit status can carry: it is named here, and the run failed.
    killed = [(i, -code) for i, code in enumerate(done.exit_codes) if code < 0]
    # A process that printed no report did not do its share, whatever its status (a traceback exits 1).
    lost = [i for i, reported in enumerate(done.reported) if not reported and done.exit_codes[i] >= 0]
    failed = [code for code in done.exit_codes if code > 0 and code not in (EXIT_FAILURES, EXIT_INTERRUPTED)]
    failed += [EXIT_INTERNAL for i in lost if done.exit_codes[i] in (0, EXIT_FAILURES, EXIT_INTERRUPTED)]
    for i, signum in killed:
        echo(f"tracker: ingest process {i + 1}/{workers} was killed ({_signal_name(signum)}) before it finished; what it "
             "stored stays stored. Run the same command again to resume.", err=True)
    _ingest_summary(done.report, done.interrupted and not failed and not killed)
    if failed:
        for i in lost:
            echo(f"tracker: error: ingest process {i + 1}/{workers} stopped without storing its share "
                 f"(exit {done.exit_codes[i]}; its error is above)", err=True)
        sys.exit(max(failed))  # a worker could not run at all (it said why on stderr)
    if killed:
        sys.exit(EXIT_FAILURES)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"

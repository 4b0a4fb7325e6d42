"""The `tracker` command: a thin shell over the Python API.

Every command is documented with an example in its help. Errors the tracker expects
(`TrackerError`) and operational failures (database gone, disk full) become one line
on stderr and a documented exit status (`tracker.errors`); -vv adds the traceback.
Everything printed goes through `tracker.terminal`, which escapes control characters
that feed data may carry.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracker import __version__
from tracker.archive import parse_time
from tracker.config import Config, load_config
from tracker.errors import EXIT_FAILURES, EXIT_INTERNAL, EXIT_INTERRUPTED, IngestInterrupted, InputError, TrackerError
from tracker.output import counted
from tracker.terminal import echo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from tracker.model import IngestReport

# Seconds between progress lines of a long ingest when no terminal shows a progress bar.
PROGRESS_SECONDS = 5.0
_VERBOSE = "tracker.verbose"
_LEVELS = ("warning", "info", "debug")


def _verbosity(ctx: click.Context) -> int:
    return int(ctx.meta.get(_VERBOSE, 0))


def _fail(ctx: click.Context, message: str, code: int) -> None:
    if _verbosity(ctx) >= 2:
        echo(traceback.format_exc().rstrip(), err=True)
    echo(f"tracker: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """The `tracker` group: global options accepted after the command name too, one-line errors."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        # Every command, however it is added, takes --config and -v after its name as well.
        cmd.params.extend(_global_options())
        super().add_command(cmd, name)

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Usage errors in one line too, like every other error (click prints three)."""
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            result = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.UsageError as error:
            where = f"tracker {error.ctx.command_path.partition(' ')[2]}".strip() if error.ctx else "tracker"
            echo(f"tracker: error: {error.format_message()} (see `{where} --help`)", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            echo(f"tracker: error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.exceptions.Abort:
            echo("tracker: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        from tracker.store.database import as_store_error

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", EXIT_INTERRUPTED)
        except TrackerError as error:
            _fail(ctx, f"error: {error}", error.exit_code)
        except BrokenPipeError:
            # The reader went away (`tracker stats | head`): nothing to say, and no second error at exit.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_FAILURES)
        except Exception as error:
            store = as_store_error(error)
            if store is not None:
                _fail(ctx, f"error: {store}", store.exit_code)
            _fail(ctx, f"internal error: {type(error).__name__}: {error} (run with -vv for the traceback)", EXIT_INTERNAL)


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.obj = value
        ctx.find_root().obj = value


def _add_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    from tracker.logs import configure

    total = _verbosity(ctx) + (value or 0)
    ctx.meta[_VERBOSE] = total
    if value or ctx.parent is None:
        configure("text", _LEVELS[min(total, 2)])


def _global_options() -> list[click.Option]:
    return [
        click.Option(["--config", "config_file"], type=click.Path(dir_okay=False), expose_value=False,
                     callback=_set_config, help="Config file (TOML); may also come before the command name."),
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_add_verbose,
                     help="More log output (-vv for debug and tracebacks)."),
    ]


@click.group(cls=_Group)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="TRACKER_CONFIG", expose_value=False,
              callback=_set_config, is_eager=True, help="Config file (TOML). Default: $TRACKER_CONFIG, else ./tracker.toml.")
@click.option("-v", "--verbose", count=True, expose_value=False, callback=_add_verbose, help="More log output (-vv for debug).")
@click.version_option(__version__)
def main() -> None:
    """Who published this first, and who copied it from whom?

    tracker reads feed captures, finds republished copies across feeds and records
    the original of every story and the chain of republications in SQL.

    \b
    Options --config and -v go before or after the command name:
      tracker --config config/tracker.toml stats
      tracker stats --config config/tracker.toml

    \b
    Exit status: 0 done; 1 some captures, records or feeds failed (or status: unhealthy);
    2 bad usage, input or config; 3 database or disk unavailable; 70 internal error;
    130 interrupted.
    """


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.obj)


def _global_args(ctx: click.Context) -> list[str]:
    """The global options of this command line, for the processes it starts (`--workers N`)."""
    args = ["--config", str(Path(ctx.obj).absolute())] if ctx.obj else []
    return args + ["-v"] * _verbosity(ctx)


def _require_postgresql(config: Config, workers: int) -> None:
    """`--workers N` (N > 1) needs PostgreSQL: SQLite has one writer and one daemon."""
    from tracker.store.database import is_postgresql

    if workers > 1 and not is_postgresql(config.database.url):
        raise click.UsageError("--workers above 1 needs a PostgreSQL database (SQLite runs one daemon and one writer)")


def _found(count: int) -> str:
    """The change in the `republications` view, in words."""
    if count < 0:
        return f"{counted(-count, 'republication')} withdrawn"
    return f"{counted(count, 'republication')} found"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="For plain feed files: the URL of the feed they were captured from.")
@click.option("--captured-at", help="For plain feed files: when they were captured (ISO 8601; default: file time).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: on a terminal; otherwise a progress line every few seconds).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
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
    from tracker.ingest import Progress, check_paths, ingest_paths
    from tracker.pipeline import Pipeline
    from tracker.store.counts import republication_count
    from tracker.store.database import open_database
    from tracker.workers import parse_share, report_json

    config = _config(ctx)
    _require_postgresql(config, workers)
    try:
        when = parse_time(captured_at) if captured_at else None
    except TrackerError as error:
        raise InputError(f"--captured-at: {error}") from None
    part = parse_share(share) if share else None
    if workers > 1 and part is None:
        check_paths(list(paths), url)
        return _ingest_in_processes(ctx, config, list(paths), url, when, captured_at, workers)
    sessions = open_database(config.database.url)
    before = republication_count(sessions)
    pipeline = Pipeline(sessions, config)
    pipeline.register_feeds()
    show = sys.stderr.isatty() if progress is None else progress

    def log_progress(done: Progress) -> None:
        echo(f"ingest: {counted(done.captures, 'capture')} done, {counted(done.new_items, 'new item')}, "
             f"{counted(done.errors, 'error')}, {done.rate:.1f} captures/s", err=True)

    interrupted = False
    try:
        report = ingest_paths(pipeline, list(paths), url, when, progress=show,
                              on_progress=None if show or progress is False else log_progress,
                              progress_every=PROGRESS_SECONDS, share=part,
                              plan=json.loads(share_plan.read_text()) if share_plan else None,
                              # The shares already keep the cores busy: each parses its own captures.
                              workers=0 if part is not None and part[1] > 1 else None)
    except IngestInterrupted as stop:
        report, interrupted = stop.report, True
    if part is not None:
        # One process of `--workers N`: its report is for the parent, which sums and prints.
        click.echo(report_json(report))
        sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_FAILURES if report.errors or report.failed_records else 0)
    _ingest_summary(report, republication_count(sessions) - before, interrupted)


def _ingest_summary(report: IngestReport, found: int, interrupted: bool) -> None:
    """The ingest's closing lines, and its exit status."""
    for warning in report.warnings:
        echo(f"warning: {warning}", err=True)
    echo(
        f"{counted(report.captures, 'capture')} ({report.skipped_known} already stored), {counted(report.new_items, 'new item')}, "
        f"{counted(report.updates, 'update')}, {_found(found)}, {counted(report.errors + report.failed_records, 'error')}"
    )
    if interrupted:
        echo("tracker: interrupted; everything above is stored. Run the same command again to resume "
             "(captures already stored are skipped).", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if report.errors or report.failed_records:
        sys.exit(EXIT_FAILURES)


def _ingest_in_processes(ctx: click.Context, config: Config, paths: list[Path], url: str | None, when: datetime | None,
                         captured_at: str | None, workers: int) -> None:
    """`ingest --workers N`: N processes, each a share of the feeds; one summary for them all."""
    from tracker.ingest import plan_shares
    from tracker.store.counts import republication_count
    from tracker.store.database import open_database
    from tracker.workers import ingest_in_processes

    sessions = open_database(config.database.url)  # migrated here, once, before the workers start
    before = republication_count(sessions)
    args = (["--url", url] if url else []) + (["--captured-at", captured_at] if captured_at else [])
    with tempfile.TemporaryDirectory(prefix="tracker-ingest-") as scratch:
        plan = Path(scratch) / "plan.json"
        plan.write_text(json.dumps(plan_shares(paths, url, when, workers)))
        done = ingest_in_processes(_global_args(ctx), [*args, "--share-plan", str(plan)], paths, workers)
    # A share killed by a signal (kill -9, the OOM killer) says nothing itself and has a
    # negative status, which no exit status can carry: it is named here, and the run failed.
    killed = [(share, -code) for share, code in enumerate(done.exit_codes, 1) if code < 0]
    failed = [code for code in done.exit_codes if code > 0 and code not in (EXIT_FAILURES, EXIT_INTERRUPTED)]
    for share, signum in killed:
        echo(f"tracker: ingest process {share} of {workers} was killed ({_signal_name(signum)}) before it finished; what it "
             "stored stays stored. Run the same command again to resume.", err=True)
    _ingest_summary(done.report, republication_count(sessions) - before, done.interrupted and not failed and not killed)
    if failed:
        sys.exit(max(failed))  # a worker could not run at all (it said why on stderr)
    if killed:
        sys.exit(EXIT_FAILURES)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@main.command()
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table: the tree for people; json/csv: every item of the story (item_provenance rows with evidence, "
                   "plus depth, in_chain, queried), depth first.")
@click.pass_context
def origin(ctx: click.Context, url: str, fmt: str) -> None:
    """Print an article's original, its chain back to it, and the whole story tree.

    Read-only: a database that does not exist yet is an error, never created.

    \b
    Examples:
      tracker --config samples/tracker.toml origin https://mirror-of-mirrors.example/p/7100/
      tracker origin --format json https://mirror-of-mirrors.example/p/7100/ | jq 'select(.in_chain)'
    """
    from tracker.store.database import open_database

    sessions = open_database(_config(ctx).database.url, create=False)
    if fmt == "table":
        from tracker.queries import origin_report

        echo(origin_report(sessions, url))
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
    """Print counts per publisher: items, originals, copies made, copied by others.

    Read-only: a database that does not exist yet is an error, never created.

    \b
    Examples:
      tracker --config config/tracker.toml stats
      tracker stats --format csv > publishers.csv
    """
    from tracker.store.database import open_database

    sessions = open_database(_config(ctx).database.url, create=False)
    if fmt == "table":
        from tracker.queries import stats_report

        echo(stats_report(sessions))
        return
    from tracker.answers import STATS_KEYS, stats_rows
    from tracker.output import csv_text, json_lines

    rows = stats_rows(sessions)
    text = json_lines(rows) if fmt == "json" else csv_text(rows, STATS_KEYS)
    if text:
        click.echo(text, nl=fmt == "json")


def _logging(ctx: click.Context, config: Config, fmt: str | None) -> None:
    from tracker.logs import configure

    verbose = _verbosity(ctx)
    level = "debug" if verbose > 1 else ("info" if verbose == 1 and config.log.level != "debug" else config.log.level)
    configure(fmt or config.log.format, level)


@main.command()
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format (default: [log] format, else text).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="PostgreSQL only: run N worker processes and supervise them (restarted if they die).")
@click.option("--worker-slot", type=click.IntRange(min=0), hidden=True, help="This process is worker I of a supervisor.")
@click.pass_context
def run(ctx: click.Context, log_format: str | None, workers: int, worker_slot: int | None) -> None:
    """Run the polling daemon until SIGTERM/SIGINT (SIGHUP re-reads the config).

    With [http] listen = "127.0.0.1:9180" it serves /healthz and /metrics (Prometheus);
    under systemd it reports readiness and feeds the watchdog (contrib/tracker.service).

    On PostgreSQL any number of daemons, on any machines, share the feeds (each claims
    due feeds by lease); --workers N starts N of them here, and SIGTERM stops them all.
    On SQLite a second daemon is refused.

    \b
    Examples:
      tracker --config config/tracker.toml run --log-format json
      tracker --config config/tracker.toml run --workers 4      # PostgreSQL
      curl http://127.0.0.1:9180/healthz
    """
    from tracker.config import config_path
    from tracker.scheduler import Daemon

    config = _config(ctx)
    _require_postgresql(config, workers)
    _logging(ctx, config, log_format)
    if workers > 1:
        from tracker.workers import Supervisor, tracker_command

        extra = ["--log-format", log_format] if log_format else []
        command = lambda slot: tracker_command(_global_args(ctx), "run", "--worker-slot", str(slot), *extra)  # noqa: E731
        sys.exit(Supervisor(workers, command).run())
    daemon = Daemon(config, config_path(ctx.obj), http_port_offset=worker_slot or 0)
    if worker_slot is not None:
        import os
        import signal

        from tracker.workers import watch_supervisor

        watch_supervisor(lambda: os.kill(os.getpid(), signal.SIGTERM))
    sys.exit(daemon.run())


@main.command()
@click.option("--all", "everything", is_flag=True, help="Poll every active feed, due or not.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format.")
@click.pass_context
def poll(ctx: click.Context, everything: bool, log_format: str | None) -> None:
    """Poll every due feed once (--all: every feed) and exit; for cron. Exits 1 when every poll failed.

    \b
    Example:
      tracker --config config/tracker.toml poll --all
    """
    from tracker.scheduler import poll_once
    from tracker.store.counts import republication_count
    from tracker.store.database import open_database

    config = _config(ctx)
    _logging(ctx, config, log_format)
    sessions = open_database(config.database.url)
    before = republication_count(sessions)
    outcomes = poll_once(config, everything)
    failed = sum(1 for o in outcomes if o.error_kind)
    new = sum(o.report.new_items for o in outcomes)
    unchanged = sum(1 for o in outcomes if o.not_modified)
    echo(
        f"{counted(len(outcomes), 'feed')} polled ({unchanged} unchanged, {failed} failed), {counted(new, 'new item')}, "
        f"{_found(republication_count(sessions) - before)}"
    )
    _deliver(config)
    if outcomes and failed == len(outcomes):
        sys.exit(EXIT_FAILURES)  # for cron: nothing could be polled at all; `status` judges partial failure


@main.command()
@click.option("--max-failing", type=click.FloatRange(0.0, 1.0), metavar="SHARE",
              help="Unhealthy when more than this share of active feeds fail (default: [status] max_failing_share, 0.5).")
@click.option("--ignore-daemon", is_flag=True, help="Do not require a live daemon (feeds polled by `tracker poll` from cron).")
@click.pass_context
def status(ctx: click.Context, max_failing: float | None, ignore_daemon: bool) -> None:
    """Is the daemon alive, what is due, what is failing, what was found lately.

    Exits 0 when healthy, 1 when the daemon is not alive or more than the allowed
    share of active feeds fail, 3 when the database cannot be opened: usable as a
    health check. Read-only: a missing database is an error, never created.

    \b
    Examples:
      tracker --config config/tracker.toml status
      tracker status --config /etc/tracker.toml --max-failing 0.2 || alert "tracker unhealthy"
    """
    from tracker.status import status_report

    config = _config(ctx)
    share = config.status.max_failing_share if max_failing is None else max_failing
    report = status_report(config, share, require_daemon=not ignore_daemon)
    echo(report.text)
    if not report.healthy:
        echo(f"tracker: unhealthy: {'; '.join(report.problems)}", err=True)
        sys.exit(EXIT_FAILURES)


@main.command()
@click.option("--seconds-per-step", type=click.FloatRange(min=2.0), default=8.0, show_default=True,
              help="Real seconds per step of the simulated network (14 steps); at least 2, the demo's polling interval.")
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path), help="Keep the demo's SQLite database at this path.")
@click.option("--write-sample", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Instead of running the demo, write its whole run as a WARC archive for `tracker ingest`.")
def demo(seconds_per_step: float, database: Path | None, write_sample: Path | None) -> None:
    """Watch the tracker discover republications in a simulated network (offline, ~2 minutes).

    \b
    Examples:
      tracker demo
      tracker demo --write-sample demo-network.warc.gz && tracker ingest demo-network.warc.gz
    """
    if write_sample is not None:
        from tracker.sample import write_sample_archive

        summary = write_sample_archive(write_sample)
        echo(f"wrote {write_sample}: {counted(summary.responses + summary.revisits, 'capture')} of {counted(summary.feeds, 'feed')} "
             f"({summary.responses} responses, {summary.revisits} revisits)")
        return
    from tracker.demo import run_demo

    found = run_demo(seconds_per_step, echo, database)
    sys.exit(0 if found else EXIT_FAILURES)


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

    # Every command of this section only reads: it never creates a database.
    return open_database(_config(ctx).database.url, create=False)


def _sessions_if_any(ctx: click.Context) -> sessionmaker[Session] | None:
    """The database, or None when there is none yet (a config's feeds can be listed without one)."""
    from tracker.errors import MissingDatabaseError

    try:
        return _sessions(ctx)
    except MissingDatabaseError:
        return None


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


class _SubGroup(click.Group):
    """A group under `tracker` whose own commands take --config and -v after their names too."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.extend(_global_options())
        super().add_command(cmd, name)


@main.group(cls=_SubGroup, invoke_without_command=True)
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
    rows = feed_list(_sessions_if_any(ctx), config.feeds)
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

    _write(export_opml(_sessions_if_any(ctx), _config(ctx).feeds, everything), out)


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


def _deliver(config: Config) -> None:
    """Send the due alert messages and say what happened (nothing when no alert is configured)."""
    from tracker.deliver import deliver_once

    if not config.alerts:
        return
    report = deliver_once(config)
    click.echo(f"alerts: {report.delivered} delivered, {report.retrying} to retry, {report.failed} given up")
    for error in report.errors:
        echo(f"warning: alert: {error}", err=True)


@main.command()
@click.option("--deliver", is_flag=True, help="First send every due message (as `tracker poll` does).")
@click.option("--retry", "retry_failed", is_flag=True, help="Queue the messages that failed for good again, due now.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Undelivered messages listed.")
@click.pass_context
def alerts(ctx: click.Context, deliver: bool, retry_failed: bool, limit: int) -> None:
    """Show alert deliveries: counts per alert, then pending and failed messages.

    \b
    Examples:
      tracker --config config/tracker.toml alerts
      tracker --config config/tracker.toml alerts --retry --deliver
    """
    from tracker.alerts import alerts_report
    from tracker.model import utcnow
    from tracker.store import outbox
    from tracker.store.database import open_database

    config = _config(ctx)
    sessions = open_database(config.database.url, create=False)
    if retry_failed:
        with sessions.begin() as session:
            click.echo(f"{counted(outbox.requeue_failed(session, utcnow()), 'failed message')} queued again")
    if deliver:
        _deliver(config)
    echo(alerts_report(sessions, config, limit))


_GRAPH_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".mmd": "mermaid", ".mermaid": "mermaid"}


@main.command()
@click.argument("url")
@click.option("--format", "fmt", type=click.Choice(["dot", "svg", "png", "mermaid"]),
              help="Picture format (default: from --out's suffix, else dot).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default: standard output).")
@click.pass_context
def graph(ctx: click.Context, url: str, fmt: str | None, out: Path | None) -> None:
    """Draw the story of an article: who copied whom, how closely, how fast.

    Publishers are nodes, the original framed; each copy points at its parent, labelled
    with relation, similarity (or containment for excerpts) and delay; a dashed red frame
    marks a claimed date the captures disprove. SVG and PNG need Graphviz's dot; without
    it the DOT text is written instead, with a warning.

    \b
    Examples:
      tracker graph https://ru24.pro/70678-….html --out chain.svg
      tracker graph https://ru24.pro/70678-….html --format png --out chain.png
      tracker graph https://ru24.pro/70678-….html --format mermaid
    """
    from tracker.graph import story_picture
    from tracker.store.database import open_database

    if fmt is None and out is not None and out.suffix.lower() not in _GRAPH_SUFFIXES:
        raise InputError(f"--out {out.name}: say --format, or use one of {', '.join(sorted(_GRAPH_SUFFIXES))}")
    fmt = fmt or (_GRAPH_SUFFIXES[out.suffix.lower()] if out else "dot")
    if fmt == "png" and out is None and sys.stdout.isatty():
        raise InputError("PNG is binary: give --out FILE or redirect standard output")
    picture, warning = story_picture(open_database(_config(ctx).database.url, create=False), url, fmt)
    if warning:
        echo(f"tracker: warning: {warning}", err=True)
    if out is None:
        click.echo(picture.data, nl=False)  # bytes go to the binary stream as they are
        return
    if picture.format != fmt:
        out = out.with_suffix(".dot")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(picture.data)
    click.echo(f"wrote {out} ({picture.format})", err=True)


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
    from tracker.report import parse_since, write_report
    from tracker.store.database import open_database

    when = parse_since(since) if since else None
    result = write_report(open_database(_config(ctx).database.url, create=False), out, when, top)
    for warning in result.warnings:
        echo(f"tracker: warning: {warning}", err=True)
    stories = "1 story" if result.stories == 1 else f"{result.stories} stories"
    click.echo(f"wrote {result.path}: {stories} drawn, {counted(result.publishers, 'publisher')}")

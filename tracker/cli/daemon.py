"""The daemon and its checks: `tracker run`, `poll`, `status`, `alerts` and `upgrade`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from tracker.answers.output import counted
from tracker.cli.base import (
    LIMIT,
    WORKERS,
    config_of,
    found_text,
    global_args,
    main,
    require_postgresql,
    verbosity,
)
from tracker.config import Config
from tracker.errors import EXIT_FAILURES
from tracker.terminal import echo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from tracker.daemon.pagefetch import PageOutcome


def _logging(ctx: click.Context, config: Config, fmt: str | None) -> None:
    from tracker.logs import configure

    verbose = verbosity(ctx)
    level = "debug" if verbose > 1 else ("info" if verbose == 1 and config.log.level != "debug" else config.log.level)
    configure(fmt or config.log.format, level)


@main.command()
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format (default: [log] format, else text).")
@click.option("--workers", type=WORKERS, default=1, show_default=True,
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
    from tracker.daemon.scheduler import Daemon

    config = config_of(ctx)
    require_postgresql(config, workers)
    _logging(ctx, config, log_format)
    if workers > 1:
        from tracker.children import tracker_command
        from tracker.daemon.supervisor import Supervisor

        extra = ["--log-format", log_format] if log_format else []
        command = lambda slot: tracker_command(global_args(ctx), "run", "--worker-slot", str(slot), *extra)  # noqa: E731
        sys.exit(Supervisor(workers, command).run())
    daemon = Daemon(config, config_path(ctx.obj), http_port_offset=worker_slot or 0)
    if worker_slot is not None:
        import os
        import signal

        from tracker.daemon.supervisor import watch_supervisor

        watch_supervisor(lambda: os.kill(os.getpid(), signal.SIGTERM))
    sys.exit(daemon.run())


@main.command()
@click.option("--all", "everything", is_flag=True, help="Poll every active feed, due or not.")
@click.option("--pages-seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Then fetch the article pages new items want (summary-only feeds) for up to this long; 0: none.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format.")
@click.pass_context
def poll(ctx: click.Context, everything: bool, pages_seconds: float, log_format: str | None) -> None:
    """Poll every due feed once (--all: every feed), fetch the article pages its new items
    want, and exit; for cron. Exits 1 when every poll failed.

    \b
    Example:
      tracker --config config/tracker.toml poll --all
    """
    from tracker.daemon.poll_once import poll_once
    from tracker.store.database import open_database

    config = config_of(ctx)
    _logging(ctx, config, log_format)
    # Opened (and logged) once for the polls, the pages and the alerts.
    sessions = open_database(config.database.url)
    pages: list[PageOutcome] = []
    outcomes = poll_once(config, everything, sessions, pages_seconds, pages.append)
    failed = sum(1 for o in outcomes if o.error_kind)
    new = sum(o.report.new_items for o in outcomes)
    unchanged = sum(1 for o in outcomes if o.not_modified)
    found = sum(o.report.found for o in outcomes) + sum(p.report.found for p in pages if p.report)
    used = sum(p.report.pages_used for p in pages if p.report)
    fetched = f", {counted(len(pages), 'page')} fetched ({used} used as item text)" if pages else ""
    echo(f"{counted(len(outcomes), 'feed')} polled ({unchanged} unchanged, {failed} failed), {counted(new, 'new item')}"
         f"{fetched}, {found_text(found)}")
    _deliver(config, sessions)
    if outcomes and failed == len(outcomes):
        sys.exit(EXIT_FAILURES)  # for cron: nothing could be polled at all; `status` judges partial failure


@main.command()
@click.option("--max-failing", type=click.FloatRange(0.0, 1.0), metavar="SHARE",
              help="Unhealthy when more than this share of polled feeds fail (default: [status] max_failing_share, 0.5).")
@click.option("--ignore-daemon", is_flag=True, help="Do not require a live daemon (feeds polled by `tracker poll` from cron).")
@click.pass_context
def status(ctx: click.Context, max_failing: float | None, ignore_daemon: bool) -> None:
    """Is the daemon alive, what is due, what is failing, what was found lately.

    Exits 0 when healthy, 1 when the daemon is not alive or more than the allowed
    share of polled feeds fail, 3 when the database cannot be opened: usable as a
    health check. Read-only: a missing database is an error, never created.

    \b
    Examples:
      tracker --config config/tracker.toml status
      tracker status --config /etc/tracker.toml --max-failing 0.2 || alert "tracker unhealthy"
    """
    from tracker.answers.status import status_report

    config = config_of(ctx)
    share = config.status.max_failing_share if max_failing is None else max_failing
    report = status_report(config, share, require_daemon=not ignore_daemon)
    echo(report.text)
    if not report.healthy:
        echo(f"tracker: unhealthy: {'; '.join(report.problems)}", err=True)
        sys.exit(EXIT_FAILURES)


def _deliver(config: Config, sessions: sessionmaker[Session] | None = None) -> None:
    """Send the due alert messages and say what happened (nothing when no alert is configured)."""
    from tracker.daemon.deliver import deliver_once

    if not config.alerts:
        return
    report = deliver_once(config, sessions=sessions)
    click.echo(f"alerts: {report.delivered} delivered, {report.retrying} to retry, {report.failed} given up")
    for error in report.errors:
        echo(f"warning: alert: {error}", err=True)


@main.command()
@click.option("--deliver", is_flag=True, help="First send every due message (as `tracker poll` does).")
@click.option("--retry", "retry_failed", is_flag=True, help="Queue the messages that failed for good again, due now.")
@click.option("--limit", type=LIMIT, default=50, show_default=True, help="Undelivered messages listed.")
@click.pass_context
def alerts(ctx: click.Context, deliver: bool, retry_failed: bool, limit: int) -> None:
    """Show alert deliveries: counts per alert, then pending and failed messages.

    \b
    Examples:
      tracker --config config/tracker.toml alerts
      tracker --config config/tracker.toml alerts --retry --deliver
    """
    from tracker.answers.alerts import alerts_report
    from tracker.model import utcnow
    from tracker.store import outbox
    from tracker.store.database import open_database, open_reader

    config = config_of(ctx)
    # Only --retry writes here (--deliver opens the database itself): listing never waits for a writer.
    sessions = open_database(config.database.url, create=False) if retry_failed else open_reader(config.database.url)
    if retry_failed:
        with sessions.begin() as session:
            click.echo(f"{counted(outbox.requeue_failed(session, utcnow()), 'failed message')} queued again")
    if deliver:
        _deliver(config)
    echo(alerts_report(sessions, config, limit))


@main.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Upgrade the database schema to this tracker's (creating it if missing), then exit.

    Commands that write (ingest, poll, run) upgrade the schema when they open the
    database; read-only ones (status, stats, origin, …) never do, so that they never wait
    for a writer's lock: after installing a new version, run this (or a writer) first.

    \b
    Example:
      tracker --config config/tracker.toml upgrade
    """
    from tracker.errors import MissingDatabaseError, SchemaOutdatedError
    from tracker.store.database import (
        describe,
        head_revision,
        open_database,
        open_reader,
    )

    url = config_of(ctx).database.url
    try:
        open_reader(url).kw["bind"].dispose()  # at the schema already: nothing to write (a file it may only read)
    except (MissingDatabaseError, SchemaOutdatedError):
        open_database(url)
    echo(f"database {describe(url)}: schema at revision {head_revision()}")

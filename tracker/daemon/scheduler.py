"""The polling daemon: an APScheduler dispatch job feeding a bounded pool of fetch workers.

The database says what is due (each feed row has its next check time). Every
`dispatch_seconds` one job beats this worker's heartbeat, claims due feeds by lease and
hands them to the fetch threads, never more than `per_host` at once to one host (counting
every worker's leases). Each thread fetches, then stores through the pipeline under its
lock, one poll at a time.

Scale-out: on PostgreSQL any number of these daemons (on one machine or many, or started
together by `tracker run --workers N`, tracker.daemon.supervisor) share one database. Each is a
worker with an id of its own (`host:pid:random`): its heartbeat row bears it, and so do
the leases it holds on feeds (tracker.store.leases), so a feed is polled by one worker
at a time and a dead worker's feeds pass to the others when its leases expire. On SQLite
a second daemon is refused (tracker.store.daemon_lock).

Service behaviour (the rq worker model): the first SIGTERM/SIGINT stops dispatching,
lets polls in flight finish and commit, and exits 0 (130 after SIGINT, Ctrl-C, as every
command does); a second exits at once. SIGHUP
re-reads the config (new feeds start, removed ones stop; an invalid file is refused and
the old config kept). Losing the database does not kill the daemon: it logs, retries on
the next tick, and opens the pipeline again once the database is back.

Operations: `[http] listen` serves /healthz and /metrics (tracker.daemon.opsserver); under
systemd (NOTIFY_SOCKET) it says READY=1 once polling, RELOADING=1 on SIGHUP, STOPPING=1
on shutdown, and feeds the watchdog while the dispatch loop ticks (tracker.daemon.systemd).

Beside this module, which holds the daemon's life cycle: the dispatch job (tracker.daemon.dispatch),
the config reload on SIGHUP (tracker.daemon.reload), the heartbeat, housekeeping and busy spells (tracker.daemon.bookkeeping),
liveness and the HTTP server (tracker.daemon.liveness), and `tracker poll` (tracker.daemon.poll_once).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.addresses import AddressGuard
from tracker.config import Config
from tracker.daemon.bookkeeping import BookkeepingMixin, log_db_error, worker_id
from tracker.daemon.deliver import DeliveryThread
from tracker.daemon.dispatch import DISPATCH, DispatchMixin
from tracker.daemon.liveness import OperationsMixin
from tracker.daemon.pagefetch import PageFetcher, PageOutcome
from tracker.daemon.pagework import DaemonPages
from tracker.daemon.poll import Poller, PollOutcome
from tracker.daemon.reload import ReloadMixin
from tracker.daemon.systemd import Notifier, Watchdog, watchdog_interval
from tracker.errors import EXIT_INTERRUPTED, StoreError
from tracker.logs import fields
from tracker.model import utcnow
from tracker.store.daemon_lock import DaemonLock

if TYPE_CHECKING:
    from tracker.daemon.opsserver import OpsServer

log = logging.getLogger(__name__)
EXIT_AT_ONCE = 130
# Page fetches in flight at shutdown get this long; one cut short is not recorded (still wanted).
PAGES_STOP_SECONDS = 5.0


class Daemon(DispatchMixin, ReloadMixin, BookkeepingMixin, OperationsMixin):
    """`tracker run`: polls the configured feeds until told to stop."""

    def __init__(
        self, config: Config, config_path: Path | None = None, on_poll: Callable[[PollOutcome], None] | None = None,
        http_port_offset: int = 0, page_guard: AddressGuard | None = None,
    ) -> None:
        """`page_guard`: which addresses article pages may be fetched from (default: `[polling]`'s policy)."""
        self.config = config
        self._page_guard = page_guard
        self._pages: PageFetcher | None = None
        self._page_store: DaemonPages | None = None
        self.on_page: Callable[[PageOutcome], None] | None = None
        self.worker_id = worker_id()
        self._http_port_offset = http_port_offset
        self._tidied_at: float | None = None
        self.config_path = config_path
        self.on_poll = on_poll
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self._signals = 0
        self._sessions: sessionmaker[Session] | None = None
        self._bookkeeping: sessionmaker[Session] | None = None  # the tick's writes: see dispatch.TICK_BUSY_SECONDS
        self._busy_since: float | None = None  # when the tick first found the database taken by another writer
        self._poller: Poller | None = None
        self._stale = True
        self._reconfigure = False
        self._in_flight: set[int] = set()
        self._state_lock = threading.Lock()
        self._workers = ThreadPoolExecutor(config.polling.fetch_threads, thread_name_prefix="poll")
        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        self._started_at = utcnow()
        self._lock = DaemonLock(config.database.url)
        self.exit_code = 0
        self._interrupted = False  # stopped by SIGINT (Ctrl-C): a clean stop still exits 130
        self._delivery = DeliveryThread(config)
        self._polling = threading.Event()  # set once the pipeline is open and feeds are dispatched
        self._tick_started: float | None = None
        self._tick_ended: float | None = None
        self._systemd = Notifier.from_environment()
        self._ops: OpsServer | None = None

    # -- life cycle -----------------------------------------------------------------------
    def run(self) -> int:
        """Run in the foreground until a signal stops it; return the exit status.

        Raises AlreadyRunningError when another daemon runs on the same database.
        """
        try:
            self._lock.acquire()
        except (SQLAlchemyError, StoreError) as error:
            # The database is down: the lock is taken once it answers (see `_ready`).
            log_db_error("while starting; retrying", error, operation="load")
        self.install_signal_handlers()
        self.start()
        interval = watchdog_interval()
        watchdog = Watchdog(self._systemd, interval, self.liveness).start() if interval and self._systemd.enabled else None
        announced, status = False, ""
        while not self.stopping.wait(0.5):
            if announced:
                continue
            if self._polling.is_set():
                self._systemd.ready(f"polling {len(self.config.feeds)} feeds")
                announced = True
            elif (detail := self.liveness().detail) != status:  # e.g. "waiting for the database"
                status = detail
                self._systemd.status(f"starting: {detail}")
        if watchdog:
            # Once stopping, systemd's stop timeout bounds the shutdown, not the watchdog: a ping
            # after STOPPING=1 would only say a stopping daemon is alive.
            watchdog.stop()
        self.shutdown()
        return EXIT_INTERRUPTED if self._interrupted and self.exit_code == 0 else self.exit_code

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: stop (twice: at once); SIGHUP: reload the config."""
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, daemon=True).start())

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting at once", extra=fields(signal=signal.Signals(signum).name))
            os._exit(EXIT_AT_ONCE)
        self._interrupted = signum == signal.SIGINT
        log.info("stopping: letting polls in flight finish", extra=fields(signal=signal.Signals(signum).name, in_flight=len(self._in_flight)))
        self.stopping.set()

    def start(self) -> None:
        """Start the dispatch job (the database may still be down: it is retried)."""
        log.info("daemon starting", extra=fields(pid=os.getpid(), worker=self.worker_id, feeds=len(self.config.feeds),
                                                 fetch_threads=self.config.polling.fetch_threads))
        self._start_http()
        self._scheduler.add_job(
            self.dispatch, "interval", id=DISPATCH, seconds=self.config.polling.dispatch_seconds, next_run_time=utcnow_aware()
        )
        self._scheduler.start()
        self._delivery.start()
        if self.config.pages.fetch:
            self._page_store = DaemonPages(lambda: None if self._stale else self._poller, lambda: self.config)
            self._pages = PageFetcher(self._page_store, self.config.pages, self.config.polling, archive=self._page_store,
                                      guard=self._page_guard, on_outcome=self._page_done).start()

    def shutdown(self) -> None:
        """Stop dispatching, let polls in flight finish and commit, then mark the heartbeat stopped."""
        self.stopping.set()
        self._delivery.stop()
        self._systemd.stopping()
        self._scheduler.shutdown(wait=True)
        self._workers.shutdown(wait=True)
        if self._pages:
            self._pages.stop(timeout=PAGES_STOP_SECONDS)
        if self._page_store:
            self._page_store.close()
        try:
            if self._poller:
                self._poller.release()  # leases of polls that failed: the feeds are free at once
            self._beat("stopped", self._sessions)
        except (SQLAlchemyError, StoreError):
            pass  # the leases expire, and status tells a silent worker from a live one
        if self._poller:
            self._poller.close()
        if self._ops:
            self._ops.stop()
        self._lock.release()
        log.info("daemon stopped", extra=fields(pid=os.getpid(), worker=self.worker_id))
        self.stopped.set()


def utcnow_aware() -> datetime:
    """Now with a time zone, as APScheduler wants it."""
    return datetime.now(UTC)


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

Beside this module: the heartbeat, housekeeping and busy spells (tracker.daemon.bookkeeping),
liveness and the HTTP server (tracker.daemon.liveness), and `tracker poll` (tracker.daemon.poll_once).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.addresses import AddressGuard
from tracker.pipeline.alerts import Alerts
from tracker.config import Config, load_config
from tracker.daemon.bookkeeping import BookkeepingMixin, log_db_error, worker_id
from tracker.daemon.liveness import OperationsMixin
from tracker.daemon.deliver import DeliveryThread
from tracker.errors import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_STORE, AlreadyRunningError, ConfigError, LeaseLostError, SchemaTooNewError, StoreError
from tracker.logs import fields
from tracker.daemon.metrics import METRICS, record_database_error
from tracker.model import utcnow
from tracker.daemon.pagefetch import PageFetcher, PageOutcome
from tracker.daemon.pagework import DaemonPages
from tracker.pipeline.capture import Pipeline
from tracker.daemon.poll import FeedToPoll, Poller, PollOutcome
from tracker.store import locks
from tracker.store.database import impatient, open_database
from tracker.store.daemon_lock import DaemonLock
from tracker.daemon.systemd import Notifier, Watchdog, watchdog_interval

if TYPE_CHECKING:
    from tracker.daemon.opsserver import OpsServer

log = logging.getLogger(__name__)
DISPATCH = "dispatch"
EXIT_AT_ONCE = 130
# On SQLite, a tick's own writes (heartbeat, leases) wait at most this long (and at most half
# a dispatch interval) for another writer's lock, then the tick tries again next time:
# a long ingest transaction must not stall the dispatch loop (nor trip the watchdog).
TICK_BUSY_SECONDS = 5.0
# Page fetches in flight at shutdown get this long; one cut short is not recorded (still wanted).
PAGES_STOP_SECONDS = 5.0


class Daemon(BookkeepingMixin, OperationsMixin):
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
        self._bookkeeping: sessionmaker[Session] | None = None  # the tick's writes: see TICK_BUSY_SECONDS
        self._busy_since: float | None = None  # when the tick first found the database taken by another writer
        self._poller: Poller | None = None
        self._stale = True
        self._reconfigure = False
        self._in_flight: set[int] = set()
        self._state_lock = threading.Lock()
        self._workers = ThreadPoolExecutor(config.polling.workers, thread_name_prefix="poll")
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
        self.shutdown()
        if watchdog:
            watchdog.stop()
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
                                                 fetch_threads=self.config.polling.workers))
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

    # -- configuration ---------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the config file; keep the old one if the new one is invalid."""
        self._systemd.reloading()
        try:
            self._reload()
        finally:
            self._systemd.ready(f"polling {len(self.config.feeds)} feeds")

    def _reload(self) -> None:
        try:
            config = load_config(self.config_path)
            config.feeds  # noqa: B018  (the OPML files are read now: a bad one is refused here, not mid-poll)
        except ConfigError as error:
            log.error("config refused, keeping the old one", extra=fields(error=str(error)))
            return
        old = self.config
        if config.database.url != old.database.url or config.detection != old.detection:
            log.warning("database and detection settings change only on restart; keeping the running ones")
            config = config.model_copy(update={"database": old.database, "detection": old.detection})
        if config.http != old.http:
            log.warning("http settings change only on restart; keeping the running ones")
            config = config.model_copy(update={"http": old.http})
        if config.pages != old.pages:
            log.warning("pages settings change only on restart; keeping the running ones")
            config = config.model_copy(update={"pages": old.pages})
        self.config = config
        self._delivery.configure(config)
        log.info("config reloaded", extra=fields(feeds=len(config.feeds)))
        if config.polling.dispatch_seconds != old.polling.dispatch_seconds and self._scheduler.running:
            self._scheduler.reschedule_job(DISPATCH, trigger="interval", seconds=config.polling.dispatch_seconds)
        if config.polling.workers != old.polling.workers:
            previous, self._workers = self._workers, ThreadPoolExecutor(config.polling.workers, thread_name_prefix="poll")
            previous.shutdown(wait=False)
        # The next tick rebuilds the poller with the new settings and feed list.
        self._reconfigure = True

    # -- the dispatch job ----------------------------------------------------------------
    def _ready(self) -> Poller | None:
        """The poller: opened again after a database failure, or with new settings."""
        if not self._stale and not self._reconfigure and self._poller is not None:
            return self._poller
        with self._state_lock:
            if self._in_flight:
                return None  # wait for polls in flight before rebuilding under them
            try:
                self._lock.acquire()
                if self._sessions is None:
                    self._sessions = open_database(self.config.database.url)
                    # Within half an interval: a tick that waited longer would overlap the next.
                    busy_wait = min(TICK_BUSY_SECONDS, self.config.polling.dispatch_seconds / 2)
                    self._bookkeeping = impatient(self._sessions, busy_wait)
                if self._stale or self._poller is None:
                    pipeline = Pipeline(self._sessions, self.config)
                else:
                    pipeline = self._poller.pipeline  # settings changed, the pipeline is fine
                    pipeline.alerts = Alerts.from_config(self.config)
                poller = Poller(self._sessions, pipeline, self.config, owner=self.worker_id, bookkeeping=self._bookkeeping)
                if self._poller is not None and pipeline is self._poller.pipeline:
                    poller.lock = self._poller.lock  # one pipeline, one writer: page stores hold this lock too
                poller.sync_feeds(list(self.config.feeds))
                # Nothing is in flight: leases this worker still holds are of polls that failed
                # with the database (and could not be released then). Free, they are due again.
                poller.release()
            except AlreadyRunningError as error:
                log.error("refusing to run", extra=fields(error=str(error)))
                self.exit_code = EXIT_FAILURES
                self.stopping.set()
                return None
            except SchemaTooNewError as error:
                # Not a database that is away: retrying cannot help until this tracker is upgraded.
                log.error("refusing to run", extra=fields(error=str(error)))
                self.exit_code = EXIT_STORE
                self.stopping.set()
                return None
            except (SQLAlchemyError, StoreError) as error:
                if locks.busy(error):
                    self._busy(error)  # the database is fine: open the pipeline on a later tick
                    return None
                log_db_error("while loading; retrying", error, operation="load")
                for sessions in {self._sessions, self._bookkeeping} - {None}:
                    sessions.kw["bind"].dispose()  # type: ignore[union-attr]
                self._sessions = self._bookkeeping = None
                return None
            self._reconfigure = False
            if self._poller is not None:
                self._poller.close()
            self._poller, self._stale = poller, False
            log.info("ready to poll")
            return poller

    def dispatch(self) -> None:
        """One tick: heartbeat, then claim due feeds for the free threads, within per-host limits."""
        self._tick_started = time.monotonic()
        ready = False
        try:
            ready = self._dispatch()
        finally:
            self._tick_ended = time.monotonic()
            if ready:
                # Polling is said only once a tick has completed with the pipeline open.
                self._polling.set()

    def _dispatch(self) -> bool:
        """The tick's work; False while the pipeline cannot be opened."""
        if self.stopping.is_set():
            return False
        poller = self._ready()
        if poller is None:
            return False
        try:
            self._beat("running")
            self._housekeeping()
            free = self.config.polling.workers - len(self._in_flight)
            claimed = poller.claim(limit=free) if free > 0 else []
        except SQLAlchemyError as error:
            if locks.busy(error):
                self._busy(error)
                return True  # nothing is broken: the next tick claims what is due
            self._stale = True
            log_db_error("while dispatching; retrying", error, operation="dispatch")
            return True  # the pipeline is open: a failed tick is still a polling daemon's
        self._not_busy()
        unused: list[int] = []
        for feed in claimed:
            with self._state_lock:
                if feed.feed_id in self._in_flight:
                    continue  # still being stored past its lease: the lease is ours again anyway
                if self.stopping.is_set():
                    unused.append(feed.feed_id)
                    continue
                self._in_flight.add(feed.feed_id)
            future: Future[None] = self._workers.submit(self._work, poller, feed)
            future.add_done_callback(lambda _f, feed_id=feed.feed_id: self._done(feed_id))
        if unused:
            self._release_leases(poller, unused)
        return True

    def _page_done(self, outcome: PageOutcome) -> None:
        METRICS.observe_page(outcome)
        if outcome.report is not None and outcome.report.new_copies:
            self._delivery.wake()
        if self.on_page:
            self.on_page(outcome)

    def _done(self, feed_id: int) -> None:
        with self._state_lock:
            self._in_flight.discard(feed_id)

    def _work(self, poller: Poller, feed: FeedToPoll) -> None:
        try:
            outcome = poller.poll(feed)
        except LeaseLostError:
            log.warning("lease lost: another worker polls this feed; poll dropped", extra=fields(feed=feed.url))
            return
        except SQLAlchemyError as error:
            # The poll is not lost: its feed is still due and is fetched again once the
            # database is back (its lease released, or expired). The connection may be
            # broken: the pipeline is opened again on the next tick — unless the database
            # was only taken by another writer for longer than the store's retries.
            if locks.busy(error):
                record_database_error("busy")
                log.warning("database busy during poll (another writer held the write lock throughout); the feed is polled again",
                            extra=fields(feed=feed.url))
            else:
                self._stale = True
                log_db_error("during poll; will retry", error, operation="poll", feed=feed.url)
            self._release_leases(poller, [feed.feed_id])
            return
        except Exception:
            self._stale = True
            METRICS.polls.labels("crashed").inc()
            log.exception("poll crashed; the pipeline will be opened again", extra=fields(feed=feed.url))
            self._release_leases(poller, [feed.feed_id])
            return
        if outcome.report.new_copies:
            self._delivery.wake()
        METRICS.observe_poll(outcome)
        if self.on_poll:
            self.on_poll(outcome)


def utcnow_aware() -> datetime:
    """Now with a time zone, as APScheduler wants it."""
    return datetime.now(UTC)


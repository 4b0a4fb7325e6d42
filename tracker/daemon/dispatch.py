"""The daemon's dispatch job: every tick a heartbeat, then due feeds claimed for the free fetch threads.

A mixin of `tracker.daemon.scheduler.Daemon` (its life cycle is there). The tick opens the
pipeline (again after a database failure, or with new settings), claims due feeds by lease
within the per-host limits, and hands each to a fetch thread, which polls it and stores
through the pipeline.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from tracker.daemon.bookkeeping import log_db_error
from tracker.daemon.metrics import METRICS, record_database_error
from tracker.daemon.pagefetch import PageOutcome
from tracker.daemon.poll import FeedToPoll, Poller
from tracker.errors import EXIT_FAILURES, EXIT_STORE, AlreadyRunningError, LeaseLostError, SchemaTooNewError, StoreError
from tracker.logs import fields
from tracker.pipeline.alerts import Alerts
from tracker.pipeline.capture import Pipeline
from tracker.store import locks
from tracker.store.database import impatient, open_database

if TYPE_CHECKING:
    from tracker.daemon.scheduler import Daemon

log = logging.getLogger("tracker.daemon.scheduler")  # the daemon's one logger
DISPATCH = "dispatch"
# On SQLite, a tick's own writes (heartbeat, leases) wait at most this long (and at most half
# a dispatch interval) for another writer's lock, then the tick tries again next time:
# a long ingest transaction must not stall the dispatch loop (nor trip the watchdog).
TICK_BUSY_SECONDS = 5.0


class DispatchMixin:
    """The dispatch job of `Daemon`: `dispatch` is APScheduler's interval job."""

    def _ready(self: Daemon) -> Poller | None:
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

    def dispatch(self: Daemon) -> None:
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

    def _dispatch(self: Daemon) -> bool:
        """The tick's work; False while the pipeline cannot be opened."""
        if self.stopping.is_set():
            return False
        poller = self._ready()
        if poller is None:
            return False
        try:
            self._beat("running")
            self._housekeeping()
            free = self.config.polling.fetch_threads - len(self._in_flight)
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

    def _page_done(self: Daemon, outcome: PageOutcome) -> None:
        METRICS.observe_page(outcome)
        if outcome.report is not None and (outcome.report.new_copies or outcome.report.changed_copies):
            self._delivery.wake()  # a message about a copy, or a retraction of one
        if self.on_page:
            self.on_page(outcome)

    def _done(self: Daemon, feed_id: int) -> None:
        with self._state_lock:
            self._in_flight.discard(feed_id)

    def _work(self: Daemon, poller: Poller, feed: FeedToPoll) -> None:
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
        if outcome.report.new_copies or outcome.report.changed_copies:
            self._delivery.wake()  # a message about a copy, or a retraction of one
        METRICS.observe_poll(outcome)
        if self.on_poll:
            self.on_poll(outcome)

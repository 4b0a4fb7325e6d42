"""The daemon's bookkeeping in the database: who this worker is, its heartbeat, tidying
after dead workers, spells of a database busy with another writer, and how a database
failure is logged.

A mixin of `tracker.daemon.scheduler.Daemon` (kept apart: the dispatch loop is long enough).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.daemon.metrics import record_database_error
from tracker.daemon.poll import Poller
from tracker.errors import StoreError
from tracker.logs import fields
from tracker.model import utcnow
from tracker.store import heartbeats, leases

if TYPE_CHECKING:
    from tracker.daemon.scheduler import Daemon

# The daemon's logger: operators filter its lines by this name.
log = logging.getLogger("tracker.daemon.scheduler")
# A worker whose heartbeat is older than this is long dead: its row is dropped (status
# shows it as stopped until then). Any worker tidies up, at start and then hourly.
PRUNE_HEARTBEATS_AFTER = timedelta(days=1)
HOUSEKEEPING_SECONDS = 3600.0


def worker_id() -> str:
    """A name for this process among every worker of the database: `host:pid:random`.

    The random part tells apart two machines with one hostname (containers) whose
    daemons have the same pid; it fits the heartbeat's name and the lease owner columns.
    """
    pid, tag = os.getpid(), secrets.token_hex(3)
    host = socket.gethostname() or "?"
    return f"{host[: 50 - len(f':{pid}:{tag}')]}:{pid}:{tag}"


def log_db_error(context: str, error: Exception, operation: str | None = None, **extra: object) -> None:
    """Log (and count) a database failure, saying "unavailable" only when the server could not be reached."""
    if operation:
        record_database_error(operation)
    unreachable = isinstance(error, OperationalError | InterfaceError | StoreError) or getattr(error, "connection_invalidated", False)
    event = f"{'database unavailable' if unreachable else 'database error'} {context}"
    log.error(event, extra=fields(error=str(error).splitlines()[0] if str(error) else repr(error), **extra))


class BookkeepingMixin:
    """`Daemon`'s heartbeat, housekeeping, busy spells and lease releases."""

    def _busy(self: Daemon, error: SQLAlchemyError | StoreError) -> None:
        """A tick found the database's write lock taken by another writer (a long ingest
        transaction on SQLite, or this daemon's own poll storing a large capture): said
        once per spell, and the next tick tries again."""
        record_database_error("busy")
        if self._busy_since is None:
            self._busy_since = time.monotonic()
            log.warning("database busy: another writer holds the write lock; dispatching waits for it",
                        extra=fields(error=str(error).splitlines()[0]))

    def _not_busy(self: Daemon) -> None:
        if self._busy_since is not None:
            log.info("database free again; dispatching", extra=fields(waited_s=round(time.monotonic() - self._busy_since, 1)))
            self._busy_since = None

    def _release_leases(self: Daemon, poller: Poller, feed_ids: list[int]) -> None:
        """Free leases this worker will not use (best effort: unreleased, they expire)."""
        try:
            poller.release(feed_ids)
        except SQLAlchemyError as error:
            log_db_error("releasing leases; they will expire", error)

    def _beat(self: Daemon, state: str, sessions: sessionmaker[Session] | None = None) -> None:
        sessions = sessions or self._bookkeeping
        if sessions is None:
            return
        beat = heartbeats.Beat(self.worker_id, os.getpid(), socket.gethostname(), self._started_at, utcnow(),
                               self.config.polling.dispatch_seconds, state)
        with sessions.begin() as session:
            heartbeats.beat(session, beat)

    def _housekeeping(self: Daemon) -> None:
        """At start, then hourly: free the leases of dead workers of this machine (a daemon
        restarted after kill -9 goes on at once rather than after its predecessor's leases
        expire), and drop the heartbeats of workers dead for long."""
        if self._bookkeeping is None or (self._tidied_at is not None and time.monotonic() - self._tidied_at < HOUSEKEEPING_SECONDS):
            return
        here = socket.gethostname()
        with self._bookkeeping.begin() as session:
            dead = [b.name for b in heartbeats.workers(session) if b.name != self.worker_id and heartbeats.dead_here(b, here)]
            freed = leases.release_owners(session, dead) if dead else 0
            gone = heartbeats.prune(session, utcnow() - PRUNE_HEARTBEATS_AFTER)
        self._tidied_at = time.monotonic()
        if freed:
            log.info("leases of dead workers of this machine released", extra=fields(feeds=freed))
        if gone:
            log.info("heartbeats of long-dead workers removed", extra=fields(workers=gone))

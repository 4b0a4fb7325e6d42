"""Is the daemon healthy? Its dispatch loop alive, and its database answering.

`/healthz`, the metrics' database gauges and the systemd watchdog all ask. The
database is asked on a connection of its own with a short timeout, at most once per
`cache_seconds` however many scrapers ask, and never twice at once: a database that
hangs costs one stuck thread, not one per scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from tracker.store.database import create_db_engine
from tracker.store.gauges import DatabaseGauges, ping, read_gauges

T = TypeVar("T")

# Scheduler states. The watchdog is fed in all but STALLED and STOPPED; /healthz is
# 200 only in POLLING and LOADING (the pipeline being opened again after an outage).
STARTING, LOADING, POLLING, STOPPING, STALLED, STOPPED = "starting", "loading", "polling", "stopping", "stalled", "stopped"


@dataclass(frozen=True)
class Liveness:
    """The dispatch loop's state, and since when it last completed a tick."""

    state: str
    last_dispatch_s: float | None = None
    detail: str = ""

    @property
    def alive(self) -> bool:
        """The process is doing its job or getting there (what the watchdog feeds on)."""
        return self.state not in (STALLED, STOPPED)

    @property
    def serving(self) -> bool:
        """The daemon is polling (what /healthz reports as healthy)."""
        return self.state in (POLLING, LOADING)


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A value, or why there is none."""

    value: T | None
    error: str | None
    at: float


class BoundedCall(Generic[T]):
    """Call `fn` in a daemon thread, at most once per `ttl` seconds, waiting at most `timeout` for it."""

    def __init__(self, fn: Callable[[], T], ttl: float, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.fn, self.ttl, self.timeout, self.clock = fn, ttl, timeout, clock
        self._lock = threading.Lock()
        self._last: Answer[T] | None = None
        self._running: Future[T] | None = None

    def get(self) -> Answer[T]:
        """The cached answer if it is fresh, else a new one (an error if `fn` raised or took too long)."""
        with self._lock:
            if self._last is not None and self.clock() - self._last.at < self.ttl:
                return self._last
            if self._running is None or self._running.done():
                self._running = self._start()
            running = self._running
        try:
            answer: Answer[T] = Answer(running.result(self.timeout), None, self.clock())
        except FutureTimeout:
            answer = Answer(None, f"no answer within {self.timeout:g} s", self.clock())
        except Exception as error:  # whatever the call raised is the answer
            answer = Answer(None, _one_line(error), self.clock())
        with self._lock:
            self._last = answer
        return answer

    def _start(self) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(self.fn())
            except BaseException as error:  # handed to the waiting caller
                future.set_exception(error)

        # A daemon thread, not an executor's: a database that never answers must not keep the process from exiting.
        threading.Thread(target=run, name="health-probe", daemon=True).start()
        return future


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    message = text[0] if text else repr(error)
    return f"{type(error).__name__}: {message}"[:300]


class HealthCheck:
    """The daemon's health: its own liveness plus a bounded, cached probe of the database."""

    def __init__(self, liveness: Callable[[], Liveness], database_url: str, timeout: float = 2.0, cache_seconds: float = 1.5) -> None:
        self.liveness = liveness
        self._engine = create_db_engine(database_url, timeout=timeout)
        self._sessions = sessionmaker(self._engine)
        self._ping: BoundedCall[None] = BoundedCall(self._run(ping), cache_seconds, timeout)
        self._gauges: BoundedCall[DatabaseGauges] = BoundedCall(self._run(read_gauges), cache_seconds, timeout * 2)

    def _run(self, query: Callable[[Session], T]) -> Callable[[], T]:
        def call() -> T:
            with self._sessions() as session:
                return query(session)

        return call

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, a small JSON-able body saying why)."""
        live = self.liveness()
        database = self._ping.get()
        reasons = []
        if not live.serving:
            reasons.append(f"scheduler {live.state}" + (f": {live.detail}" if live.detail else ""))
        if database.error:
            reasons.append(f"database: {database.error}")
        body: dict[str, Any] = {
            "status": "unavailable" if reasons else "ok",
            "scheduler": live.state,
            "database": "error" if database.error else "ok",
        }
        if live.last_dispatch_s is not None:
            body["last_dispatch_seconds_ago"] = round(live.last_dispatch_s, 1)
        if reasons:
            body["reasons"] = reasons
        return not reasons, body

    def gauges(self) -> Answer[DatabaseGauges]:
        """What the database holds (cached like the ping), or why it could not be read."""
        return self._gauges.get()

    def close(self) -> None:
        """Close the probe's connections."""
        self._engine.dispose()

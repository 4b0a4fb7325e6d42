"""The health check: a bounded, cached database probe plus the dispatch loop's liveness."""

from __future__ import annotations

import socket
import threading
import time

from tests.feedserver import wait_until
from tracker.config import parse_config
from tracker.daemon.health import LOADING, POLLING, STALLED, STARTING, STOPPED, BoundedCall, HealthCheck, Liveness
from tracker.daemon.scheduler import Daemon


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bounded_call_answers_from_cache_within_its_ttl_then_asks_again() -> None:
    calls: list[int] = []
    clock = Clock()
    call = BoundedCall(lambda: calls.append(1) or len(calls), ttl=1.5, timeout=1.0, clock=clock)
    assert call.get().value == 1
    clock.now += 1.0
    assert call.get().value == 1 and len(calls) == 1  # cached: the database is not asked again
    clock.now += 1.0
    assert call.get().value == 2 and len(calls) == 2


def test_bounded_call_gives_up_after_its_timeout_and_never_piles_up_calls() -> None:
    release = threading.Event()
    started: list[float] = []

    def hang() -> str:
        started.append(time.monotonic())
        release.wait(10)
        return "late"

    call = BoundedCall(hang, ttl=0.0, timeout=0.2)
    try:
        begin = time.monotonic()
        first = call.get()
        assert time.monotonic() - begin < 1.0
        assert first.value is None and first.error == "no answer within 0.2 s"
        second = call.get()
        assert second.error == "no answer within 0.2 s"
        assert len(started) == 1, "a second probe was started while the first still hangs"
    finally:
        release.set()
    time.sleep(0.05)
    assert call.get().value == "late"  # the hung call's answer, once it came


def test_bounded_call_reports_what_the_call_raised_in_one_line() -> None:
    def fail() -> None:
        raise RuntimeError("connection refused\nsecond line of detail")

    answer = BoundedCall(fail, ttl=0.0, timeout=1.0).get()
    assert answer.value is None and answer.error == "RuntimeError: connection refused"


def test_healthy_when_the_scheduler_polls_and_the_database_answers(sqlite_url: str) -> None:
    check = HealthCheck(lambda: Liveness(POLLING, 0.4), sqlite_url)
    try:
        healthy, body = check.report()
    finally:
        check.close()
    assert healthy
    assert body == {"status": "ok", "scheduler": "polling", "database": "ok", "last_dispatch_seconds_ago": 0.4}


def test_unhealthy_while_starting_or_stalled_and_healthy_while_reloading_caches(sqlite_url: str) -> None:
    state = [Liveness(STARTING, None, "loading the caches")]
    check = HealthCheck(lambda: state[0], sqlite_url, cache_seconds=0)
    try:
        healthy, body = check.report()
        assert not healthy and body["status"] == "unavailable" and body["database"] == "ok"
        assert body["reasons"] == ["scheduler starting: loading the caches"]
        state[0] = Liveness(STALLED, 75.0, "no dispatch tick completed for 75 s")
        healthy, body = check.report()
        assert not healthy and body["reasons"] == ["scheduler stalled: no dispatch tick completed for 75 s"]
        state[0] = Liveness(LOADING, 0.1)
        assert check.report()[0]
    finally:
        check.close()


def test_unreachable_database_is_unhealthy_quickly_with_the_reason() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    check = HealthCheck(lambda: Liveness(POLLING, 0.1), f"postgresql+psycopg://postgres@127.0.0.1:{port}/nothing", timeout=1.0)
    try:
        begin = time.monotonic()
        healthy, body = check.report()
        elapsed = time.monotonic() - begin
        assert not healthy and body["database"] == "error" and body["scheduler"] == "polling"
        assert len(body["reasons"]) == 1 and body["reasons"][0].startswith("database: OperationalError"), body
        assert elapsed < 3.0
        assert check.gauges().value is None
    finally:
        check.close()


def test_a_hanging_database_answers_503_within_the_timeout() -> None:
    # A server that accepts connections and never says a word (a black-holed database).
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    check = HealthCheck(lambda: Liveness(POLLING, 0.1), f"postgresql+psycopg://postgres@127.0.0.1:{port}/x", timeout=0.5)
    try:
        begin = time.monotonic()
        healthy, body = check.report()
        assert not healthy and body["reasons"] == ["database: no answer within 0.5 s"]
        assert time.monotonic() - begin < 2.0
    finally:
        check.close()
        listener.close()


def test_a_daemons_liveness_from_start_to_stop(sqlite_url: str) -> None:
    config = parse_config({"database": {"url": sqlite_url}, "polling": {"dispatch_seconds": 0.2}})
    daemon = Daemon(config)
    assert daemon.liveness().state == STARTING
    daemon.start()
    try:
        wait_until(lambda: daemon.liveness().state == POLLING, 20, "the daemon polling")
        live = daemon.liveness()
        assert live.alive and live.serving and live.last_dispatch_s is not None and live.last_dispatch_s < 5
        # No tick for longer than 3 × dispatch_seconds + 30 s: stalled, and the watchdog goes hungry.
        stalled = daemon.liveness(now=time.monotonic() + 3 * 0.2 + 31)
        assert stalled.state == STALLED and not stalled.alive and "no dispatch tick completed" in stalled.detail
    finally:
        daemon.shutdown()
    assert daemon.liveness().state == STOPPED and not daemon.liveness().alive

"""The ops server under idle and trickling connections: bounded threads, scrapers still answered.

An OpsServer is started in-process (port 0) with a short idle timeout; hundreds of
sockets connect and say nothing. The process's thread count must not follow the socket
count, `/healthz` and `/metrics` must answer meanwhile, and the idle sockets must be
closed by the server once the timeout passes.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.feedserver import wait_until
from tracker.daemon.health import POLLING, HealthCheck, Liveness
from tracker.daemon.metrics import Metrics
from tracker.daemon.opsserver import OpsServer

IDLE = 1.5


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[OpsServer]:
    health = HealthCheck(lambda: Liveness(POLLING, 0.0), f"sqlite:///{tmp_path / 'h.db'}", 2.0, 0.2)
    server = OpsServer("127.0.0.1", 0, Metrics(), health, workers=3, idle_timeout=IDLE, max_pending=1000).start()
    yield server
    server.stop()


def _get(port: int, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status, response.read()


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(3)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_sockets_do_not_become_threads_and_scrapers_still_answer(ops: OpsServer) -> None:
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", ops.port)) for _ in range(300)]
    try:
        wait_until(lambda: ops.waiting() == 300, 10, "300 idle connections accepted")
        assert threading.active_count() <= before + 3  # the pool's workers at most
        status, body = _get(ops.port, "/healthz")
        assert status == 200 and b'"ok"' in body
        status, body = _get(ops.port, "/metrics")
        assert status == 200 and b"tracker_polls" in body
        assert threading.active_count() <= before + 3
        # Past the timeout the server has hung up on every one of them.
        assert all(_closed_by_peer(s) for s in idle)
        assert ops.waiting() == 0
    finally:
        for s in idle:
            s.close()


def test_a_trickled_request_is_dropped_at_the_deadline_not_per_byte(ops: OpsServer) -> None:
    sock = socket.create_connection(("127.0.0.1", ops.port))
    started = time.monotonic()
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        for _ in range(int(IDLE * 4)):  # one header line every quarter of the timeout
            time.sleep(IDLE / 4)
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
        assert _closed_by_peer(sock)
        assert time.monotonic() - started < IDLE * 4 + 3
    finally:
        sock.close()


def test_a_whole_request_is_answered_after_idle_ones_fill_the_queue(tmp_path: Path) -> None:
    health = HealthCheck(lambda: Liveness(POLLING, 0.0), f"sqlite:///{tmp_path / 'h.db'}", 2.0, 0.2)
    server = OpsServer("127.0.0.1", 0, Metrics(), health, workers=2, idle_timeout=30, max_pending=10).start()
    try:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
        wait_until(lambda: server.waiting() >= 10, 10, "idle connections accepted")
        assert server.waiting() <= 10  # the oldest are dropped past max_pending
        assert _get(server.port, "/healthz")[0] == 200
        for s in idle:
            s.close()
    finally:
        server.stop()

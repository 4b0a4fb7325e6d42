"""`[http] listen`: the daemon's `/healthz` and `/metrics`, served from a daemon thread.

The handler is prometheus-client's own (content negotiation, gzip, `name[]` filters)
with `/healthz` added; anything else is a 404. Requests are not logged: scrapers call
every few seconds.

Connections cost no thread while they say nothing: one selector thread accepts them and
reads each request head without blocking, and only a complete head goes to a small
fixed pool of workers. A connection that has not sent its whole head within
`idle_timeout` seconds is closed, and past `max_pending` waiting connections the oldest
is dropped, so idle or trickling sockets neither pile up threads nor starve a scraper.
"""

from __future__ import annotations

import io
import json
import logging
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from tracker.daemon.health import HealthCheck
from tracker.daemon.metrics import Metrics
from tracker.errors import ConfigError
from tracker.logs import fields
from tracker.terminal import json_line

log = logging.getLogger(__name__)

WORKERS = 4
IDLE_TIMEOUT_SECONDS = 5.0
MAX_PENDING = 256
# A GET's whole request: the line and headers. http.server allows 64 KiB a line, 100 lines.
_MAX_HEAD = 64 * 1024
_HEAD_END = b"\r\n\r\n"


class _Server(HTTPServer):
    allow_reuse_address = True
    request_queue_size = 1024  # kernel memory, not threads: a burst of connections waits to be accepted

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The request head read by the selector thread, handed to the worker's handler.
        self.heads: dict[socket.socket, bytes] = {}


def _handler(metrics: Metrics, health: HealthCheck, timeout: float) -> type[BaseHTTPRequestHandler]:
    base: Any = metrics.handler()

    class Handler(base):  # type: ignore[misc, valid-type]
        server_version = "tracker"

        def setup(self) -> None:
            self.timeout = timeout  # bounds each write to a client that stops reading
            super().setup()
            self.rfile = io.BytesIO(self.server.heads.pop(self.request, b""))

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/metrics":
                super().do_GET()
            elif path == "/healthz":
                self._health(send_body=True)
            else:
                self._reply(404, {"error": "not found", "paths": ["/healthz", "/metrics"]})

        def do_HEAD(self) -> None:
            if urlsplit(self.path).path == "/healthz":
                self._health(send_body=False)
            else:
                self._reply(404, {"error": "not found"}, send_body=False)

        def _health(self, send_body: bool) -> None:
            healthy, body = health.report()
            self._reply(200 if healthy else 503, body, send_body)

        def _reply(self, status: int, body: dict[str, Any], send_body: bool = True) -> None:
            data = (json_line(json.dumps(body, ensure_ascii=False)) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if send_body:
                self.wfile.write(data)

    return Handler


class _Waiting:
    """A connection whose request head is still arriving."""

    __slots__ = ("address", "deadline", "head")

    def __init__(self, address: Any, deadline: float) -> None:
        self.address = address
        self.deadline = deadline
        self.head = b""


class OpsServer:
    """Serves `/healthz` and `/metrics` on `host:port` until `stop()`.

    At most `workers` requests are answered at once (plus the one selector thread);
    connections wait in the selector, each for at most `idle_timeout` seconds."""

    def __init__(
        self, host: str, port: int, metrics: Metrics, health: HealthCheck, *,
        workers: int = WORKERS, idle_timeout: float = IDLE_TIMEOUT_SECONDS, max_pending: int = MAX_PENDING,
    ) -> None:
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
            server_class = type("Server", (_Server,), {"address_family": family})
            self._server = server_class((host, port), _handler(metrics, health, idle_timeout))
        except OSError as error:
            raise ConfigError(f"http.listen: cannot listen on {_join(host, port)}: {error.strerror or error}") from None
        self._server.socket.setblocking(False)
        self.health = health
        self.host = host
        self.port: int = self._server.server_address[1]
        self.idle_timeout = idle_timeout
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="http-worker")
        self._selector = selectors.DefaultSelector()
        self._waiting: dict[socket.socket, _Waiting] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="http", daemon=True)

    def start(self) -> OpsServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        log.info("http listening", extra=fields(address=_join(self.host, self.port), host=self.host, port=self.port,
                                                paths="/healthz /metrics"))
        return self

    def stop(self) -> None:
        """Stop serving and close the socket, the waiting connections and the health probe's connections."""
        self._stopping.set()
        if self._thread.is_alive():
            self._wake_w.send(b"x")
            self._thread.join(timeout=5)
        for conn in list(self._waiting):
            self._drop(conn)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._selector.close()
        self._server.server_close()
        self._wake_r.close()
        self._wake_w.close()
        self.health.close()

    def waiting(self) -> int:
        """How many connections are open but have not sent a whole request yet."""
        return len(self._waiting)

    def _loop(self) -> None:
        self._selector.register(self._server.socket, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        while not self._stopping.is_set():
            now = time.monotonic()
            soonest = min((w.deadline for w in self._waiting.values()), default=now + 1.0)
            for key, _ in self._selector.select(timeout=max(0.0, min(1.0, soonest - now))):
                if key.data == "listen":
                    self._accept()
                elif key.data == "wake":
                    self._wake_r.recv(64)
                else:
                    self._read(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            for conn in [c for c, w in self._waiting.items() if w.deadline <= now]:
                self._drop(conn)
        self._selector.unregister(self._server.socket)

    def _accept(self) -> None:
        # Empty the backlog: a full one makes the kernel drop new connections, scrapers' too.
        for _ in range(self.max_pending):
            try:
                conn, address = self._server.socket.accept()
            except OSError:  # backlog empty, or out of descriptors: the next select retries
                return
            conn.setblocking(False)
            if len(self._waiting) >= self.max_pending:
                self._drop(min(self._waiting, key=lambda c: self._waiting[c].deadline))
            self._waiting[conn] = _Waiting(address, time.monotonic() + self.idle_timeout)
            self._selector.register(conn, selectors.EVENT_READ, "conn")

    def _read(self, conn: socket.socket) -> None:
        waiting = self._waiting[conn]
        try:
            data = conn.recv(8192)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        waiting.head += data
        if _HEAD_END not in waiting.head and len(waiting.head) <= _MAX_HEAD:
            return
        # Complete (or too long, which the handler answers 431/414): a worker answers it.
        self._selector.unregister(conn)
        del self._waiting[conn]
        conn.setblocking(True)
        self._server.heads[conn] = waiting.head
        self._pool.submit(self._answer, conn, waiting.address)

    def _answer(self, conn: socket.socket, address: Any) -> None:
        try:
            self._server.finish_request(conn, address)
        except OSError:
            pass  # the client went away or stopped reading: nothing to tell it
        except Exception:
            log.exception("http request failed")
        finally:
            self._server.heads.pop(conn, None)
            self._server.shutdown_request(conn)

    def _drop(self, conn: socket.socket) -> None:
        self._waiting.pop(conn, None)
        try:
            self._selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

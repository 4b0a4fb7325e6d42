"""A small local HTTP feed server (and a TCP proxy) for tests that run real daemons.

`FeedServer` is a ThreadingHTTPServer on 127.0.0.1, port 0, in a thread. Each route is
scripted by the test: a `GrowingFeed` whose item list grows when the test (or a
`Publisher` thread) publishes, a fixed HTTP status, or anything else returning
(status, headers, body). Every request is counted per path, and the next request of a
route can be held on a `threading.Event` to simulate a slow poll. With `delay`, every
answer takes that long; requests of one path that overlap in time (two pollers fetching
one feed at once) are counted in `overlaps`.

`TcpProxy` forwards 127.0.0.1:<port> to another address and can "cut" the link: close
every proxied connection and refuse new ones until `restore()`.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.builders import Item, article, rss
from tracker.addresses import AddressGuard

Response = tuple[int, dict[str, str], bytes]
Route = Callable[[BaseHTTPRequestHandler], Response]
T_PUBLISHED = datetime(2026, 1, 5, 8, 0, 0)


class OnePublicPort(AddressGuard):
    """The default address policy (private addresses refused), except that one local
    server's port stands for a public site: its redirects to private addresses still fail."""

    def __init__(self, port: int) -> None:
        super().__init__(allow_private=False)
        self.port = port

    def blocked_reason(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str | None:
        if str(address) == "127.0.0.1" and port == self.port:
            return None
        return super().blocked_reason(address, port)


@dataclass
class Hold:
    """Hold the next request of a route until `release` is set (or `timeout` passes)."""

    timeout: float
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    released_by_timeout: bool = False


class GrowingFeed:
    """An RSS feed whose items (guid-unique, distinct texts) the test publishes over time."""

    def __init__(self, base: str, path: str, title: str, seed: int) -> None:
        self.base, self.path, self.title, self.seed = base, path, title, seed
        self.url = base + path
        self._items: list[Item] = []
        self._visible: int | None = None  # serve only the first so many items (None: all)
        self._lock = threading.Lock()

    def publish(self, count: int = 1) -> list[str]:
        """Add `count` new items at the top of the feed; return their GUIDs."""
        guids = []
        with self._lock:
            for _ in range(count):
                n = len(self._items)
                guid = f"urn:test:{self.seed}:{n}"
                self._items.append(
                    Item(
                        f"{self.title} story {n}", f"{self.base}/{self.seed}/story-{n}.html",
                        article(self.seed * 100_000 + n, paragraphs=3, words=40),
                        T_PUBLISHED + timedelta(minutes=n), guid=guid,
                    )
                )
                guids.append(guid)
        return guids

    @property
    def guids(self) -> list[str]:
        with self._lock:
            return [item.guid or item.link for item in self._items]

    def reveal(self, count: int) -> None:
        """Serve only the first `count` published items (the rest appear when revealed)."""
        with self._lock:
            self._visible = count

    def item(self, n: int) -> Item:
        """The `n`th published item."""
        with self._lock:
            return self._items[n]

    def body(self) -> bytes:
        with self._lock:
            items = list(reversed(self._items[: self._visible]))
        return rss(self.title, self.base + "/", items)


class _QuietServer(ThreadingHTTPServer):
    """Daemon threads; a client that vanishes (a daemon killed with -9) is not an error here."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FeedServer:
    """A real HTTP server on 127.0.0.1 whose routes the test controls; counts every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.holds: dict[str, Hold] = {}
        self.counts: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.arrivals: list[tuple[str, float]] = []  # (path, wall-clock time.time())
        self.delay = 0.0
        self.active: Counter[str] = Counter()
        self.overlaps: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path
                with server._lock:
                    server.counts[path] += 1
                    server.requests.append((path, dict(self.headers)))
                    server.arrivals.append((path, time.time()))
                    hold = server.holds.pop(path, None)
                    if server.active[path]:
                        server.overlaps[path] += 1
                    server.active[path] += 1
                try:
                    self._answer(path, hold)
                finally:
                    with server._lock:
                        server.active[path] -= 1

            def _answer(self, path: str, hold: Hold | None) -> None:
                if server.delay:
                    time.sleep(server.delay)
                if hold is not None:
                    hold.arrived.set()
                    if not hold.release.wait(hold.timeout):
                        hold.released_by_timeout = True
                route = server.routes.get(path)
                status, headers, body = route(self) if route else (404, {"Content-Type": "text/plain"}, b"not found")
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client (a killed daemon) went away

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, path: str) -> int:
        with self._lock:
            return self.counts[path]

    def growing_feed(self, path: str, title: str, seed: int, initial: int = 0) -> GrowingFeed:
        """Serve a GrowingFeed at `path` (200, no validators: every poll gets the full list)."""
        feed = GrowingFeed(self.base, path, title, seed)
        feed.publish(initial)
        self.routes[path] = lambda _handler: (200, {"Content-Type": "application/rss+xml; charset=utf-8"}, feed.body())
        return feed

    def feed(self, path: str, body: bytes, etag: str | None = '"v1"', extra: dict[str, str] | None = None) -> None:
        """Serve a fixed feed with validators, answering 304 to a matching If-None-Match."""

        def answer(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
            headers = {"Content-Type": "application/rss+xml; charset=utf-8", **(extra or {})}
            if etag:
                headers["ETag"] = etag
                headers["Last-Modified"] = "Tue, 07 Jan 2025 09:00:00 GMT"
                if handler.headers.get("If-None-Match") == etag:
                    return 304, {"ETag": etag}, b""
            return 200, headers, body

        self.routes[path] = answer

    def hits(self, path: str) -> list[dict[str, str]]:
        """The headers of every request of `path`, in order."""
        with self._lock:
            return [headers for p, headers in self.requests if p == path]

    def status(self, path: str, status: int, body: bytes = b"server error") -> None:
        """Answer every request of `path` with `status`."""
        self.routes[path] = lambda _handler: (status, {"Content-Type": "text/plain"}, body)

    def hold_next(self, path: str, timeout: float) -> Hold:
        """Hold the next request of `path` until the returned Hold is released (or times out)."""
        hold = Hold(timeout)
        with self._lock:
            self.holds[path] = hold
        return hold

    def close(self) -> None:
        with self._lock:
            holds = list(self.holds.values())
        for hold in holds:
            hold.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Publisher:
    """A thread publishing one new item on each feed every `every` seconds until stopped."""

    def __init__(self, feeds: list[GrowingFeed], every: float = 0.3) -> None:
        self.feeds, self.every = feeds, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for feed in self.feeds:
                feed.publish()

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class TcpProxy:
    """127.0.0.1:<port> → upstream, in threads; `cut()` drops every link and refuses new ones."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.refused = 0
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            client.settimeout(None)
            with self._lock:
                if self._cut.is_set():
                    _close(client)
                    _close(server)
                    continue
                self._sockets |= {client, server}
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets -= {source, target}
            _close(source)
            _close(target)

    def cut(self) -> None:
        """Close every proxied connection and refuse new ones."""
        with self._lock:
            self._cut.set()
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._listener.close()
        self._thread.join(timeout=2)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05,
               details: Callable[[], str] | None = None) -> object:
    """Poll `predicate` until it returns something truthy; fail (AssertionError) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(interval)

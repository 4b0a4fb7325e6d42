"""The fetch stage against real HTTP servers on 127.0.0.1, well-behaved and not.

A threaded `http.server` covers ordinary HTTP; a raw-socket server covers the servers
that never answer, drip bytes, or drop the connection mid-response.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import struct
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tracker.addresses import AddressGuard, system_resolver
from tracker.errors import FetchError
from tracker.reader.fetch import ERROR_KINDS, Fetcher, FetchPolicy, FetchResult, Validators
from tracker.reader.fetch.webhook import WebhookPoster

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
RSS = "application/rss+xml; charset=utf-8"


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True)
class Seen:
    path: str
    headers: Message


Route = Reply | Callable[[Seen], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's pool is exercised
    server: _FeedServer

    def do_GET(self) -> None:
        seen = Seen(self.path, self.headers)
        self.server.seen.append(seen)
        route = self.server.routes.get(self.path.split("?")[0], Reply(404, body=b"no route"))
        reply = route(seen) if callable(route) else route
        names = {k.lower() for k, _ in reply.headers}
        if "date" in names:  # a test wants its own (skewed) Date: don't add ours
            self.send_response_only(reply.status)
        else:
            self.send_response(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    seen: list[Seen]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-reply (too_large, the TLS probe) is what several tests do.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class FeedServer:
    httpd: _FeedServer

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes

    @property
    def seen(self) -> list[Seen]:
        return self.httpd.seen

    def url(self, path: str = "/feed") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _FeedServer6(_FeedServer):
    address_family = socket.AF_INET6


@pytest.fixture
def start_server() -> Iterator[Callable[[str], FeedServer]]:
    """Start more feed servers, on 127.0.0.1 or ::1; all are stopped after the test."""
    started: list[_FeedServer] = []

    def start(host: str = "127.0.0.1") -> FeedServer:
        httpd = (_FeedServer6 if ":" in host else _FeedServer)((host, 0), _Handler)
        httpd.routes, httpd.seen = {}, []
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        started.append(httpd)
        return FeedServer(httpd)

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(start_server: Callable[[str], FeedServer]) -> FeedServer:
    return start_server("127.0.0.1")


@dataclass
class RawServer:
    """Accepts connections and hands each socket to `behave` in its own thread."""

    behave: Callable[[socket.socket, threading.Event], None]
    stop: threading.Event = field(default_factory=threading.Event)
    listener: socket.socket = field(default_factory=socket.socket)

    def start(self) -> str:
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.listener.settimeout(0.05)
        threading.Thread(target=self._accept, daemon=True).start()
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/feed"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        with conn:
            _read_request(conn)
            try:
                self.behave(conn, self.stop)
            except OSError:
                pass  # the client hung up, which is what many of these tests want


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, threading.Event], None]], str]]:
    started: list[RawServer] = []

    def start(behave: Callable[[socket.socket, threading.Event], None]) -> str:
        started.append(RawServer(behave))
        return started[-1].start()

    yield start
    for raw in started:
        raw.stop.set()
        raw.listener.close()


@pytest.fixture(scope="module")
def fetcher_for() -> Iterator[Callable[..., Fetcher]]:
    # One Fetcher per policy for the whole module, as the daemon would hold it (and each
    # new client costs ~60 ms loading CA certificates).
    made: dict[FetchPolicy, Fetcher] = {}

    def make(**policy: Any) -> Fetcher:
        # These tests are about HTTP, served on 127.0.0.1; the address checks have their own.
        key = FetchPolicy(**{"allow_private_addresses": True, **policy})
        if key not in made:
            made[key] = Fetcher(key)
        return made[key]

    yield make
    for fetcher in made.values():
        fetcher.close()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours *_PROXY from the environment; a CI proxy must not see 127.0.0.1 traffic.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _assert_failed(result: FetchResult, kind: str) -> None:
    assert result.error_kind == kind, (result.error_kind, result.error_message)
    assert kind in ERROR_KINDS
    assert not result.ok
    assert result.body is None
    assert result.error_message and "\n" not in result.error_message


# --------------------------------------------------------------------------- success


def test_200_returns_body_and_response_metadata(server: FeedServer,
                                                fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(200, (("Content-Type", RSS), ("X-Trace", "a"),
                                         ("X-Trace", "b")), FEED)
    before = datetime.now(UTC)
    result = fetcher_for().fetch(server.url())

    assert result.ok and result.error_kind is None and result.error_message is None
    assert result.status == 200
    assert result.body == FEED and result.bytes_read == len(FEED)
    assert result.content_type == RSS
    assert result.requested_url == result.final_url == server.url()
    assert result.permanent_redirect is None and not result.not_modified and not result.gone
    assert result.fetched_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= result.fetched_at <= datetime.now(UTC)
    assert 0 <= result.duration_s < 5
    # Headers are kept as received, repeats and original case included, for the archive.
    assert [h for h in result.headers if h[0] == "X-Trace"] == [("X-Trace", "a"), ("X-Trace", "b")]


def test_sends_user_agent_accept_and_encodings(server: FeedServer,
                                               fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(200, body=FEED)
    fetcher_for(user_agent="probe-agent/9.9").fetch(server.url())

    headers = server.seen[0].headers
    assert headers["User-Agent"] == "probe-agent/9.9"
    assert headers["Accept"].startswith("application/rss+xml, application/atom+xml")
    assert "application/feed+json" in headers["Accept"]
    encodings = {e.strip() for e in headers["Accept-Encoding"].split(",")}
    assert {"gzip", "deflate"} <= encodings
    assert headers["If-None-Match"] is None and headers["If-Modified-Since"] is None


def test_gzip_and_deflate_bodies_are_decoded(server: FeedServer,
                                             fetcher_for: Callable[..., Fetcher]) -> None:
    big = FEED * 5000  # several decode steps
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    server.routes["/gz"] = Reply(200, (("Content-Encoding", "gzip"),), gzip.compress(big))
    server.routes["/zlib"] = Reply(200, (("Content-Encoding", "deflate"),), zlib.compress(big))
    server.routes["/raw"] = Reply(200, (("Content-Encoding", "deflate"),),
                                  raw_deflate.compress(big) + raw_deflate.flush())
    fetcher = fetcher_for()
    for path in ("/gz", "/zlib", "/raw"):
        result = fetcher.fetch(server.url(path))
        assert result.ok, (path, result.error_message)
        assert result.body == big and result.bytes_read == len(big)


def test_truncated_gzip_body_is_an_error_not_a_short_feed(
        server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(200, (("Content-Encoding", "gzip"),),
                                   gzip.compress(FEED * 100)[:-30])
    _assert_failed(fetcher_for().fetch(server.url()), "connection")


# --------------------------------------------------------------------------- conditional GET


def test_validators_are_sent_back_and_304_is_not_modified(
        server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"

    def feed(req: Seen) -> Reply:
        if req.headers["If-None-Match"] == '"v1"' and req.headers["If-Modified-Since"] == stamp:
            return Reply(304)  # a 304 that does not repeat its validators
        return Reply(200, (("ETag", '"v1"'), ("Last-Modified", stamp)), FEED)

    server.routes["/feed"] = feed
    fetcher = fetcher_for()
    first = fetcher.fetch(server.url())
    assert first.status == 200 and first.etag == '"v1"' and first.last_modified == stamp

    second = fetcher.fetch(server.url(), Validators(first.etag, first.last_modified))
    assert server.seen[1].headers["If-None-Match"] == '"v1"'
    assert server.seen[1].headers["If-Modified-Since"] == stamp
    assert second.status == 304 and second.not_modified and second.ok
    assert second.body is None and second.error_kind is None
    assert (second.etag, second.last_modified) == ('"v1"', stamp)  # old ones kept


def test_304_carrying_new_validators_replaces_them(server: FeedServer,
                                                   fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(304, (("ETag", '"v2"'),))
    result = fetcher_for().fetch(server.url(), Validators('"v1"', "old-date"))
    assert result.not_modified
    assert (result.etag, result.last_modified) == ('"v2"', "old-date")


@pytest.mark.parametrize("gzipped", [False, True])  # rejected by Content-Length / while reading
def test_failed_body_keeps_old_validators(server: FeedServer, fetcher_for: Callable[..., Fetcher],
                                          gzipped: bool) -> None:
    # Storing the new ETag of a body we never read would turn the next poll into a 304.
    body = b"x" * 5000
    headers = [("ETag", '"new"'), ("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")]
    if gzipped:
        body, headers = gzip.compress(body), [*headers, ("Content-Encoding", "gzip")]
    server.routes["/feed"] = Reply(200, tuple(headers), body)
    result = fetcher_for(max_body_bytes=1000).fetch(server.url(), Validators('"old"', "then"))
    _assert_failed(result, "too_large")
    assert (result.etag, result.last_modified) == ('"old"', "then")


# --------------------------------------------------------------------------- HTTP errors


def test_429_with_retry_after_seconds(server: FeedServer,
                                      fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(429, (("Retry-After", "120"),), b"slow down")
    result = fetcher_for().fetch(server.url())
    _assert_failed(result, "rate_limited")
    assert result.status == 429 and result.retry_after_s == 120.0


def test_429_with_retry_after_http_date(server: FeedServer,
                                        fetcher_for: Callable[..., Fetcher]) -> None:
    later = datetime.now(UTC) + timedelta(seconds=90)
    server.routes["/feed"] = Reply(429, (("Retry-After", format_datetime(later, usegmt=True)),))
    result = fetcher_for().fetch(server.url())
    _assert_failed(result, "rate_limited")
    assert result.retry_after_s is not None and 85 <= result.retry_after_s <= 91


def test_retry_after_date_is_measured_on_the_servers_clock(
        server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    # The server's clock is an hour behind ours; it asks for a one-minute pause.
    server_now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    server.routes["/feed"] = Reply(429, (
        ("Date", format_datetime(server_now, usegmt=True)),
        ("Retry-After", format_datetime(server_now + timedelta(seconds=60), usegmt=True))))
    assert fetcher_for().fetch(server.url()).retry_after_s == 60.0


def test_retry_after_in_the_past_is_clamped_to_zero(server: FeedServer,
                                                    fetcher_for: Callable[..., Fetcher]) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    server.routes["/feed"] = Reply(429, (("Retry-After", format_datetime(past, usegmt=True)),))
    assert fetcher_for().fetch(server.url()).retry_after_s == 0.0


def test_503_is_http_status_but_keeps_retry_after(server: FeedServer,
                                                  fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(503, (("Retry-After", "30"),))
    result = fetcher_for().fetch(server.url())
    _assert_failed(result, "http_status")
    assert result.retry_after_s == 30.0


@pytest.mark.parametrize(("status", "line"), [(500, "HTTP 500 Internal Server Error"),
                                              (404, "HTTP 404 Not Found")])
def test_error_status_is_http_status(server: FeedServer, fetcher_for: Callable[..., Fetcher],
                                     status: int, line: str) -> None:
    server.routes["/feed"] = Reply(status, (("Retry-After", "5"),), b"<html>oops</html>")
    result = fetcher_for().fetch(server.url())
    _assert_failed(result, "http_status")
    assert result.status == status and result.error_message == line
    assert result.retry_after_s is None  # only meaningful on 429/503
    assert not result.gone


def test_410_marks_the_feed_gone(server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(410)
    result = fetcher_for().fetch(server.url())
    _assert_failed(result, "gone")
    assert result.gone and result.status == 410


# --------------------------------------------------------------------------- caching hints


@pytest.mark.parametrize(("cache_control", "expected"), [
    ("max-age=3600", 3600.0),
    ("public, s-maxage=600", 600.0),
    ('max-age="300", s-maxage=600', 300.0),
    ("no-cache, max-age=60", None),
    ("no-store", None),
    (None, None),
])
def test_cache_control_max_age(server: FeedServer, fetcher_for: Callable[..., Fetcher],
                               cache_control: str | None, expected: float | None) -> None:
    headers = (("Cache-Control", cache_control),) if cache_control else ()
    server.routes["/feed"] = Reply(200, headers, FEED)
    assert fetcher_for().fetch(server.url()).cache_max_age_s == expected


def test_expires_header_is_parsed(server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/ok"] = Reply(200, (("Expires", "Thu, 01 Dec 2033 16:00:00 GMT"),), FEED)
    server.routes["/bad"] = Reply(200, (("Expires", "0"),), FEED)
    fetcher = fetcher_for()
    assert fetcher.fetch(server.url("/ok")).expires_at == datetime(2033, 12, 1, 16, tzinfo=UTC)
    assert fetcher.fetch(server.url("/bad")).expires_at is None


# --------------------------------------------------------------------------- redirects


def test_301_sets_permanent_redirect_and_fetches_target(
        server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/old"] = Reply(301, (("Location", server.url("/mid")),))
    server.routes["/mid"] = Reply(308, (("Location", "/new"),))
    server.routes["/new"] = Reply(200, (("Content-Type", RSS),), FEED)
    result = fetcher_for().fetch(server.url("/old"))
    assert result.ok and result.body == FEED
    assert result.requested_url == server.url("/old")
    assert result.final_url == result.permanent_redirect == server.url("/new")


@pytest.mark.parametrize("codes", [(302,), (301, 302), (307, 301), (303,)])
def test_any_temporary_hop_means_no_permanent_redirect(
        server: FeedServer, fetcher_for: Callable[..., Fetcher], codes: tuple[int, ...]) -> None:
    for i, code in enumerate(codes):
        server.routes[f"/h{i}"] = Reply(code, (("Location", f"/h{i + 1}"),))
    server.routes[f"/h{len(codes)}"] = Reply(200, body=FEED)
    result = fetcher_for().fetch(server.url("/h0"))
    assert result.ok and result.body == FEED
    assert result.final_url == server.url(f"/h{len(codes)}")
    assert result.permanent_redirect is None


def test_relative_location_is_resolved(server: FeedServer,
                                       fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/blog/old/index.xml"] = Reply(301, (("Location", "../rss.xml"),))
    server.routes["/blog/rss.xml"] = Reply(200, body=FEED)
    result = fetcher_for().fetch(server.url("/blog/old/index.xml"))
    assert result.ok and result.final_url == server.url("/blog/rss.xml")


def test_redirect_loop_is_detected(server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/a"] = Reply(302, (("Location", "/b"),))
    server.routes["/b"] = Reply(302, (("Location", "/a"),))
    result = fetcher_for(max_redirects=10).fetch(server.url("/a"))
    _assert_failed(result, "redirect_loop")
    assert len(server.seen) == 2  # stopped as soon as /a came round again


def test_redirect_limit(server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    for i in range(6):
        server.routes[f"/r{i}"] = Reply(301, (("Location", f"/r{i + 1}"),))
    server.routes["/r6"] = Reply(200, body=FEED)
    fetcher = fetcher_for(max_redirects=3)
    assert fetcher.fetch(server.url("/r3")).ok  # exactly three hops is allowed
    _assert_failed(fetcher.fetch(server.url("/r2")), "too_many_redirects")  # four is not


def test_redirect_to_non_http_scheme_is_invalid_url(
        server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(302, (("Location", "ftp://127.0.0.1/feed.xml"),))
    _assert_failed(fetcher_for().fetch(server.url()), "invalid_url")


# --------------------------------------------------------------------------- size cap


def test_gzip_bomb_is_cut_off_after_decompression(server: FeedServer,
                                                  fetcher_for: Callable[..., Fetcher]) -> None:
    bomb = gzip.compress(b"\0" * (5 * 1024 * 1024))
    assert len(bomb) < 100_000  # Content-Length alone cannot catch this
    server.routes["/feed"] = Reply(200, (("Content-Encoding", "gzip"),), bomb)
    cap = 1024 * 1024
    result = fetcher_for(max_body_bytes=cap).fetch(server.url())
    _assert_failed(result, "too_large")
    # Decoding is stepped, so we stop within one 64 KiB step of the cap instead of
    # inflating the whole 5 MB first.
    assert cap < result.bytes_read <= cap + 64 * 1024


def test_stacked_gzip_bomb_is_cut_off_within_a_step(server: FeedServer,
                                                   fetcher_for: Callable[..., Fetcher]) -> None:
    # Gzip twice multiplies the ratios: 20 MB of zeros in about a kilobyte. httpx's own
    # decoders inflate each layer of a chunk whole, so every layer is stepped here.
    bomb = gzip.compress(gzip.compress(b"\0" * (20 * 1024 * 1024)))
    assert len(bomb) < 100_000
    server.routes["/feed"] = Reply(200, (("Content-Encoding", "gzip, gzip"),), bomb)
    cap = 1024 * 1024
    result = fetcher_for(max_body_bytes=cap).fetch(server.url())
    _assert_failed(result, "too_large")
    assert cap < result.bytes_read <= cap + 64 * 1024


@pytest.mark.parametrize("codings, encode", [
    ("gzip, deflate", lambda b: zlib.compress(gzip.compress(b))),
    ("deflate, x-gzip", lambda b: gzip.compress(zlib.compress(b))),
])
def test_stacked_codings_are_decoded(server: FeedServer, fetcher_for: Callable[..., Fetcher],
                                     codings: str, encode: Callable[[bytes], bytes]) -> None:
    server.routes["/feed"] = Reply(200, (("Content-Encoding", codings),), encode(FEED))
    assert fetcher_for().fetch(server.url()).body == FEED


def test_more_stacked_codings_than_any_server_sends_are_refused(
        server: FeedServer, fetcher_for: Callable[..., Fetcher]) -> None:
    body = FEED
    for _ in range(5):
        body = gzip.compress(body)
    server.routes["/feed"] = Reply(200, (("Content-Encoding", ", ".join(["gzip"] * 5)),), body)
    result = fetcher_for().fetch(server.url())
    _assert_failed(result, "connection")
    assert "5 stacked content codings" in (result.error_message or "")


def test_oversized_content_length_is_rejected_before_reading(
        raw_server: Callable[..., str], fetcher_for: Callable[..., Fetcher]) -> None:
    def huge_then_silent(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n")
        stop.wait(5)  # would cost a read timeout if the client waited for the body

    result = fetcher_for(max_body_bytes=1024 * 1024, read_timeout=5).fetch(
        raw_server(huge_then_silent))
    _assert_failed(result, "too_large")
    assert result.duration_s < 2 and result.bytes_read == 0


def test_body_exactly_at_cap_is_accepted(server: FeedServer,
                                         fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/feed"] = Reply(200, body=b"x" * 4096)
    assert fetcher_for(max_body_bytes=4096).fetch(server.url()).ok
    _assert_failed(fetcher_for(max_body_bytes=4095).fetch(server.url()), "too_large")


# --------------------------------------------------------------------------- timeouts


def test_server_that_never_answers_times_out(raw_server: Callable[..., str],
                                             fetcher_for: Callable[..., Fetcher]) -> None:
    url = raw_server(lambda conn, stop: stop.wait(5))
    started = time.monotonic()
    result = fetcher_for(read_timeout=0.5, total_timeout=5).fetch(url)
    _assert_failed(result, "timeout")
    assert result.status is None
    assert 0.4 <= time.monotonic() - started < 2


def test_dripping_server_is_cut_off_by_total_timeout(raw_server: Callable[..., str],
                                                     fetcher_for: Callable[..., Fetcher]) -> None:
    def drip(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        # One byte every 50 ms: never silent long enough for read_timeout. (Gives up after
        # 5 s so a broken client fails this test instead of hanging the suite.)
        for _ in range(100):
            if stop.wait(0.05):
                return
            conn.sendall(b"1\r\nx\r\n")

    started = time.monotonic()
    result = fetcher_for(read_timeout=0.5, total_timeout=1.0).fetch(raw_server(drip))
    _assert_failed(result, "timeout")
    assert result.status == 200 and result.bytes_read > 5
    assert 0.9 <= time.monotonic() - started < 2


def test_silence_after_headers_is_bounded_by_total_not_read_timeout(
        raw_server: Callable[..., str], fetcher_for: Callable[..., Fetcher]) -> None:
    def stall(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        stop.wait(5)

    started = time.monotonic()
    result = fetcher_for(read_timeout=10, total_timeout=0.8).fetch(raw_server(stall))
    _assert_failed(result, "timeout")
    assert time.monotonic() - started < 2


# --------------------------------------------------------------------------- connection failures


def test_connection_refused(fetcher_for: Callable[..., Fetcher]) -> None:
    with socket.socket() as probe:  # find a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetcher_for(connect_timeout=2).fetch(f"http://127.0.0.1:{port}/feed")
    _assert_failed(result, "connection")
    assert result.status is None


def test_connection_closed_inside_headers(raw_server: Callable[..., str],
                                          fetcher_for: Callable[..., Fetcher]) -> None:
    def half_headers(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: appl")

    result = fetcher_for(read_timeout=2).fetch(raw_server(half_headers))
    _assert_failed(result, "connection")
    assert result.status is None


def test_connection_reset_mid_body(raw_server: Callable[..., str],
                                   fetcher_for: Callable[..., Fetcher]) -> None:
    def reset(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<rss><chan")
        time.sleep(0.1)
        # SO_LINGER 0 turns close() into a TCP RST rather than a polite FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    result = fetcher_for(read_timeout=2).fetch(raw_server(reset))
    _assert_failed(result, "connection")
    assert result.status == 200  # the response had started; the archive still sees it


def test_tls_failure_is_reported_as_tls(server: FeedServer,
                                        fetcher_for: Callable[..., Fetcher]) -> None:
    # Speaking TLS to a plain-HTTP port fails the handshake.
    result = fetcher_for(read_timeout=2).fetch(f"https://127.0.0.1:{server.port}/feed")
    _assert_failed(result, "tls")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("url", ["ftp://example.invalid/feed.xml", "not a url", "http://",
                                 "", "http://exa mple.com/feed", "http://[::1/feed",
                                 "file:///etc/passwd", "/relative/feed.xml",
                                 "http://127.0.0.1:99999/feed"])
def test_invalid_url_is_returned_not_raised(fetcher_for: Callable[..., Fetcher], url: str) -> None:
    result = fetcher_for().fetch(url)
    _assert_failed(result, "invalid_url")
    assert result.status is None and result.requested_url == url


def test_misuse_raises_fetch_error(fetcher_for: Callable[..., Fetcher]) -> None:
    with pytest.raises(FetchError):
        fetcher_for().fetch(None)  # type: ignore[arg-type]
    with pytest.raises(FetchError):
        FetchPolicy(total_timeout=0)
    with Fetcher() as fetcher:
        pass
    with pytest.raises(FetchError):
        fetcher.fetch("http://127.0.0.1/feed")


# --------------------------------------------------------------------------- client behaviour


def test_cookies_do_not_leak_between_fetches(server: FeedServer,
                                             fetcher_for: Callable[..., Fetcher]) -> None:
    server.routes["/a"] = Reply(200, (("Set-Cookie", "session=secret; Path=/"),), FEED)
    server.routes["/b"] = Reply(200, body=FEED)
    fetcher = fetcher_for()
    fetcher.fetch(server.url("/a"))
    fetcher.fetch(server.url("/b"))
    assert server.seen[1].headers["Cookie"] is None


def test_concurrent_fetches_share_one_fetcher(server: FeedServer,
                                              fetcher_for: Callable[..., Fetcher]) -> None:
    for i in range(16):
        server.routes[f"/f{i}"] = Reply(200, body=f"feed {i}".encode() * 100)
    fetcher = fetcher_for()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: fetcher.fetch(server.url(f"/f{i % 16}")), range(48)))
    for i, result in enumerate(results):
        assert result.ok and result.body == f"feed {i % 16}".encode() * 100


# --------------------------------------------------------------------------- address safety
#
# Nothing here may send a packet to a non-loopback address: blocked addresses must be
# refused before any connect, which `connects` (every TCP connect httpcore makes) proves.


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    made: list[tuple[str, int]] = []
    real = socket.create_connection

    def recording(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        made.append((address[0], address[1]))
        peer = ipaddress.ip_address(address[0])
        assert (getattr(peer, "ipv4_mapped", None) or peer).is_loopback, f"connect to {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return made


class FirstHopOnly(AddressGuard):
    """The default policy, except that one local server counts as a public one.

    There is no public server here, so this stands in for "a feed on the internet" and lets
    the tests see what the default policy does with the redirects that server answers.
    """

    def __init__(self, port: int, resolver: Any = system_resolver) -> None:
        super().__init__(allow_private=False, resolver=resolver)
        self.port = port

    def blocked_reason(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                       port: int) -> str | None:
        if str(address) == "127.0.0.1" and port == self.port:
            return None
        return super().blocked_reason(address, port)


def _assert_blocked(result: FetchResult, *fragments: str) -> None:
    _assert_failed(result, "blocked_address")
    assert result.status is None or 300 <= result.status < 400
    assert result.permanent_redirect is None  # a hostile 301 never moves the feed
    for fragment in fragments:
        assert fragment in (result.error_message or ""), result.error_message
    assert "allow_private_addresses" in (result.error_message or "")


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:{port}/feed", "127.0.0.1 is a loopback address"),
    ("http://localhost:{port}/feed", "localhost resolves to"),
    ("http://[::1]:{port}/feed", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]:{port}/feed", "loopback (as 127.0.0.1)"),
    ("http://2130706433:{port}/feed", "loopback"),       # 127.0.0.1 as one decimal number
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "private"),
    ("http://10.0.0.1/feed", "10.0.0.1 is a private address"),
    ("http://0.0.0.0:{port}/feed", "unspecified"),
])
def test_default_policy_refuses_local_addresses_before_connecting(
        server: FeedServer, connects: list[tuple[str, int]], url: str, reason: str) -> None:
    server.routes["/feed"] = Reply(200, (("Content-Type", RSS),), FEED)
    with Fetcher(FetchPolicy()) as fetcher:
        result = fetcher.fetch(url.format(port=server.port))
    _assert_blocked(result, reason)
    assert connects == [] and server.seen == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"])
def test_allow_private_addresses_fetches_them(start_server: Callable[[str], FeedServer],
                                              connects: list[tuple[str, int]], host: str) -> None:
    local = start_server("::1" if host == "[::1]" else "127.0.0.1")
    local.routes["/feed"] = Reply(200, (("Content-Type", RSS),), FEED)
    with Fetcher(FetchPolicy(allow_private_addresses=True)) as fetcher:
        result = fetcher.fetch(f"http://{host}:{local.port}/feed")
    assert result.ok and result.body == FEED and len(local.seen) == 1


def test_redirect_to_loopback_is_refused(start_server: Callable[[str], FeedServer],
                                         connects: list[tuple[str, int]]) -> None:
    public, internal = start_server("127.0.0.1"), start_server("127.0.0.1")
    internal.routes["/admin"] = Reply(200, (("Content-Type", RSS),), FEED)
    public.routes["/feed"] = Reply(302, (("Location", internal.url("/admin")),))
    with Fetcher(FetchPolicy(), FirstHopOnly(public.port)) as fetcher:
        result = fetcher.fetch(public.url())
    _assert_blocked(result, f"redirect to {internal.url('/admin')} refused",
                    "127.0.0.1 is a loopback address")
    assert result.status == 302 and result.final_url == internal.url("/admin")
    assert len(public.seen) == 1 and internal.seen == []
    assert connects == [("127.0.0.1", public.port)]


@pytest.mark.parametrize("code", [301, 302, 307, 308])
@pytest.mark.parametrize("location", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",     # NAT64 form of 169.254.169.254
    "http://[2002:a9fe:a9fe::1]/latest/meta-data/",      # 6to4 form of 169.254.169.254
])
def test_redirect_to_the_metadata_address_is_refused_before_any_connect(
        server: FeedServer, connects: list[tuple[str, int]], code: int, location: str) -> None:
    server.routes["/feed"] = Reply(code, (("Location", location),))
    with Fetcher(FetchPolicy(), FirstHopOnly(server.port)) as fetcher:
        result = fetcher.fetch(server.url())
    _assert_blocked(result, "link-local", f"redirect to {location} refused")
    assert connects == [("127.0.0.1", server.port)]


def test_redirect_to_a_name_resolving_to_link_local_is_refused(
        server: FeedServer, connects: list[tuple[str, int]]) -> None:
    names = {"metadata.example": ["169.254.169.254"]}
    guard = FirstHopOnly(server.port, resolver=lambda host, port: names[host])
    server.routes["/feed"] = Reply(302, (("Location", "http://metadata.example/latest"),))
    with Fetcher(FetchPolicy(), guard) as fetcher:
        result = fetcher.fetch(server.url())
    _assert_blocked(result, "metadata.example resolves to 169.254.169.254 (link-local)")
    assert connects == [("127.0.0.1", server.port)]


def test_redirects_to_local_servers_are_followed_when_allowed(
        start_server: Callable[[str], FeedServer], connects: list[tuple[str, int]]) -> None:
    public, internal = start_server("127.0.0.1"), start_server("127.0.0.1")
    internal.routes["/feed"] = Reply(200, (("Content-Type", RSS),), FEED)
    public.routes["/feed"] = Reply(301, (("Location", internal.url()),))
    with Fetcher(FetchPolicy(allow_private_addresses=True)) as fetcher:
        result = fetcher.fetch(public.url())
    assert result.ok and result.body == FEED and result.permanent_redirect == internal.url()


def test_public_name_resolving_to_a_private_address_is_refused(
        connects: list[tuple[str, int]]) -> None:
    guard = AddressGuard(resolver=lambda host, port: ["10.20.30.40", "192.168.1.1"])
    with Fetcher(FetchPolicy(), guard) as fetcher:
        result = fetcher.fetch("https://feeds.example.com/rss")
    _assert_blocked(result, "https://feeds.example.com/rss refused",
                    "feeds.example.com resolves to 10.20.30.40 (private), 192.168.1.1 (private)")
    assert connects == []


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
        server: FeedServer, connects: list[tuple[str, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS rebinding: a name that answers "allowed" to the check and something else to a
    # second lookup. Here any second lookup of the name fails the test outright.
    lookups: list[str] = []

    def first_answer(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    real_getaddrinfo = socket.getaddrinfo

    def no_second_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert host != "feeds.example", "the name was resolved again after the check"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_second_lookup)
    server.routes["/feed"] = Reply(200, (("Content-Type", RSS),), FEED)
    with Fetcher(FetchPolicy(), FirstHopOnly(server.port, resolver=first_answer)) as fetcher:
        result = fetcher.fetch(f"http://feeds.example:{server.port}/feed")
    assert result.ok and result.body == FEED
    assert lookups == ["feeds.example"] and connects == [("127.0.0.1", server.port)]
    assert server.seen[0].headers["Host"] == f"feeds.example:{server.port}"


def test_unresolvable_name_is_a_connection_error(connects: list[tuple[str, int]]) -> None:
    def nxdomain(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with Fetcher(FetchPolicy(), AddressGuard(resolver=nxdomain)) as fetcher:
        result = fetcher.fetch("http://no-such-feed.example/rss")
    _assert_failed(result, "connection")
    assert "no-such-feed.example" in (result.error_message or "") and connects == []


@pytest.mark.parametrize(("content_type", "read"), [
    ("text/html; charset=utf-8", True), ("APPLICATION/XHTML+XML", True), (None, True),
    ("application/pdf", False), ("image/png", False), ("application/rss+xml", False),
])
def test_a_policy_of_page_types_refuses_other_bodies_unread(server: FeedServer, fetcher_for: Callable[..., Fetcher],
                                                            content_type: str | None, read: bool) -> None:
    headers = (("Content-Type", content_type),) if content_type else ()
    server.routes["/page"] = Reply(200, headers, b"<html>x</html>")
    result = fetcher_for(content_types=("text/html", "application/xhtml+xml"), accept="text/html").fetch(server.url("/page"))
    assert server.seen[0].headers["Accept"] == "text/html"
    if read:
        assert result.ok and result.body == b"<html>x</html>"
    else:
        _assert_failed(result, "unwanted_type")
        assert (content_type or "").split(";")[0].lower() in (result.error_message or "") and result.bytes_read == 0


def test_a_webhooks_compressed_answer_is_read_a_step_at_a_time(raw_server: Callable[..., str]) -> None:
    # Only the start of a failing webhook's answer is kept, for the error message; httpx
    # inflated a whole chunk first, and a 2 KB answer coded "gzip, gzip" held 1 GiB.
    bomb = gzip.compress(gzip.compress(b"\0" * (64 * 1024 * 1024)))
    readable = gzip.compress(b"quota exceeded " * 200)

    def answer(body: bytes, codings: str) -> Callable[[socket.socket, threading.Event], None]:
        return lambda conn, _: conn.sendall(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Encoding: " + codings.encode()
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

    poster = WebhookPoster("t")
    try:
        tracemalloc.start()
        try:
            result = poster.post(raw_server(answer(bomb, "gzip, gzip")), b"{}", {}, 10)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.status == 500 and peak < 16 * 1024 * 1024  # not the 64 MiB it holds
        result = poster.post(raw_server(answer(readable, "gzip")), b"{}", {}, 10)
        assert result.error is not None and result.error.startswith("HTTP 500 Internal Server Error: quota exceeded")
    finally:
        poster.close()

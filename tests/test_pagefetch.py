"""The live page fetcher against real HTTP on 127.0.0.1, with a fake page store: robots.txt,
politeness per host, HTML only, conditional GET, failures recorded with their retry time."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.feedserver import FeedServer
from tracker.addresses import AddressGuard
from tracker.archive import WarcArchive
from tracker.config import PagesConfig, PollingConfig
from tracker.model import utcnow
from tracker.pagefetch import PageCapture, PageFetcher, PageOutcome, PageRequest, retry_at
from tracker.politeness import HostGate, origin_of, product_token

PAGE = b"<!doctype html><html><head><title>Story</title></head><body><article><p>The whole article.</p></article></body></html>"
HTML = "text/html; charset=utf-8"


class FakeStore:
    """The PageStore interface, in memory: what is due, what was stored, what failed."""

    def __init__(self, requests: list[PageRequest] = ()) -> None:  # type: ignore[assignment]
        self.due = list(requests)
        self.stored: list[PageCapture] = []
        self.failures: dict[int, tuple[str, str, datetime | None]] = {}
        self.refuse = False
        self.lock = threading.Lock()
        self.settled = threading.Event()

    def items_needing_pages(self, limit: int) -> list[PageRequest]:
        with self.lock:
            return self.due[:limit]

    def _settle(self, item_id: int) -> None:
        self.due = [r for r in self.due if r.item_id != item_id]
        if not self.due:
            self.settled.set()

    def store_page(self, capture: PageCapture) -> None:
        if self.refuse:
            raise RuntimeError("the database refused it")
        with self.lock:
            self.stored.append(capture)
            self._settle(capture.item_id)

    def record_page_failure(self, item_id: int, kind: str, message: str, retry_at: datetime | None) -> None:
        with self.lock:
            self.failures[item_id] = (kind, message, retry_at)
            self._settle(item_id)


class FirstHopOnly(AddressGuard):
    """The default address policy, except that one local server stands for a public site."""

    def __init__(self, port: int) -> None:
        super().__init__(allow_private=False)
        self.port = port

    def blocked_reason(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str | None:
        if str(address) == "127.0.0.1" and port == self.port:
            return None
        return super().blocked_reason(address, port)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.close()


POLLING = PollingConfig(connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0, allow_private_addresses=True,
                        user_agent="tracker-test/1.0 (+https://example.invalid)")


def make(store: FakeStore, **pages: object) -> PageFetcher:
    settings = {"host_delay_seconds": 0.0, "max_body_bytes": 64 * 1024, **pages}
    extra = {k: settings.pop(k) for k in ("archive", "robots_exempt", "guard", "on_outcome") if k in settings}
    return PageFetcher(store, PagesConfig(**settings), POLLING, **extra)  # type: ignore[arg-type]


def run(fetcher: PageFetcher) -> None:
    """Take every queued request in turn, as one worker would, until none is left."""
    fetcher.refill()
    stop = threading.Event()
    while len(fetcher.gate):
        taken = fetcher.gate.take(stop, longest=0.01)
        assert taken is not None
        fetcher.gate.done(taken[0], fetcher.fetch_one(taken[1]))


def page_route(server: FeedServer, path: str, body: bytes = PAGE, etag: str = '"p1"') -> None:
    def answer(handler):  # type: ignore[no-untyped-def]
        if handler.headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": HTML, "ETag": etag, "Last-Modified": "Tue, 07 Jan 2025 09:00:00 GMT"}, body
    server.routes[path] = answer


def test_a_page_is_fetched_stored_and_archived_then_asked_again_conditionally(server: FeedServer, tmp_path: Path) -> None:
    page_route(server, "/story")
    store = FakeStore([PageRequest(1, server.url("/story"), "https://feed.example/rss")])
    archive = WarcArchive(tmp_path / "archive")
    fetcher = make(store, archive=archive)
    run(fetcher)
    [capture] = store.stored
    assert (capture.item_id, capture.status, capture.body, capture.etag, capture.not_modified) == (1, 200, PAGE, '"p1"', False)
    # Again, with what was learnt: a 304, stored as "unchanged".
    store.due = [PageRequest(1, server.url("/story"), None, capture.etag, capture.last_modified)]
    run(fetcher)
    assert store.stored[1].not_modified and store.stored[1].body is None
    assert server.hits("/story")[1]["If-None-Match"] == '"p1"'
    assert server.count("/robots.txt") == 1  # robots.txt is kept, not asked per page
    fetcher.stop()
    archive.close()
    records = []
    for path in sorted((tmp_path / "archive").iterdir()):
        with path.open("rb") as stream:
            records += [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read()) for r in ArchiveIterator(stream)]
    assert records == [("response", server.url("/story"), PAGE), ("revisit", server.url("/story"), b"")]


def test_robots_txt_is_obeyed_unless_the_feed_opts_out(server: FeedServer) -> None:
    server.routes["/robots.txt"] = lambda _h: (200, {"Content-Type": "text/plain"}, b"User-agent: tracker-test\nDisallow: /private/\n")
    page_route(server, "/private/a")
    page_route(server, "/public/b")
    store = FakeStore([PageRequest(1, server.url("/private/a"), "https://f.example/1"), PageRequest(2, server.url("/public/b"), "https://f.example/1")])
    run(make(store))
    assert store.failures[1][0] == "robots_disallowed" and "disallows" in store.failures[1][1]
    assert [c.item_id for c in store.stored] == [2] and server.count("/private/a") == 0
    exempt = FakeStore([PageRequest(3, server.url("/private/a"), "https://own.example/rss")])
    run(make(exempt, robots_exempt={"https://own.example/rss"}))
    assert [c.item_id for c in exempt.stored] == [3]


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (410, True), (403, True), (500, False), (429, False)])
def test_robots_txt_answers_per_rfc_9309(server: FeedServer, status: int, allowed: bool) -> None:
    server.status("/robots.txt", status)
    page_route(server, "/a")
    store = FakeStore([PageRequest(1, server.url("/a"))])
    run(make(store))
    assert bool(store.stored) is allowed
    if not allowed:
        kind, message, again = store.failures[1]
        assert kind == "robots_disallowed" and "unreachable" in message and again is not None


def test_only_html_is_read_and_other_failures_are_recorded_with_their_retry(server: FeedServer) -> None:
    server.routes["/doc.pdf"] = lambda _h: (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7" + b"x" * 1000)
    server.status("/missing", 404)
    server.routes["/huge"] = lambda _h: (200, {"Content-Type": HTML}, b"<p>" + b"x" * 100_000)
    server.routes["/busy"] = lambda _h: (429, {"Retry-After": "7200", "Content-Type": "text/plain"}, b"slow down")
    paths = ["/doc.pdf", "/missing", "/huge", "/busy"]
    store = FakeStore([PageRequest(n, server.url(p)) for n, p in enumerate(paths)])
    outcomes: list[PageOutcome] = []
    before = utcnow()
    run(make(store, on_outcome=outcomes.append, retry_seconds=60))
    kinds = {n: store.failures[n][0] for n in range(4)}
    assert kinds == {0: "unwanted_type", 1: "http_status", 2: "too_large", 3: "rate_limited"}
    assert "application/pdf" in store.failures[0][1] and store.failures[0][2] is None  # never again
    assert store.failures[2][2] is None
    missing_retry, busy_retry = store.failures[1][2], store.failures[3][2]
    assert missing_retry is not None and before + timedelta(seconds=60) <= missing_retry < before + timedelta(seconds=120)
    assert busy_retry is not None and busy_retry >= before + timedelta(seconds=7200)  # Retry-After honoured
    assert sorted(o.outcome for o in outcomes) == sorted(kinds.values())


def test_a_page_redirecting_to_a_private_address_is_refused(server: FeedServer) -> None:
    server.routes["/go"] = lambda _h: (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    server.routes["/robots.txt"] = lambda _h: (404, {}, b"")
    store = FakeStore([PageRequest(1, server.url("/go"))])
    polling = POLLING.model_copy(update={"allow_private_addresses": False})
    fetcher = PageFetcher(store, PagesConfig(host_delay_seconds=0.0), polling, guard=FirstHopOnly(int(server.base.rsplit(":", 1)[1])))
    run(fetcher)
    kind, message, again = store.failures[1]
    assert kind == "blocked_address" and "169.254.169.254" in message and again is None


def test_a_page_the_database_refuses_is_recorded_and_retried_later(server: FeedServer) -> None:
    page_route(server, "/a")
    store = FakeStore([PageRequest(1, server.url("/a"))])
    store.refuse = True
    run(make(store))
    kind, message, again = store.failures[1]
    assert kind == "store" and "refused" in message and again is not None


def test_back_off_doubles_and_gives_up() -> None:
    config = PagesConfig(retry_seconds=100, max_retry_seconds=350, max_attempts=4)
    now = datetime(2026, 1, 1)
    assert [retry_at("timeout", n, config, now) for n in range(4)] == [
        now + timedelta(seconds=100), now + timedelta(seconds=200), now + timedelta(seconds=350), None,
    ]
    assert retry_at("gone", 0, config, now) is None


def test_the_gate_gives_a_host_one_request_at_a_time_and_a_rest() -> None:
    clock = [0.0]
    gate: HostGate[str] = HostGate(clock=lambda: clock[0])
    stop = threading.Event()
    for name in ("a1", "a2", "b1"):
        gate.put(name[0], name)
    assert gate.take(stop, 0.001) == ("a", "a1")
    assert gate.take(stop, 0.001) == ("b", "b1")  # a is busy: b goes first
    gate.done("a", 5.0)
    stop_after_one_look = threading.Timer(0.05, stop.set)
    stop_after_one_look.start()
    assert gate.take(stop, 0.01) is None  # a is resting
    stop.clear()
    clock[0] = 5.0
    assert gate.take(stop, 0.001) == ("a", "a2")


def test_pages_of_one_host_never_overlap_with_many_workers(server: FeedServer) -> None:
    server.delay = 0.05
    server.routes["/robots.txt"] = lambda _h: (404, {}, b"")
    for n in range(6):
        page_route(server, f"/p{n}")
    store = FakeStore([PageRequest(n, server.url(f"/p{n}")) for n in range(6)])
    fetcher = make(store, workers=4, refill_seconds=0.05)
    fetcher.start()
    try:
        assert store.settled.wait(20)
    finally:
        fetcher.stop()
    assert len(store.stored) == 6 and all(server.count(f"/p{n}") == 1 for n in range(6))
    assert sum(server.overlaps.values()) == 0 and max(server.active.values()) == 0
    # One at a time: each request arrived after the previous one was answered.
    times = [t for path, t in server.arrivals if path.startswith("/p")]
    assert all(b - a >= 0.05 for a, b in zip(times, times[1:]))


def test_origin_and_product_token() -> None:
    assert origin_of("HTTPS://News.Example:443/a?b") == "https://news.example"
    assert origin_of("http://news.example:8080/a") == "http://news.example:8080"
    assert product_token("tracker/0.1 (+https://x)") == "tracker"

"""The live page fetcher against real HTTP on 127.0.0.1, with a fake page store: robots.txt,
politeness per host, HTML only, conditional GET, failures recorded with their retry time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from warcio.archiveiterator import ArchiveIterator

from tests.builders import T0, Item, article, capture, rss
from tests.conftest import make_pipeline
from tests.feedserver import FeedServer, OnePublicPort
from tracker.reader.archive import WarcArchive
from tracker.config import PagesConfig, PollingConfig
from tracker.model import IngestReport, PageCapture, PageRequest
from tracker.daemon.pagefetch import PageFetcher, PageOutcome
from tracker.reader.fetch import Fetcher, FetchPolicy, FetchResult
from tracker.ingest.archives import ingest_paths
from tracker.reader.politeness import HostGate, RobotsCache, origin_of, product_token

PAGE = b"<!doctype html><html><head><title>Story</title></head><body><article><p>The whole article.</p></article></body></html>"
HTML = "text/html; charset=utf-8"


class FakeStore:
    """The PageStore interface, in memory: what is due, and every capture handed back."""

    def __init__(self, requests: list[PageRequest] = (), exempt: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.due = list(requests)
        self.exempt = set(exempt)
        self.captures: list[PageCapture] = []
        self.refuse = False
        self.lock = threading.Lock()
        self.settled = threading.Event()

    def pages_wanted(self, limit: int) -> list[PageRequest]:
        with self.lock:
            return self.due[:limit]

    def robots_exempt(self, requests: list[PageRequest]) -> set[int]:
        return {r.item_id for r in requests} & self.exempt

    def process_page(self, capture: PageCapture) -> IngestReport:
        if self.refuse:
            raise RuntimeError("the database refused it")
        with self.lock:
            self.captures.append(capture)
            self.due = [r for r in self.due if r.url != capture.url]
            if not self.due:
                self.settled.set()
        return IngestReport()

    @property
    def stored(self) -> list[PageCapture]:
        return [c for c in self.captures if c.error is None]

    @property
    def failures(self) -> dict[str, PageCapture]:
        return {c.url.rsplit("/", 1)[1]: c for c in self.captures if c.error is not None}


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.close()


POLLING = PollingConfig(connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0, allow_private_addresses=True,
                        user_agent="tracker-test/1.0 (+https://example.invalid)")


def request(n: int, url: str, etag: str | None = None, last_modified: str | None = None) -> PageRequest:
    return PageRequest(n, url, 0, etag, last_modified)


def make(store: FakeStore, polling: PollingConfig = POLLING, **options: object) -> PageFetcher:
    settings = {"host_delay_seconds": 0.0, "max_body_bytes": 64 * 1024, **options}
    extra = {k: settings.pop(k) for k in ("archive", "guard", "on_outcome") if k in settings}
    return PageFetcher(store, PagesConfig(**settings), polling, **extra)  # type: ignore[arg-type]


def run(fetcher: PageFetcher) -> None:
    """Take every queued request in turn, as one worker would, until none is left."""
    fetcher.refill()
    stop = threading.Event()
    while len(fetcher.gate):
        taken = fetcher.gate.take(stop, longest=0.01)
        assert taken is not None
        host, (wanted, obey) = taken
        fetcher.gate.done(host, fetcher.fetch_one(wanted, obey))


def page_route(server: FeedServer, path: str, body: bytes = PAGE, etag: str = '"p1"') -> None:
    def answer(handler):  # type: ignore[no-untyped-def]
        if handler.headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": HTML, "ETag": etag, "Last-Modified": "Tue, 07 Jan 2025 09:00:00 GMT"}, body
    server.routes[path] = answer


def warc_records(folder: Path) -> list[tuple[str, str, str, bytes]]:
    records = []
    for path in sorted(folder.iterdir()):
        with path.open("rb") as stream:
            for r in ArchiveIterator(stream):
                records.append((r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.http_headers.get_statuscode(),
                                r.content_stream().read()))
    return records


def test_a_page_is_fetched_stored_and_archived_then_asked_again_conditionally(server: FeedServer, tmp_path: Path) -> None:
    page_route(server, "/story")
    server.routes["/old-link"] = lambda _h: (301, {"Location": "/story"}, b"")
    store = FakeStore([request(1, server.url("/old-link"))])
    archive = WarcArchive(tmp_path / "archive")
    fetcher = make(store, archive=archive)
    run(fetcher)
    [capture] = store.captures
    assert (capture.url, capture.final_url, capture.status, capture.body) == (server.url("/old-link"), server.url("/story"), 200, PAGE)
    assert capture.header("ETag") == '"p1"' and capture.error is None
    # Again, with what was learnt: a 304, handed back without a body.
    store.due = [request(1, server.url("/story"), '"p1"', "Tue, 07 Jan 2025 09:00:00 GMT")]
    run(fetcher)
    assert (store.captures[1].status, store.captures[1].body, store.captures[1].error) == (304, None, None)
    assert server.hits("/story")[1]["If-None-Match"] == '"p1"'
    assert server.count("/robots.txt") == 1  # robots.txt is kept, not asked per page
    fetcher.stop()
    archive.close()
    # The redirect, the page and the revisit, as a crawler writes them: ingest joins them to the link.
    assert warc_records(tmp_path / "archive") == [
        ("response", server.url("/old-link"), "301", b""), ("response", server.url("/story"), "200", PAGE),
        ("revisit", server.url("/story"), "304", b""),
    ]


def test_robots_txt_is_obeyed_unless_the_feed_opts_out(server: FeedServer) -> None:
    server.routes["/robots.txt"] = lambda _h: (200, {"Content-Type": "text/plain"}, b"User-agent: tracker-test\nDisallow: /private/\n")
    page_route(server, "/private/a")
    page_route(server, "/public/b")
    store = FakeStore([request(1, server.url("/private/a")), request(2, server.url("/public/b"))])
    run(make(store))
    refused = store.failures["a"]
    assert refused.error_kind == "robots" and "disallows" in (refused.error or "") and refused.status is None
    assert [c.url for c in store.stored] == [server.url("/public/b")] and server.count("/private/a") == 0
    exempt = FakeStore([request(3, server.url("/private/a"))], exempt={3})
    run(make(exempt))
    assert [c.url for c in exempt.stored] == [server.url("/private/a")]


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (410, True), (403, True), (500, False), (429, False)])
def test_robots_txt_answers_per_rfc_9309(server: FeedServer, status: int, allowed: bool) -> None:
    server.status("/robots.txt", status)
    page_route(server, "/a")
    store = FakeStore([request(1, server.url("/a"))])
    run(make(store))
    assert bool(store.stored) is allowed
    if not allowed:
        assert store.failures["a"].error_kind == "robots" and "unreachable" in (store.failures["a"].error or "")


def test_only_html_is_read_and_failures_are_handed_back_as_data(server: FeedServer) -> None:
    server.routes["/doc.pdf"] = lambda _h: (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7" + b"x" * 1000)
    server.status("/missing", 404)
    server.routes["/huge"] = lambda _h: (200, {"Content-Type": HTML}, b"<p>" + b"x" * 100_000)
    server.routes["/busy"] = lambda _h: (429, {"Retry-After": "7200", "Content-Type": "text/plain"}, b"slow down")
    server.routes["/robots.txt"] = lambda _h: (404, {}, b"")
    paths = ["/doc.pdf", "/missing", "/huge", "/busy"]
    store = FakeStore([request(n, server.url(p)) for n, p in enumerate(paths)])
    outcomes: list[PageOutcome] = []
    fetcher = make(store, on_outcome=outcomes.append)
    fetcher.refill()
    rests = {}
    stop = threading.Event()
    while len(fetcher.gate):
        host, (wanted, obey) = fetcher.gate.take(stop, 0.01)  # type: ignore[misc]
        rests[wanted.url.rsplit("/", 1)[1]] = rest = fetcher.fetch_one(wanted, obey)
        fetcher.gate.done(host, 0.0)
    kinds = {name: (c.error_kind, c.status, c.body) for name, c in store.failures.items()}
    assert kinds == {"doc.pdf": ("not_html", 200, None), "missing": ("http_status", 404, None),
                     "huge": ("too_large", 200, None), "busy": ("rate_limited", 429, None)}
    assert "application/pdf" in (store.failures["doc.pdf"].error or "") and server.count("/doc.pdf") == 1
    assert rests["busy"] == 3600.0 and rests["missing"] == 0.0  # the host rests as long as Retry-After asks (capped)
    assert sorted(o.outcome for o in outcomes) == ["http_status", "not_html", "rate_limited", "too_large"]


def test_a_page_redirecting_to_a_private_address_is_refused(server: FeedServer) -> None:
    server.routes["/go"] = lambda _h: (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    server.routes["/robots.txt"] = lambda _h: (404, {}, b"")
    store = FakeStore([request(1, server.url("/go"))])
    polling = POLLING.model_copy(update={"allow_private_addresses": False})
    run(make(store, polling, guard=OnePublicPort(int(server.base.rsplit(":", 1)[1]))))
    refused = store.failures["go"]
    assert refused.error_kind == "blocked_address" and "169.254.169.254" in (refused.error or "")


def test_a_page_the_database_refuses_is_not_fetched_again_at_once(server: FeedServer) -> None:
    page_route(server, "/a")
    store = FakeStore([request(1, server.url("/a"))])
    store.refuse = True
    outcomes: list[PageOutcome] = []
    fetcher = make(store, on_outcome=outcomes.append)
    run(fetcher)
    assert [o.outcome for o in outcomes] == ["store"]
    assert fetcher.refill() == 0 and server.count("/a") == 1  # cooling down, though the store still wants it


def test_refill_queues_an_item_once(server: FeedServer) -> None:
    store = FakeStore([request(1, server.url("/a")), request(2, server.url("/b"))])
    fetcher = make(store, queue=5)
    assert (fetcher.refill(), fetcher.refill()) == (2, 0)
    assert len(fetcher.gate) == 2


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
    store = FakeStore([request(n, server.url(f"/p{n}")) for n in range(6)])
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
    # An IPv6 host keeps its brackets: its robots.txt URL must be a URL of that host again.
    assert origin_of("http://[::1]:18731/a") == "http://[::1]:18731"
    assert urlsplit(origin_of("https://[2001:DB8::1]/a") + "/robots.txt").hostname == "2001:db8::1"
    assert product_token("tracker/0.1 (+https://x)") == "tracker"


def test_one_site_cannot_fill_the_queue() -> None:
    busy = [request(n, f"https://busy.example/{n}") for n in range(30)]
    store = FakeStore([*busy, request(100, "https://quiet.example/a")])
    fetcher = make(store, queue=20)
    assert fetcher.refill() == 11  # ten of the busy site's, and the quiet site's one behind them
    assert {wanted.url.split("/")[2] for _, (wanted, _) in fetcher.gate._pending} == {"busy.example", "quiet.example"}


def test_a_sites_crawl_delay_rests_its_host(server: FeedServer) -> None:
    server.routes["/robots.txt"] = lambda _h: (200, {"Content-Type": "text/plain"}, b"User-agent: *\nCrawl-delay: 7\n")
    page_route(server, "/a")
    store = FakeStore([request(1, server.url("/a"))])
    fetcher = make(store, host_delay_seconds=1.0)
    fetcher.refill()
    stop = threading.Event()
    rests = []
    while len(fetcher.gate):
        host, (wanted, obey) = fetcher.gate.take(stop, 0.01)  # type: ignore[misc]
        rests.append(fetcher.fetch_one(wanted, obey))
        fetcher.gate.done(host, 0.0)
    assert rests == [7.0, 7.0] and len(store.stored) == 1  # after robots.txt, and after the page


def test_robots_rules_are_kept_until_they_expire() -> None:
    clock = [0.0]
    asked: list[str] = []

    def fetch(url: str) -> FetchResult:
        asked.append(url)
        with Fetcher(FetchPolicy(connect_timeout=0.5, allow_private_addresses=True)) as fetcher:
            return fetcher.fetch("http://127.0.0.1:9/robots.txt")  # nothing listens there: "unreachable"

    cache = RobotsCache(fetch, "tracker", ttl=100.0, clock=lambda: clock[0])
    assert cache.rules("https://site.example/a") is None
    assert not cache.load("https://site.example/a").allows("https://site.example/a", "tracker")
    assert asked == ["https://site.example/robots.txt"]
    assert cache.rules("https://site.example/b") is not None  # the same site: kept
    clock[0] = 599.0
    assert cache.rules("https://site.example/b") is not None
    clock[0] = 601.0  # unreachable rules hold 10 minutes, not the day
    assert cache.rules("https://site.example/b") is None


def test_a_page_on_a_private_address_is_refused_as_such_once_not_as_robots_again_and_again(server: FeedServer) -> None:
    """Its robots.txt cannot be asked either: that is no reason to hold the page for robots
    (retried, and recorded under the wrong reason), but the page's own, which is final."""
    store = FakeStore([request(1, "http://127.0.0.1:9/story")])
    run(make(store, POLLING.model_copy(update={"allow_private_addresses": False})))
    refused = store.failures["story"]
    assert refused.error_kind == "blocked_address" and "127.0.0.1" in (refused.error or "")


def test_stopping_does_not_record_a_fetch_it_cut_short(server: FeedServer) -> None:
    server.routes["/robots.txt"] = lambda _h: (404, {}, b"")
    page_route(server, "/slow")
    hold = server.hold_next("/slow", 10)
    store = FakeStore([request(1, server.url("/slow"))])
    fetcher = make(store, workers=1, refill_seconds=0.05).start()
    assert hold.arrived.wait(10)
    fetcher.stop(timeout=0.2)
    time.sleep(POLLING.read_timeout + 0.5)  # the cut request has failed by now
    assert store.captures == []  # not the site's failure: the page stays wanted


def test_the_pages_archived_live_are_joined_to_their_items_by_ingest(server: FeedServer, tmp_path: Path, sqlite_url: str) -> None:
    paragraphs = article(77, paragraphs=6)
    body = ("<!doctype html><html><head><title>Story</title></head><body><article>"
            + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article></body></html>").encode()
    page_route(server, "/story", body)
    server.routes["/old-link"] = lambda _h: (301, {"Location": "/story"}, b"")
    archive = WarcArchive(tmp_path / "archive")
    run(make(FakeStore([request(1, server.url("/old-link"))]), archive=archive))
    archive.close()
    feed = server.url("/rss")  # the publisher's own site: its pages are its items'
    pipeline = make_pipeline(sqlite_url)  # the feed is learnt from its capture, as ingest does
    item = Item("Story", server.url("/old-link"), ["Just a summary."], T0, guid="s-1")
    pipeline.ingest([capture(feed, T0, rss("Daily", server.base + "/", [item], full_content=False))])
    report = ingest_paths(pipeline, sorted((tmp_path / "archive").iterdir()), workers=0)
    assert report.pages_used == 1
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT state FROM item_pages")).scalar_one() == "used"
    engine.dispose()


def test_drain_fetches_every_due_page_then_returns_and_ctrl_c_stops_it_at_once(server: FeedServer) -> None:
    """`tracker poll`'s pass over the wanted pages: it ends when none is due, well before its
    budget; and a Ctrl-C during a hanging request stops it at once, not at the budget's end."""
    page_route(server, "/robots.txt", b"", etag='"r"')
    for n in range(3):
        page_route(server, f"/p{n}")
    store = FakeStore([request(n, server.url(f"/p{n}")) for n in range(3)])
    started = time.monotonic()
    make(store).drain(30)
    assert len(store.stored) == 3 and time.monotonic() - started < 10

    def hang(handler):  # type: ignore[no-untyped-def]
        time.sleep(8)
        return 200, {"Content-Type": HTML}, PAGE
    server.routes["/slow"] = hang
    slow = make(FakeStore([request(9, server.url("/slow"))]), PollingConfig(read_timeout=30.0, total_timeout=30.0, allow_private_addresses=True))
    waits = iter(range(10))

    def ctrl_c_while_waiting() -> bool:  # a Ctrl-C arrives while the pass waits on the hanging request
        if next(waits) == 5:
            raise KeyboardInterrupt
        return True

    slow._in_flight = ctrl_c_while_waiting  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        slow.drain(60)
    assert time.monotonic() - started < 5

"""The benchmark feed farm: feeds, conditional GET, ground truth, and every injected fault.

All tests drive the farm's schedule with a fake clock, so publication is instant and exact;
only the deliberately slow faults (hang, drip) take real time, with slow_seconds=0.3.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from email.message import Message
from urllib.parse import urlsplit

import feedparser
import pytest

from bench.feedfarm import FarmConfig, FeedFarm

CLEAN = FarmConfig(feeds=5, window=4, fault_rate=0.0, items_per_feed_per_minute=2.0, seed=11)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 5000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> Response:
    """One GET on a fresh connection; the body is returned raw (never inflated)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path, headers=headers or {})
        reply = conn.getresponse()
        return Response(reply.status, reply.headers, reply.read())
    finally:
        conn.close()


def raw_exchange(url: str, timeout: float = 5.0) -> tuple[bytes, BaseException | None, float]:
    """Send a bare GET and read until EOF/error/`timeout`: (bytes received, error, seconds taken)."""
    parts = urlsplit(url)
    started = time.monotonic()
    received, error = b"", None
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        try:  # the overall deadline turns a server that never stops dripping into a failure, not a hang
            while time.monotonic() - started < timeout and (chunk := sock.recv(65536)):
                received += chunk
        except OSError as exc:
            error = exc
    return received, error, time.monotonic() - started


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def farm(clock: FakeClock) -> Iterator[FeedFarm]:
    with FeedFarm(CLEAN, clock) as running:
        yield running


def faulty(kind: str, clock: FakeClock, **changes: float) -> FeedFarm:
    """A started farm that answers every non-304 request with fault `kind`."""
    farm = FeedFarm(replace(CLEAN, fault_rate=1.0, faults=(kind,), **changes), clock)
    farm.start()
    return farm


def newest(guids: set[str], count: int) -> list[str]:
    return sorted(guids, key=lambda g: int(g.rsplit("-", 1)[1]), reverse=True)[:count]


# --------------------------------------------------------------------------- well-behaved feeds


def test_document_is_rss_listing_the_newest_window_items(farm: FeedFarm, clock: FakeClock) -> None:
    url = farm.feed_urls()[2]
    clock.now += 300  # past the back-fill, so there are more items than the window holds
    assert len(farm.published_items()[url]) > CLEAN.window
    reply = get(url)
    parsed = feedparser.parse(reply.body)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/rss+xml")
    assert not parsed.bozo
    assert [e.id for e in parsed.entries] == newest(farm.published_items()[url], CLEAN.window)
    assert len(parsed.entries) == CLEAN.window
    texts = [e.summary for e in parsed.entries]
    assert len(set(texts)) == len(texts)  # every item has its own text
    for entry in parsed.entries:
        words = len(entry.summary.replace("<p>", " ").replace("</p>", " ").split())
        assert 60 <= words <= 120 and entry.summary.count("<p>") == 3
        assert entry.link and entry.title and entry.published_parsed


def test_unchanged_document_answers_304_to_its_validators(farm: FeedFarm) -> None:
    url = farm.feed_urls()[0]
    first = get(url)
    again = get(url, {"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and again.body == b"" and again.headers["ETag"] == first.headers["ETag"]
    since = get(url, {"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status == 304
    assert get(url, {"If-None-Match": '"stale"'}).status == 200
    assert farm.stats()["304"] == 2 and farm.stats()["200"] == 2


def test_a_new_publication_changes_the_etag_and_appears(farm: FeedFarm, clock: FakeClock) -> None:
    url = farm.feed_urls()[1]
    first = get(url)
    before = farm.published_items()[url]
    clock.now += 600  # 2 items/minute: 10 minutes publish some items for sure
    added = farm.published_items()[url] - before
    assert added
    second = get(url, {"If-None-Match": first.headers["ETag"]})
    assert second.status == 200 and second.headers["ETag"] != first.headers["ETag"]
    listed = [e.id for e in feedparser.parse(second.body).entries]
    assert newest(added, 1)[0] == listed[0]


def test_published_items_are_deterministic_per_seed_and_only_grow(clock: FakeClock) -> None:
    def history(seed: int) -> list[list[set[str]]]:
        with FeedFarm(replace(CLEAN, seed=seed), clock) as farm:
            return [list(farm.published_items(until=clock.now + dt).values()) for dt in (0, 300, 900, 3600)]

    first, again, other = history(11), history(11), history(12)
    assert first == again
    assert first != other
    for earlier, later in zip(first, first[1:]):
        assert all(a <= b for a, b in zip(earlier, later))
    assert sum(map(len, first[-1])) > sum(map(len, first[0]))  # the farm really publishes
    assert all(len(items) >= CLEAN.window for items in first[0])  # back-filled: first poll is full


def test_copies_republish_identical_text_in_another_feed(clock: FakeClock) -> None:
    config = replace(CLEAN, window=60, copy_rate=0.5)
    with FeedFarm(config, clock) as farm:
        clock.now += 600
        entries = {e.id: (url, e) for url in farm.feed_urls() for e in feedparser.parse(get(url).body).entries}
        # An original can have slid out of its window; compare the pairs both documents list.
        pairs = [(c, o) for c, o in farm.copies() if c in entries and o in entries]
        assert len(pairs) >= 5
        for copy, original in pairs:
            (copy_feed, c), (orig_feed, o) = entries[copy], entries[original]
            assert copy_feed != orig_feed and c.link != o.link
            assert (c.title, c.summary) == (o.title, o.summary)
            assert c.published_parsed > o.published_parsed
        copies = dict(farm.copies())
        originals = [e.summary for guid, (_, e) in entries.items() if guid not in copies]
        assert len(set(originals)) == len(originals)  # only declared copies share text


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(("kind", "status", "retry_after"), [
    ("http500", 500, None), ("http503_retry_after", 503, "2"), ("http429_retry_after", 429, "2")])
def test_error_statuses(clock: FakeClock, kind: str, status: int, retry_after: str | None) -> None:
    farm = faulty(kind, clock)
    try:
        reply = get(farm.feed_urls()[0])
        assert (reply.status, reply.headers["Retry-After"]) == (status, retry_after)
        assert farm.stats()[kind] == 1 and farm.stats()["200"] == 0
    finally:
        farm.stop()


def test_html_page_is_a_200_that_is_not_a_feed(clock: FakeClock) -> None:
    farm = faulty("html_page", clock)
    try:
        reply = get(farm.feed_urls()[0])
        assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
        assert not feedparser.parse(reply.body).entries
    finally:
        farm.stop()


def test_malformed_xml_is_a_truncated_feed(clock: FakeClock) -> None:
    farm = faulty("malformed_xml", clock)
    try:
        reply = get(farm.feed_urls()[0])
        assert reply.status == 200 and reply.body.startswith(b"<?xml")
        assert feedparser.parse(reply.body).bozo
    finally:
        farm.stop()


def test_reset_aborts_the_connection(clock: FakeClock) -> None:
    farm = faulty("reset", clock)
    try:
        received, error, _ = raw_exchange(farm.feed_urls()[0])
        assert received == b"" and isinstance(error, ConnectionResetError)  # RST, not a polite FIN
        assert farm.stats()["reset"] == 1
    finally:
        farm.stop()


def test_gzip_bomb_inflates_past_a_megabyte(clock: FakeClock) -> None:
    farm = faulty("gzip_bomb", clock)
    try:
        reply = get(farm.feed_urls()[0])
        assert reply.status == 200 and reply.headers["Content-Encoding"] == "gzip"
        assert len(reply.body) < 100_000
        inflated = zlib.decompressobj(wbits=31).decompress(reply.body, 1_000_001)  # capped, like a client should
        assert len(inflated) > 1_000_000
    finally:
        farm.stop()


def test_hang_says_nothing_then_closes(clock: FakeClock) -> None:
    farm = faulty("timeout_hang", clock, slow_seconds=0.3)
    try:
        received, error, took = raw_exchange(farm.feed_urls()[0])
        assert received == b"" and error is None
        assert 0.8 <= took < 3  # slow_seconds * 3, then EOF
    finally:
        farm.stop()


def test_drip_sends_a_few_bytes_then_closes(clock: FakeClock) -> None:
    farm = faulty("slow_drip", clock, slow_seconds=0.3)
    try:
        received, error, took = raw_exchange(farm.feed_urls()[0])
        head, _, body = received.partition(b"\r\n\r\n")
        promised = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
        assert head.startswith(b"HTTP/1.1 200") and error is None
        assert 0 < len(body) <= 3 < promised  # 1 byte / 0.2 s for 0.3 s
        assert 0.25 <= took < 3
    finally:
        farm.stop()


def handler_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def test_stop_releases_hanging_requests_and_idle_connections(clock: FakeClock) -> None:
    farm = faulty("timeout_hang", clock, slow_seconds=20)
    url = urlsplit(farm.feed_urls()[0])
    before = handler_threads()
    result: list[float] = []
    client = threading.Thread(target=lambda: result.append(raw_exchange(url.geturl())[2]))
    client.start()
    idle = socket.create_connection((url.hostname, url.port))  # a keep-alive connection with no request
    time.sleep(0.2)
    ours = handler_threads() - before
    assert len(ours) == 2
    farm.stop()
    client.join(5)
    for thread in ours:
        thread.join(2)
    idle.close()
    assert result and result[0] < 3
    assert not any(t.is_alive() for t in ours)  # the server side let go too, not just the client


def test_304_is_never_faulted(clock: FakeClock) -> None:
    with FeedFarm(replace(CLEAN, fault_rate=0.5, faults=("http500",)), clock) as farm:
        url = farm.feed_urls()[0]
        first = next(r for r in (get(url) for _ in range(50)) if r.status == 200)
        faults = farm.stats()["http500"]
        replies = [get(url, {"If-None-Match": first.headers["ETag"]}).status for _ in range(20)]
        assert replies == [304] * 20 and farm.stats()["http500"] == faults


# --------------------------------------------------------------------------- bookkeeping


def test_stats_count_and_listed_items_record_only_clean_200s(clock: FakeClock) -> None:
    config = replace(CLEAN, fault_rate=0.5, faults=("malformed_xml", "html_page", "http500"))
    with FeedFarm(config, clock) as farm:
        seen: dict[str, set[str]] = {url: set() for url in farm.feed_urls()}
        statuses: list[int] = []
        for step in range(30):
            clock.now += 60
            url = farm.feed_urls()[step % config.feeds]
            reply = get(url)
            statuses.append(reply.status)
            parsed = feedparser.parse(reply.body)
            if reply.status == 200 and not parsed.bozo:
                seen[url] |= {e.id for e in parsed.entries}
        get(farm.feed_urls()[0].replace("/feed/0.xml", "/nothing"))
        stats = farm.stats()
        assert stats["requests"] == 31 and stats["404"] == 1
        assert stats["200"] + stats["malformed_xml"] + stats["html_page"] + stats["http500"] == 30
        assert stats["http500"] == statuses.count(500) > 0
        assert stats["malformed_xml"] > 0 and stats["html_page"] > 0
        assert farm.listed_items() == seen
        published = farm.published_items()
        assert all(seen[url] <= published[url] for url in seen)


def test_many_concurrent_clients(farm: FeedFarm, clock: FakeClock) -> None:
    urls = farm.feed_urls() * 20

    def poll(url: str) -> int:
        return get(url).status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(poll, urls))
    assert statuses == [200] * len(urls)
    assert farm.stats()["requests"] == farm.stats()["200"] == len(urls)

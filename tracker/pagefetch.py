"""The daemon's live fetcher of items' article pages, beside feed polling and never in its way.

Pages are fetched by threads of their own, through the same guarded fetcher as feeds
(private addresses refused, size and time limits) restricted to HTML, politely: one
request at a time per host with `host_delay_seconds` between two (longer when the site's
robots.txt asks, or its Retry-After does), robots.txt obeyed unless the feed says
`robots = false`, and a page fetched before asked again with its ETag/Last-Modified.

Nothing here touches the database while waiting on the network: a page is fetched
first, then handed to a `PageStore` (the pipeline's page entry point), which stores it
or records its failure, with when to try again, as data on the item.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tracker.addresses import AddressGuard
from tracker.archive import WarcArchive
from tracker.config import PagesConfig, PollingConfig
from tracker.fetch import Fetcher, FetchPolicy, FetchResult, Validators
from tracker.logs import fields
from tracker.model import utcnow
from tracker.politeness import ROBOTS_MAX_BYTES, HostGate, RobotsCache, origin_of, product_token

log = logging.getLogger(__name__)

PAGE_TYPES = ("text/html", "application/xhtml+xml")
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
# Failures that asking again will not mend: given up at once.
PERMANENT = frozenset({"gone", "unwanted_type", "too_large", "blocked_address", "invalid_url",
                       "redirect_loop", "too_many_redirects"})
# Outcomes of one page request, as counted (besides the fetch error kinds).
PAGE_OUTCOMES = ("ok", "not_modified", "robots_disallowed", "store")


@dataclass(frozen=True)
class PageRequest:
    """An item whose page is wanted: its URL, the feed it came by, and what is known of the page."""

    item_id: int
    url: str
    feed_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0  # failed attempts so far, for the back-off


@dataclass(frozen=True)
class PageCapture:
    """One fetched page (or a 304 that it is unchanged), for the pipeline to store."""

    item_id: int
    url: str                 # the item's link, as requested
    final_url: str           # after redirects
    fetched_at: datetime     # naive UTC
    status: int
    body: bytes | None       # None when not_modified
    content_type: str | None
    etag: str | None
    last_modified: str | None
    not_modified: bool
    duration_ms: int


class PageStore(Protocol):
    """What the page fetcher needs of the database (the pipeline's page entry point)."""

    def items_needing_pages(self, limit: int) -> list[PageRequest]:
        """Up to `limit` items whose page is due (never fetched, or due again), oldest first."""

    def store_page(self, capture: PageCapture) -> None:
        """Store a fetched page (or that it is unchanged) on its item."""

    def record_page_failure(self, item_id: int, kind: str, message: str, retry_at: datetime | None) -> None:
        """Record on the item that its page failed, and when to try again (None: never)."""


@dataclass(frozen=True)
class PageOutcome:
    """One page request, as logged and counted."""

    item_id: int
    url: str
    outcome: str             # "ok", "not_modified", "robots_disallowed", "store" or a fetch error kind
    status: int | None
    message: str | None
    retry_at: datetime | None
    duration_s: float


def retry_at(kind: str, failures: int, config: PagesConfig, now: datetime, retry_after_s: float | None = None) -> datetime | None:
    """When a page that failed for `kind`, `failures` times before, is tried again (None: never).

    Back-off doubles from `retry_seconds` up to `max_retry_seconds`, never sooner than the
    site's Retry-After; after `max_attempts` attempts, or a failure that cannot mend, never.
    """
    if kind in PERMANENT or failures + 1 >= config.max_attempts:
        return None
    delay = min(config.max_retry_seconds, config.retry_seconds * 2 ** failures)
    if retry_after_s:
        delay = max(delay, min(retry_after_s, config.max_retry_seconds))
    return now + timedelta(seconds=delay)


def _policy(polling: PollingConfig, max_bytes: int, page: bool) -> FetchPolicy:
    return FetchPolicy(
        user_agent=polling.user_agent, connect_timeout=polling.connect_timeout, read_timeout=polling.read_timeout,
        total_timeout=polling.total_timeout, max_body_bytes=max_bytes, max_redirects=polling.max_redirects,
        allow_private_addresses=polling.allow_private_addresses,
        accept=PAGE_ACCEPT if page else "text/plain, */*;q=0.5", content_types=PAGE_TYPES if page else (),
    )


class PageFetcher:
    """Fetches the pages a `PageStore` asks for, in threads of its own; `start` and `stop` it.

    `refill` (every `refill_seconds` in its own thread) asks the store for due pages; page
    workers take them from a `HostGate`. `fetch_one` is one request's whole work.
    """

    def __init__(
        self, store: PageStore, config: PagesConfig, polling: PollingConfig, *, archive: WarcArchive | None = None,
        robots_exempt: Collection[str] = (), guard: AddressGuard | None = None,
        on_outcome: Callable[[PageOutcome], None] | None = None,
    ) -> None:
        """`robots_exempt`: feed URLs whose pages are fetched without asking robots.txt."""
        self.store = store
        self.config = config
        self.archive = archive
        self.robots_exempt = frozenset(robots_exempt)
        self.on_outcome = on_outcome
        self.fetcher = Fetcher(_policy(polling, config.max_body_bytes, page=True), guard)
        self._robots_fetcher = Fetcher(_policy(polling, ROBOTS_MAX_BYTES, page=False), self.fetcher.guard)
        self.robots = RobotsCache(self._robots_fetcher.fetch, product_token(polling.user_agent), config.robots_cache_seconds)
        self.gate: HostGate[PageRequest] = HostGate()
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- threads ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the refill thread and the page workers."""
        self._threads = [threading.Thread(target=self._refilling, name="pages-refill", daemon=True)]
        self._threads += [threading.Thread(target=self._working, name=f"pages-{n}", daemon=True) for n in range(self.config.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking pages; wait for requests in flight (up to `timeout`), then close the clients."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self.fetcher.close()
        self._robots_fetcher.close()

    def _refilling(self) -> None:
        while not self._stop.is_set():
            try:
                self.refill()
            except Exception as error:  # the database away: the next refill tries again
                log.warning("pages: cannot read the items needing pages", extra=fields(error=str(error).splitlines()[0][:300]))
            self._stop.wait(self.config.refill_seconds)

    def _working(self) -> None:
        while True:
            taken = self.gate.take(self._stop)
            if taken is None:
                return
            host, request = taken
            pause = self.config.host_delay_seconds
            try:
                pause = self.fetch_one(request)
            except Exception:
                log.exception("pages: page request crashed", extra=fields(item=request.item_id, url=request.url))
            finally:
                self.gate.done(host, pause)

    # -- work --------------------------------------------------------------------------------
    def refill(self) -> int:
        """Queue the store's due pages not queued already, up to `queue` in all; how many were added."""
        with self._lock:
            room = self.config.queue - len(self._queued)
        if room <= 0:
            return 0
        added = 0
        for request in self.store.items_needing_pages(room):
            with self._lock:
                if request.item_id in self._queued:
                    continue
                self._queued.add(request.item_id)
            self.gate.put(origin_of(request.url), request)
            added += 1
        return added

    def fetch_one(self, request: PageRequest) -> float:
        """Fetch one page (its site's robots.txt first, when not known) and hand the result to
        the store; return how long its host rests before its next request."""
        rest = self.config.host_delay_seconds
        obey = request.feed_url not in self.robots_exempt
        rules = self.robots.rules(request.url) if obey else None
        if obey and rules is None:
            # robots.txt is a request to the host like any other: the page waits its turn.
            rules = self.robots.load(request.url)
            self.gate.put(origin_of(request.url), request, first=True)
            return max(rest, rules.crawl_delay(self.robots.agent) or 0.0)
        try:
            if rules is not None:
                rest = max(rest, rules.crawl_delay(self.robots.agent) or 0.0)
                if not rules.allows(request.url, self.robots.agent):
                    self._failed(request, "robots_disallowed", f"{rules.reason} disallows {request.url[:300]}", None, 0.0)
                    return rest
            result = self.fetcher.fetch(request.url, Validators(request.etag, request.last_modified))
            if result.retry_after_s:
                rest = max(rest, min(result.retry_after_s, float(self.config.max_retry_seconds)))
            self._handle(request, result)
        finally:
            with self._lock:
                self._queued.discard(request.item_id)
        return rest

    def _handle(self, request: PageRequest, result: FetchResult) -> None:
        when = result.fetched_at.astimezone(UTC).replace(tzinfo=None)
        if not result.ok or result.status is None:
            kind = result.error_kind or "http_status"
            self._failed(request, kind, result.error_message or kind, result.status, result.duration_s, result.retry_after_s)
            return
        if self.archive is not None:
            self.archive.write(result.final_url, when, result.status, result.headers, None if result.not_modified else result.body)
        capture = PageCapture(
            request.item_id, request.url, result.final_url, when, result.status, None if result.not_modified else result.body,
            result.content_type, result.etag, result.last_modified, result.not_modified, int(result.duration_s * 1000),
        )
        try:
            self.store.store_page(capture)
        except Exception as error:
            # Recorded (when the database can take it) and retried with back-off like a failed
            # fetch, so that a page the database refuses is not fetched again at every refill.
            message = "cannot store page: " + " ".join(str(error).split())[:300]
            log.error("pages: cannot store a page", extra=fields(item=request.item_id, url=request.url, error=message))
            self._failed(request, "store", message, result.status, result.duration_s)
            return
        outcome = "not_modified" if result.not_modified else "ok"
        self._report(PageOutcome(request.item_id, request.url, outcome, result.status, None, None, result.duration_s))

    def _failed(self, request: PageRequest, kind: str, message: str, status: int | None, duration_s: float,
                retry_after_s: float | None = None) -> None:
        again = retry_at(kind, request.failures, self.config, utcnow(), retry_after_s)
        try:
            self.store.record_page_failure(request.item_id, kind, message[:2000], again)
        except Exception as error:
            log.error("pages: cannot record a page failure", extra=fields(item=request.item_id, error=str(error).splitlines()[0][:300]))
        self._report(PageOutcome(request.item_id, request.url, kind, status, message, again, duration_s))

    def _report(self, outcome: PageOutcome) -> None:
        log.info("page", extra=fields(
            item=outcome.item_id, url=outcome.url, outcome=outcome.outcome, status=outcome.status,
            ms=int(outcome.duration_s * 1000), message=outcome.message,
            retry=outcome.retry_at.strftime("%Y-%m-%dT%H:%M:%SZ") if outcome.retry_at else None,
        ))
        if self.on_outcome is not None:
            self.on_outcome(outcome)

"""The daemon's live fetcher of items' article pages, beside feed polling and never in its way.

Pages are fetched by threads of their own, through the same guarded fetcher as feeds
(private addresses refused, size and time limits) restricted to HTML, politely: one
request at a time per host with `host_delay_seconds` between two (longer when the site's
robots.txt asks, or its Retry-After does), robots.txt obeyed unless the feed says
`robots = false`, and a page fetched before asked again with its ETag/Last-Modified.

Nothing here touches the database while waiting on the network: a page is fetched first,
then handed to a `PageStore` — the pipeline's page entry point (`process_page`, see
docs/pages-api.md), which stores it, or its failure with the next try, as data on the item.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from tracker.addresses import AddressGuard
from tracker.config import PagesConfig, PollingConfig
from tracker.logs import fields
from tracker.model import IngestReport, PageCapture, PageRequest, utcnow
from tracker.reader.fetch import Fetcher, FetchPolicy, FetchResult, Headers, Validators
from tracker.reader.politeness import ROBOTS_MAX_BYTES, HostGate, RobotsCache, origin_of, product_token

log = logging.getLogger(__name__)

PAGE_TYPES = ("text/html", "application/xhtml+xml")
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
# Outcomes of one page request, as counted (besides the fetch error kinds).
PAGE_OUTCOMES = ("ok", "not_modified", "robots", "not_html", "store")
# A Retry-After longer than this rests the host this long (the item's own retry is the store's).
MAX_HOST_PAUSE = 3600.0
# Pages of one host waiting in memory at most (the rest wait in the database), and how many
# more rows than there is room for a refill reads to find other hosts' pages.
PER_HOST_QUEUED = 10
WINDOW = 4
# A page the database refused is not fetched again for this long.
STORE_COOLDOWN = 600.0


class PageStore(Protocol):
    """What the page fetcher needs of the database (implemented over the pipeline: tracker.daemon.pagework)."""

    def pages_wanted(self, limit: int) -> list[PageRequest]:
        """Up to `limit` items whose page is due, oldest first."""

    def robots_exempt(self, requests: list[PageRequest]) -> set[int]:
        """The items among `requests` whose feed says `robots = false`."""

    def process_page(self, capture: PageCapture) -> IngestReport:
        """Store a fetched page, a 304, or a failure, on the items it is the page of."""


class PageArchive(Protocol):
    """Where fetched pages are kept as evidence (tracker.reader.archive.WarcArchive)."""

    def write(self, url: str, when: datetime, status: int, headers: Headers, body: bytes | None) -> None:
        """Append one response (a revisit when `body` is None)."""


@dataclass(frozen=True)
class PageOutcome:
    """One page request, as logged and counted."""

    item_id: int
    url: str
    outcome: str             # one of PAGE_OUTCOMES or a fetch error kind
    status: int | None
    message: str | None
    duration_s: float
    report: IngestReport | None = None


def _policy(polling: PollingConfig, max_bytes: int, page: bool) -> FetchPolicy:
    return FetchPolicy(
        user_agent=polling.user_agent, connect_timeout=polling.connect_timeout, read_timeout=polling.read_timeout,
        total_timeout=polling.total_timeout, max_body_bytes=max_bytes, max_redirects=polling.max_redirects,
        allow_private_addresses=polling.allow_private_addresses,
        accept=PAGE_ACCEPT if page else "text/plain, */*;q=0.5", content_types=PAGE_TYPES if page else (),
    )


def _capture(request: PageRequest, result: FetchResult, kind: str | None = None, message: str | None = None) -> PageCapture:
    """What the server answered, as the pipeline's page entry point takes it."""
    error = kind or result.error_kind
    return PageCapture(
        url=request.url, final_url=result.final_url, fetched_at=result.fetched_at.astimezone(UTC).replace(tzinfo=None),
        status=result.status, headers=result.headers, body=None if error or result.not_modified else result.body,
        source="fetch", redirects=tuple(url for url, _, _ in result.redirects[1:]),
        error=(message or result.error_message or error) if error else None, error_kind=error,
    )


class PageFetcher:
    """Fetches the pages a `PageStore` asks for, in threads of its own; `start` and `stop` it.

    `refill` (every `refill_seconds`, in its own thread) asks the store for due pages; page
    workers take them from a `HostGate`. `fetch_one` is one request's whole work.
    """

    def __init__(
        self, store: PageStore, config: PagesConfig, polling: PollingConfig, *, archive: PageArchive | None = None,
        guard: AddressGuard | None = None, on_outcome: Callable[[PageOutcome], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.archive = archive
        self.on_outcome = on_outcome
        self.fetcher = Fetcher(_policy(polling, config.max_body_bytes, page=True), guard)
        self._robots_fetcher = Fetcher(_policy(polling, ROBOTS_MAX_BYTES, page=False), self.fetcher.guard)
        self.robots = RobotsCache(self._robots_fetcher.fetch, product_token(polling.user_agent), config.robots_cache_seconds)
        self.gate: HostGate[tuple[PageRequest, bool]] = HostGate()
        self._queued: dict[int, str] = {}  # item → its host, from refill until handed back
        self._cooling: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- threads ---------------------------------------------------------------------------
    def start(self) -> PageFetcher:
        """Start the refill thread and the page workers."""
        self._threads = [threading.Thread(target=self._refilling, name="pages-refill", daemon=True)]
        self._threads += [threading.Thread(target=self._working, name=f"pages-{n}", daemon=True) for n in range(self.config.fetch_threads)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking pages; wait for requests in flight (up to `timeout`), then close the
        clients: a request still in flight fails, and is not recorded (its page stays wanted)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self.fetcher.close()
        self._robots_fetcher.close()

    def drain(self, seconds: float) -> None:
        """Fetch the store's due pages until none is left or `seconds` have passed, then stop
        (`tracker poll`: one pass, as polite as the daemon's). Pages left, and those failed
        with a later retry, stay wanted in the store for the next pass."""
        deadline = time.monotonic() + seconds
        self._threads = [threading.Thread(target=self._working, name=f"pages-{n}", daemon=True) for n in range(self.config.fetch_threads)]
        for thread in self._threads:
            thread.start()
        try:
            while time.monotonic() < deadline and not self._stop.is_set():
                if self.refill() == 0 and not self._in_flight():
                    break
                while self._in_flight() and time.monotonic() < deadline:
                    time.sleep(0.05)
        except BaseException:
            self.stop(timeout=1.0)  # Ctrl-C: requests in flight are cut short, their pages stay wanted
            raise
        self.stop(timeout=max(0.0, deadline - time.monotonic()) + 1.0)

    def _in_flight(self) -> bool:
        with self._lock:
            return bool(self._queued)

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
            host, (request, obey) = taken
            rest = self.config.host_delay_seconds
            try:
                rest = self.fetch_one(request, obey)
            except Exception:
                log.exception("pages: page request crashed", extra=fields(item=request.item_id, url=request.url))
                self._cool(request.item_id)
                with self._lock:
                    self._queued.pop(request.item_id, None)
            finally:
                self.gate.done(host, rest)

    # -- work --------------------------------------------------------------------------------
    def refill(self) -> int:
        """Queue the store's due pages not queued already, up to `queue` in all and
        `PER_HOST_QUEUED` per host (so that one slow or paused site cannot fill the queue
        while others wait); how many were added."""
        with self._lock:
            room = self.config.queue - len(self._queued)
            now = time.monotonic()
            self._cooling = {item: until for item, until in self._cooling.items() if until > now}
            skip = set(self._queued) | set(self._cooling)
            per_host = Counter(self._queued.values())
        if room <= 0:
            return 0
        # Asked for more than room: the queued and cooling ones come back too, and a busy site's surplus.
        wanted: list[PageRequest] = []
        for request in self.store.pages_wanted(WINDOW * room + len(skip)):
            host = origin_of(request.url)
            if request.item_id in skip or per_host[host] >= PER_HOST_QUEUED:
                continue
            per_host[host] += 1
            wanted.append(request)
            if len(wanted) == room:
                break
        exempt = self.store.robots_exempt(wanted) if wanted else set()
        with self._lock:
            self._queued.update((r.item_id, origin_of(r.url)) for r in wanted)
        for request in wanted:
            self.gate.put(origin_of(request.url), (request, request.item_id not in exempt))
        return len(wanted)

    def fetch_one(self, request: PageRequest, obey_robots: bool = True) -> float:
        """Fetch one page (its site's robots.txt first, when not known) and hand the answer to
        the store; return how long its host rests before its next request."""
        rest = self.config.host_delay_seconds
        rules = self.robots.rules(request.url) if obey_robots else None
        if obey_robots and rules is None:
            # robots.txt is a request to the host like any other: the page waits its turn.
            rules = self.robots.load(request.url)
            self.gate.put(origin_of(request.url), (request, obey_robots), first=True)
            return max(rest, rules.crawl_delay(self.robots.agent) or 0.0)
        try:
            if rules is not None:
                rest = max(rest, rules.crawl_delay(self.robots.agent) or 0.0)
                if not rules.allows(request.url, self.robots.agent):
                    refused = f"{rules.reason} disallows {request.url[:300]} for {self.robots.agent}"
                    self._hand_over(request, _refused(request, "robots", refused), "robots", None, 0.0)
                    return rest
            result = self.fetcher.fetch(request.url, Validators(request.etag, request.last_modified))
            if result.retry_after_s:
                rest = max(rest, min(result.retry_after_s, MAX_HOST_PAUSE))
            self._archive(result)
            kind = "not_html" if result.error_kind == "unwanted_type" else None
            outcome = kind or result.error_kind or ("not_modified" if result.not_modified else "ok")
            self._hand_over(request, _capture(request, result, kind), outcome, result.status, result.duration_s)
        finally:
            with self._lock:
                self._queued.pop(request.item_id, None)
        return rest

    def _archive(self, result: FetchResult) -> None:
        """Each hop and the page itself as WARC records, as a crawler writes them (so that
        `ingest` of the archive joins the page to the item's link through its redirects)."""
        if self.archive is None or not (result.ok and result.status is not None):
            return
        when = result.fetched_at.astimezone(UTC).replace(tzinfo=None)
        for url, status, location in result.redirects:
            self.archive.write(url, when, status, (("Location", location),), b"")
        self.archive.write(result.final_url, when, result.status, result.headers, None if result.not_modified else result.body)

    def _hand_over(self, request: PageRequest, capture: PageCapture, outcome: str, status: int | None, seconds: float) -> None:
        if self._stop.is_set() and capture.error is not None:
            return  # most likely cut short by `stop`: not the site's failure
        report, message = None, capture.error
        try:
            report = self.store.process_page(capture)
        except Exception as error:
            # Not the page's fault, or one the database keeps refusing: not fetched again soon.
            self._cool(request.item_id)
            outcome, message = "store", " ".join(str(error).split())[:300]
            log.error("pages: cannot store a page", extra=fields(item=request.item_id, url=request.url, error=message))
        self._report(PageOutcome(request.item_id, request.url, outcome, status, message, seconds, report))

    def _cool(self, item_id: int) -> None:
        with self._lock:
            self._cooling[item_id] = time.monotonic() + STORE_COOLDOWN

    def _report(self, outcome: PageOutcome) -> None:
        log.info("page", extra=fields(
            item=outcome.item_id, url=outcome.url, outcome=outcome.outcome, status=outcome.status,
            ms=int(outcome.duration_s * 1000), message=outcome.message,
            used=outcome.report.pages_used if outcome.report else None,
        ))
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def _refused(request: PageRequest, kind: str, message: str) -> PageCapture:
    """A page not asked for at all (robots.txt): a failure with no HTTP answer."""
    return PageCapture(url=request.url, final_url=request.url, fetched_at=utcnow(), status=None, headers=(), body=None,
                       error=message, error_kind=kind)

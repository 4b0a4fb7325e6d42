"""A simulated syndication network on 127.0.0.1 for `tracker demo`, evolving with (scaled) time.

Seven publishers share one local HTTP server:
- "Khaama Press" (`/khaama/feed/`): the originals, as a WordPress + Yoast RSS feed;
- "ru24.pro" (`/ru24/rss`): a scraper mirror that wraps each original in its chrome
  lines one step later (one copy claims a date before the original's);
- "Headline Digest" (`/digest/atom.xml`): Atom excerpts (first paragraph and a
  "Read the full story at" line) two steps after the original;
- "Mirror of Mirrors" (`/mirrors/rss`): copies of ru24.pro's copies, two steps later;
- "Kabul Market Watch" (`/market/rss`): an independent story whose title equals one
  of Khaama's but whose text does not, so nothing should be linked to it;
- "Hindu Kush Herald" (`/herald/rss`): a summary-only feed (a one-sentence standfirst an
  item), its article on the linked page among a site's chrome (tracker.demo.pages);
- "NewsHub24" (`/newshub/feed`): a scraper that republishes the Herald's article, taken
  from its page, in full and without credit, two steps later.

Time is counted in steps: step = floor((clock() - start) / seconds_per_step). Khaama
publishes article i at step 2*i. What a feed serves is a pure function of the step, and
the dates it claims are simulated: `claimed_start + step * claimed_step`, by default a
fixed morning in January 2025 and ten minutes a step, so the same step always serves the
same bytes whatever the real time. A caller whose tracker compares claimed dates with
real capture times (`tracker demo`) passes the real start time and step length instead.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from tracker.demo.articles import ARTICLES, HERALD_ARTICLE
from tracker.demo.documents import Entry, FeedSpec, Place, atom, page, rss
from tracker.demo.script import (  # noqa: F401 (the network's publishers and times, named here too)
    BACKDATED_ARTICLE,
    BASE_TIME,
    DIGEST,
    HERALD,
    KHAAMA,
    MARKET,
    MAX_ITEMS,
    MIRRORS,
    NEWSHUB,
    RU24,
    SIMULATED_STEP,
    Calendar,
    script,
)

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class DemoFeed:
    """One feed of the demo network and the publisher behind it."""

    url: str          # full http://127.0.0.1:PORT/... URL
    publisher: str


_FEEDS: tuple[FeedSpec, ...] = (
    FeedSpec("/khaama/feed/", KHAAMA, False, "/khaama/", "Afghan news agency (demo)", creator=True),
    FeedSpec("/ru24/rss", RU24, False, "/ru24/", "Новости со всего мира"),
    FeedSpec("/digest/atom.xml", DIGEST, True, "/digest/", "The day's headlines in one place"),
    FeedSpec("/mirrors/rss", MIRRORS, False, "/mirrors/", "Reposted from around the web"),
    FeedSpec("/market/rss", MARKET, False, "/market/", "Prices and trade in the capital"),
    FeedSpec("/herald/rss", HERALD, False, "/herald/", "Independent news from the south (demo)"),
    FeedSpec("/newshub/feed", NEWSHUB, False, "/newshub/", "All the news, all day"),
)
# Every site of the network answers this robots.txt (it is one host on 127.0.0.1).
ROBOTS_TXT = b"User-agent: *\nDisallow: /herald/search/\n"


@dataclass(frozen=True)
class DemoResponse:
    """What the server answers for one path at one step."""

    status: int
    content_type: str
    body: bytes
    etag: str | None = None
    last_modified: datetime | None = None

    def not_modified(self, if_none_match: str | None, if_modified_since: str | None) -> bool:
        """Whether a conditional GET with these request headers gets a 304.

        If-None-Match wins when present (RFC 9110 §13.1.3), compared weakly as GET allows.
        """
        if self.status != 200 or self.etag is None:
            return False
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or self.etag in tags
        if if_modified_since and self.last_modified is not None:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            return self.last_modified <= (since if since.tzinfo else since.replace(tzinfo=UTC))
        return False



class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A poller that hangs up mid-answer is not news; the demo's terminal is for the story.
        pass


class _Handler(BaseHTTPRequestHandler):
    network: DemoNetwork   # set on a per-server subclass
    server_version = "DemoNetwork/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def _answer(self, with_body: bool) -> None:
        reply = self.network.render(self.path)
        status = reply.status
        if reply.not_modified(self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")):
            status = 304
        self.send_response(status)
        if reply.etag is not None:
            self.send_header("ETag", reply.etag)
        if reply.last_modified is not None:
            self.send_header("Last-Modified", format_datetime(reply.last_modified, usegmt=True))
        if status != 304:
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if with_body and status != 304:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (base signature)
        # The demo prints discoveries; an access log on stderr would bury them.
        pass


class DemoNetwork:
    """A simulated syndication network served on 127.0.0.1, evolving with (scaled) time.

    Use as a context manager, or `start()` then `stop()`. `clock` is injectable so tests
    can move time by hand; `seconds_per_step` sets how many of its seconds make a step.
    Items claim `claimed_start + step * claimed_step` as their date (a naive start is UTC).
    """

    def __init__(self, *, seconds_per_step: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 claimed_start: datetime = BASE_TIME, claimed_step: timedelta = SIMULATED_STEP) -> None:
        if not seconds_per_step > 0:
            raise ValueError(f"seconds_per_step must be positive, got {seconds_per_step!r}")
        if claimed_step <= timedelta(0):
            raise ValueError(f"claimed_step must be positive, got {claimed_step!r}")
        self.seconds_per_step = seconds_per_step
        self._calendar = Calendar(claimed_start if claimed_start.tzinfo else claimed_start.replace(tzinfo=UTC), claimed_step)
        self._clock = clock
        self._started_at: float | None = None
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._base: str | None = None
        self._entries: tuple[Entry, ...] = ()
        self._steps = max(e.step for e in script(lambda path: path, self._calendar)) + 1

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> str:
        """Serve the network on 127.0.0.1 (a free port) from a daemon thread; the base URL."""
        if self._base is not None:
            return self._base
        handler = type("DemoHandler", (_Handler,), {"network": self})
        server = _QuietServer(("127.0.0.1", 0), handler)
        self._base = f"http://127.0.0.1:{server.server_address[1]}"
        self._entries = script(self._place, self._calendar)
        self._started_at = self._clock()
        self._server = server
        # A short poll interval makes stop() prompt: shutdown() waits for the next poll.
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"demo-network-{server.server_address[1]}", daemon=True)
        self._thread.start()
        return self._base

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> DemoNetwork:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- what the demo shows ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`; only once started."""
        if self._base is None:
            raise RuntimeError("the demo network is not started: call start() first")
        return self._base

    @property
    def feeds(self) -> list[DemoFeed]:
        """Every feed of the network with its publisher (needs the port, so only once started)."""
        return [DemoFeed(self.base_url + spec.path, spec.publisher) for spec in _FEEDS]

    @property
    def steps(self) -> int:
        """How many steps the script has: nothing changes from step `steps - 1` on."""
        return self._steps

    @property
    def step(self) -> int:
        """The current step (0 before start; keeps counting past the end of the script)."""
        if self._started_at is None:
            return 0
        return max(0, math.floor((self._clock() - self._started_at) / self.seconds_per_step))

    def expected_chains(self) -> list[tuple[str, str, str]]:
        """(copy publisher, parent publisher, article title) for every republication the demo stages."""
        chains: list[tuple[str, str, str]] = []
        for article in ARTICLES:
            chains += [(RU24, KHAAMA, article.title), (DIGEST, KHAAMA, article.title), (MIRRORS, RU24, article.title)]
        return [*chains, (NEWSHUB, HERALD, HERALD_ARTICLE.title)]

    # -- serving ---------------------------------------------------------------------
    def render(self, path: str, step: int | None = None) -> DemoResponse:
        """The answer for a request path at `step` (default: now): a feed, an article page or a 404."""
        _ = self.base_url  # raises when the network is not started
        step = self.step if step is None else step
        path = urlsplit(path).path
        if path == "/robots.txt":
            return _response(ROBOTS_TXT, "text/plain; charset=utf-8", self._calendar.at(0))
        for spec in _FEEDS:
            if path == spec.path:
                return _feed_response(spec, self._place, self._entries, self._calendar, step)
        for entry in self._entries:
            if entry.step <= step and urlsplit(entry.link).path == path:
                return _page_response(entry, self._calendar)
        return DemoResponse(404, "text/plain; charset=utf-8", b"404 not found\n")

    def _place(self, path: str) -> str:
        return self.base_url + path


def _feed_response(spec: FeedSpec, place: Place, entries: tuple[Entry, ...], when: Calendar, step: int) -> DemoResponse:
    """A feed document as served at `step`."""
    # Newest first; the script lists each step's items in publication order.
    visible = [e for e in entries if e.feed_path == spec.path and e.step <= step][::-1][:MAX_ITEMS]
    updated = when.at(max((e.step for e in visible), default=0))
    document = (atom if spec.atom else rss)(spec, place, visible, updated)
    return _response(document.encode(), ATOM_TYPE if spec.atom else RSS_TYPE, updated)


@dataclass(frozen=True)
class FeedSnapshot:
    """One feed of the network as served at one step of its script."""

    step: int
    publisher: str
    url: str
    response: DemoResponse


def snapshots(place: Place, claimed_start: datetime = BASE_TIME, claimed_step: timedelta = SIMULATED_STEP) -> list[FeedSnapshot]:
    """Every feed as served at every step of the script, step by step, without a server.

    `place` turns a path of the network ("/khaama/feed/") into the absolute URL it has
    in this rendering, so that the same script can stand on real-looking hosts.
    """
    when = Calendar(claimed_start if claimed_start.tzinfo else claimed_start.replace(tzinfo=UTC), claimed_step)
    entries = script(place, when)
    last = max(e.step for e in entries)
    return [
        FeedSnapshot(step, spec.publisher, place(spec.path), _feed_response(spec, place, entries, when, step))
        for step in range(last + 1) for spec in _FEEDS
    ]


@dataclass(frozen=True)
class PageSnapshot:
    """An article page of a summary-only feed's item, as served from the step it is published."""

    step: int
    url: str
    response: DemoResponse


def article_pages(place: Place, claimed_start: datetime = BASE_TIME, claimed_step: timedelta = SIMULATED_STEP) -> list[PageSnapshot]:
    """The article pages whose feed carries only a summary (what a crawler following the
    summary-only feed's links archives), in publication order."""
    when = Calendar(claimed_start if claimed_start.tzinfo else claimed_start.replace(tzinfo=UTC), claimed_step)
    return [PageSnapshot(e.step, e.link, _page_response(e, when)) for e in script(place, when) if e.page_html]


def _page_response(entry: Entry, when: Calendar) -> DemoResponse:
    return _response(page(entry).encode(), HTML_TYPE, when.at(entry.step))


def _response(body: bytes, content_type: str, last_modified: datetime) -> DemoResponse:
    # A strong validator: it changes exactly when the bytes do.
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return DemoResponse(200, content_type, body, etag, last_modified)

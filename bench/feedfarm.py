"""A local "feed farm": hundreds of RSS 2.0 feeds on 127.0.0.1 that publish on a seeded
schedule, misbehave on purpose, and keep the ground truth a soak benchmark checks against.

Every feed publishes items at its own deterministic times (a seeded Poisson process
measured on the injected clock, plus a `window` of back-filled items so the first poll
sees a full document). A document depends only on which items are published, so its
ETag is stable between publications and most polls of a well-behaved client are 304s.
A share of the other requests is answered with a fault; faults never change what is
published, so `published_items()` and `listed_items()` stay the truth whatever happened.

A checker is expected to assert  listed_items() <= what the tracker stored <= published_items()
and that no GUID was stored twice; `copies()` lists the republications it should attribute.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import re
import socket
import struct
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

FAULT_KINDS = ("http500", "http503_retry_after", "http429_retry_after", "timeout_hang", "slow_drip",
               "malformed_xml", "html_page", "reset", "gzip_bomb")

RSS_TYPE = "application/rss+xml; charset=utf-8"
BOMB_BYTES = 20 * 1024 * 1024
DRIP_STEP = 0.2  # seconds between dripped bytes
# Items of one feed are at least this far apart, so whole-second Last-Modified values
# strictly increase and If-Modified-Since can never hide a new item.
MIN_GAP = 1.0
COPY_LAG = (30.0, 300.0)  # a republication appears this many seconds after its source

_ERROR_REPLIES = {"http500": (500, ()), "http503_retry_after": (503, (("Retry-After", "2"),)),
                  "http429_retry_after": (429, (("Retry-After", "2"),))}
_FEED_PATH = re.compile(r"/feed/(\d+)\.xml(?:\?.*)?")
# Real words rather than syllable soup, so normalisation and tokenising behave as on real text;
# ~120 words make accidental 5-word overlaps between independent items practically impossible.
_WORDS = tuple(["river", "lantern", "quiet", "market", "council", "harbour", "winter", "budget", "signal", "orchard", "bridge", "copper", "meadow", "station", "archive", "engine", "festival", "garden", "library", "ferry", "tunnel", "village", "summit", "canal", "report", "debate", "vote", "weather", "forecast", "storm", "drought", "harvest", "museum", "school", "hospital", "clinic", "railway", "airport", "bakery", "theatre", "concert", "gallery", "stadium", "highway", "cyclist", "driver", "farmer", "teacher", "nurse", "mayor", "minister", "judge", "witness", "scientist", "student", "reader", "editor", "artist", "announced", "delayed", "approved", "rejected", "opened", "closed", "repaired", "measured", "counted", "painted", "visited", "reported", "confirmed", "denied", "expected", "promised", "planned", "questioned", "welcomed", "early", "late", "rapid", "slow", "bright", "dark", "narrow", "wide", "ancient", "modern", "local", "regional", "national", "northern", "southern", "eastern", "western", "coastal", "rural", "urban", "noisy", "careful", "sudden", "morning", "evening", "weekend", "season", "decade", "century", "moment", "record", "survey", "sample", "study", "water", "power", "grain", "timber", "cotton", "steel", "glass", "paper", "stone", "salt", "coffee", "honey", "wool"])


@dataclass(frozen=True)
class FarmConfig:
    """Size, publication rate and misbehaviour of the farm; identical configs serve identical feeds."""

    feeds: int = 300
    items_per_feed_per_minute: float = 0.5   # per feed, each on its own seeded schedule
    window: int = 15                          # items listed per feed document (newest first)
    seed: int = 7
    fault_rate: float = 0.15                  # share of requests answered with a fault
    slow_seconds: float = 3.0                 # how long a "slow" response drips
    faults: tuple[str, ...] = FAULT_KINDS
    copy_rate: float = 0.05                   # share of items that republish another feed's item verbatim

    def __post_init__(self) -> None:
        if set(self.faults) - set(FAULT_KINDS) or (self.fault_rate > 0 and not self.faults):
            raise ValueError(f"faults must be a non-empty subset of {FAULT_KINDS}, got {self.faults}")
        if self.feeds < 1 or self.window < 1 or self.items_per_feed_per_minute < 0 or self.slow_seconds < 0:
            raise ValueError("feeds and window must be >= 1; rate and slow_seconds >= 0")
        if not (0 <= self.fault_rate <= 1 and 0 <= self.copy_rate <= 1):
            raise ValueError("fault_rate and copy_rate must be within [0, 1]")


@dataclass(frozen=True)
class Item:
    """One published item; `original` is the (feed, n) of the first publication it copies, or None."""

    feed: int
    n: int
    at: float            # seconds relative to the farm's creation, on the injected clock
    title: str
    paragraphs: tuple[str, ...]
    original: tuple[int, int] | None

    @property
    def guid(self) -> str:
        return f"farm-{self.feed}-{self.n}"


@dataclass(frozen=True)
class Document:
    """A rendered feed document and its validators."""

    body: bytes
    etag: str
    last_modified: str
    guids: frozenset[str]


def _prose(rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """A title and three paragraphs totalling 60-120 words, all drawn from `rng`."""
    budget = rng.randint(60, 120)
    paragraphs = []
    for share in (budget // 3, budget // 3, budget - 2 * (budget // 3)):
        sentences, left = [], share
        while left > 0:
            size = min(left, rng.randint(6, 12))
            words = [rng.choice(_WORDS) for _ in range(size)]
            sentences.append(" ".join(words).capitalize() + ".")
            left -= size
        paragraphs.append(" ".join(sentences))
    title = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 7))).title()
    return title, tuple(paragraphs)


@cache
def _bomb() -> bytes:
    """20 MB of zeros gzipped (~20 KB): built once, on first use."""
    return gzip.compress(bytes(BOMB_BYTES), compresslevel=9, mtime=0)


class FeedFarm:
    """Serves `config.feeds` RSS feeds over HTTP and records what was published and served."""

    def __init__(self, config: FarmConfig = FarmConfig(), clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._t0 = clock()
        self._wall0 = time.time()  # clock times map onto wall dates from here, for pubDate/Last-Modified
        self._lock = threading.RLock()  # schedule, item and document caches
        self._stats_lock = threading.Lock()
        self._fault_rng = random.Random(f"{config.seed}/faults")
        self._times: dict[int, list[float]] = {}
        self._schedule_rngs: dict[int, random.Random] = {}
        self._items: dict[tuple[int, int], Item] = {}
        self._documents: dict[tuple[int, int], Document] = {}
        self._listed: dict[int, set[str]] = {}
        self._stats: dict[str, int] = dict.fromkeys(("requests", "200", "304", "404", *FAULT_KINDS), 0)
        self._stopping = threading.Event()
        self._server: _FarmServer | None = None
        self._thread: threading.Thread | None = None
        self._base = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Serve on an ephemeral 127.0.0.1 port from a background thread; return the base URL."""
        if self._server is not None:
            raise RuntimeError("farm already started")
        self._stopping.clear()
        with self._lock:
            self._documents.clear()  # documents embed the base URL, which changes with the port
        self._server = _FarmServer(("127.0.0.1", 0), _Handler)
        self._server.farm = self
        self._base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="feedfarm", daemon=True)
        self._thread.start()
        return self._base

    def stop(self) -> None:
        """Stop serving; wakes hanging/dripping handlers and drops idle keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedFarm:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ ground truth

    def feed_urls(self) -> list[str]:
        """Every feed's URL, in feed order."""
        return [self._url(f) for f in range(self.config.feeds)]

    def published_items(self, until: float | None = None) -> dict[str, set[str]]:
        """Feed URL -> GUIDs published up to clock time `until` (default now): everything that exists."""
        rel = (self.clock() if until is None else until) - self._t0
        with self._lock:
            return {self._url(f): {f"farm-{f}-{n}" for n in range(self._count(f, rel))}
                    for f in range(self.config.feeds)}

    def listed_items(self) -> dict[str, set[str]]:
        """Feed URL -> GUIDs sent at least once in a complete, well-formed 200 feed response."""
        with self._lock:
            return {self._url(f): set(self._listed.get(f, ())) for f in range(self.config.feeds)}

    def copies(self, until: float | None = None) -> list[tuple[str, str]]:
        """(copy GUID, original GUID) for every republication published up to `until` (default now).

        The original is always the first publication of the text, never another copy.
        """
        rel = (self.clock() if until is None else until) - self._t0
        out = []
        with self._lock:
            for f in range(self.config.feeds):
                for n in range(self._count(f, rel)):
                    item = self._item(f, n)
                    if item.original is not None:
                        out.append((item.guid, "farm-{}-{}".format(*item.original)))
        return out

    def stats(self) -> dict[str, int]:
        """Counts of requests, 200s, 304s, 404s and each fault kind served."""
        with self._stats_lock:
            return dict(self._stats)

    # ------------------------------------------------------------------ schedule

    def _url(self, feed: int) -> str:
        if not self._base:
            raise RuntimeError("start() the farm first: URLs contain its port")
        return f"{self._base}/feed/{feed}.xml"

    def _schedule(self, feed: int, rel: float) -> list[float]:
        """Feed `feed`'s publication times, extended until one lies beyond `rel`."""
        times = self._times.get(feed)
        rate = self.config.items_per_feed_per_minute / 60.0
        if times is None:
            rng = self._schedule_rngs[feed] = random.Random(f"{self.config.seed}/schedule/{feed}")
            # Back-fill `window` items before t=0 so the very first poll sees a full document.
            mean = 1 / rate if rate > 0 else 120.0
            back, t = [], 0.0
            for _ in range(self.config.window):
                t -= MIN_GAP + rng.expovariate(1 / mean)
                back.append(t)
            times = self._times[feed] = back[::-1]
        if rate > 0:
            rng = self._schedule_rngs[feed]
            while times[-1] <= rel:
                times.append(max(times[-1], 0.0) + MIN_GAP + rng.expovariate(rate))
        return times

    def _count(self, feed: int, rel: float) -> int:
        """How many items `feed` has published by relative time `rel`."""
        return bisect_right(self._schedule(feed, rel), rel)

    def _item(self, feed: int, n: int) -> Item:
        """Item `n` of `feed`; its text depends only on (seed, feed, n), so query order never matters."""
        key = (feed, n)
        if key in self._items:
            return self._items[key]
        at = self._schedule(feed, 0.0)[n]
        rng = random.Random(f"{self.config.seed}/item/{feed}/{n}")
        root: Item | None = None
        if self.config.feeds > 1 and rng.random() < self.config.copy_rate:
            source = rng.choice([g for g in range(self.config.feeds) if g != feed])
            k = self._count(source, at - rng.uniform(*COPY_LAG))
            if k > 0:  # copy the source's newest item at least COPY_LAG[0] older, or what that copies
                root = self._item(source, k - 1)
                root = self._item(*root.original) if root.original else root
            if root is not None and (root.feed == feed or self._copied_before(feed, n, root)):
                root = None  # a feed repeating a story it already ran is not a republication
        if root is None:
            title, paragraphs = _prose(rng)
            item = Item(feed, n, at, title, paragraphs, None)
        else:
            item = Item(feed, n, at, root.title, root.paragraphs, (root.feed, root.n))
        self._items[key] = item
        return item

    def _copied_before(self, feed: int, n: int, root: Item) -> bool:
        """Whether an earlier item of `feed` already copies `root` (only items newer than root can)."""
        times = self._schedule(feed, 0.0)
        for m in range(n - 1, -1, -1):
            if times[m] < root.at:
                return False
            if self._item(feed, m).original == (root.feed, root.n):
                return True
        return False

    def _document(self, feed: int, rel: float) -> Document:
        """The feed document as of `rel`: the newest `window` items, newest first."""
        with self._lock:
            count = self._count(feed, rel)
            cached = self._documents.get((feed, count))
            if cached is not None:
                return cached
            # Oldest first, so same-feed lookups behind each item are already memoised (shallow recursion).
            items = [self._item(feed, n) for n in range(max(count - self.config.window, 0), count)][::-1]
            entries = [f"<item><title>{escape(i.title)}</title><link>{self._base}/item/{i.feed}/{i.n}.html</link>"
                       f'<guid isPermaLink="false">{i.guid}</guid><pubDate>{self._http_date(i.at)}</pubDate>'
                       f"<description>{escape(''.join(f'<p>{p}</p>' for p in i.paragraphs))}</description></item>"
                       for i in items]
            newest = self._http_date(items[0].at) if items else self._http_date(-86400.0)
            body = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                    f"<title>Farm feed {feed}</title><link>{self._base}/feed/{feed}.xml</link>"
                    f"<description>Synthetic feed {feed}</description><lastBuildDate>{newest}</lastBuildDate>"
                    + "".join(entries) + "</channel></rss>\n").encode()
            doc = Document(body, f'"{hashlib.sha1(body).hexdigest()}"', newest, frozenset(i.guid for i in items))
            self._documents[(feed, count)] = doc
            return doc

    def _http_date(self, rel: float) -> str:
        return format_datetime(datetime.fromtimestamp(int(self._wall0 + rel), UTC), usegmt=True)

    # ------------------------------------------------------------------ bookkeeping for the handler

    def _count_stat(self, key: str) -> None:
        with self._stats_lock:
            self._stats[key] += 1

    def _pick_fault(self) -> str | None:
        with self._stats_lock:  # one seeded stream shared by all handler threads
            if self._fault_rng.random() >= self.config.fault_rate:
                return None
            return self._fault_rng.choice(self.config.faults)

    def _served(self, feed: int, doc: Document) -> None:
        with self._lock:
            self._listed.setdefault(feed, set()).update(doc.guids)
        self._count_stat("200")


class _FarmServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of polls must queue, not be refused
    farm: FeedFarm

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked reading idle keep-alive connections."""
        with self._open_lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the default prints a traceback to stderr; clients hanging up is normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a pooling client expects
    timeout = 30                   # an idle or stalled connection frees its thread eventually
    server: _FarmServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # never write to stderr

    def do_GET(self) -> None:
        farm = self.server.farm
        farm._count_stat("requests")
        match = _FEED_PATH.fullmatch(self.path)
        if match is None or int(match[1]) >= farm.config.feeds:
            farm._count_stat("404")
            self._reply(404, b"no such feed\n", "text/plain")
            return
        feed = int(match[1])
        doc = farm._document(feed, farm.clock() - farm._t0)
        validators = (("ETag", doc.etag), ("Last-Modified", doc.last_modified))
        if self._not_modified(doc):
            farm._count_stat("304")  # 304s are never faulted: a fault needs a body to spoil
            self._reply(304, b"", None, validators)
            return
        fault = farm._pick_fault()
        if fault is None:
            self._reply(200, doc.body, RSS_TYPE, validators, lambda: farm._served(feed, doc))
        else:
            farm._count_stat(fault)
            self._fault(fault, doc)

    def _not_modified(self, doc: Document) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:  # RFC 9110: If-None-Match takes precedence over If-Modified-Since
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or doc.etag in tags
        try:
            return parsedate_to_datetime(self.headers["If-Modified-Since"]) >= parsedate_to_datetime(doc.last_modified)
        except (TypeError, ValueError):  # absent or unreadable
            return False

    def _reply(self, status: int, body: bytes, ctype: str | None,
               headers: tuple[tuple[str, str], ...] = (),
               before_last_byte: Callable[[], None] | None = None) -> None:
        # `before_last_byte` runs when all but the last byte went out: late enough that the body was
        # really sent, early enough that a client holding all of it finds it already recorded.
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for key, value in headers:
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if before_last_byte is not None and body:
            self.wfile.write(body[:-1])
            before_last_byte()
            body = body[-1:]
        if body:
            self.wfile.write(body)

    def _fault(self, kind: str, doc: Document) -> None:
        """Spoil this response in the way `kind` names; published items are untouched."""
        farm = self.server.farm
        slow = farm.config.slow_seconds
        if kind in _ERROR_REPLIES:
            status, headers = _ERROR_REPLIES[kind]
            self._reply(status, b"try again later\n", "text/plain", headers)
        elif kind == "timeout_hang":
            # Read the request, say nothing, then hang up: the client must time out or see EOF.
            farm._stopping.wait(slow * 3)
            self.close_connection = True
        elif kind == "slow_drip":
            # Promise the whole document, then trickle it until slow_seconds are up and hang up.
            self.send_response(200)
            self.send_header("Content-Type", RSS_TYPE)
            self.send_header("Content-Length", str(len(doc.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            deadline = time.monotonic() + slow
            for byte in doc.body:
                if time.monotonic() >= deadline or farm._stopping.is_set():
                    break
                self.wfile.write(bytes((byte,)))
                farm._stopping.wait(DRIP_STEP)
        elif kind == "malformed_xml":
            # Cut inside the first item's description, so the document is structurally broken.
            cut = doc.body.find(b"<description>&lt;p&gt;")
            cut = cut + 40 if cut >= 0 else len(doc.body) // 2
            self._reply(200, doc.body[:cut], RSS_TYPE)
        elif kind == "html_page":
            page = (b"<!DOCTYPE html><html><head><title>Down for maintenance</title></head>"
                    b"<body><h1>We'll be back soon</h1><p>The feed is unavailable.</p></body></html>")
            self._reply(200, page, "text/html; charset=utf-8")
        elif kind == "reset":
            # Linger 0 makes close() send RST instead of FIN. The request is read, so the client's
            # send succeeded and it meets the reset while waiting for the answer.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            self.rfile.close()  # drops the makefile reference: now the descriptor really closes
        elif kind == "gzip_bomb":
            self._reply(200, _bomb(), RSS_TYPE, (("Content-Encoding", "gzip"),))

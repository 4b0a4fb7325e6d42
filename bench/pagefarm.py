"""A local farm of summary-only feeds whose article pages are served, some of them badly.

Each feed lists a title and a one-sentence summary per item; the article is on the item's
page, /page/F/N.html. Every page has a kind, fixed by the seed: `ok`, or `slow` (answers
after `slow_seconds`), `missing` (404), `hanging` (never answers until the farm closes),
`huge` (a body larger than any page cap), `not_html` (a PDF), `private_redirect` (a 302 to
the cloud metadata address), `robots` (under /private/, which robots.txt disallows).
Pages and feeds answer 304 to their ETag. Every request is counted per path, 304s apart.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

PAGE_KINDS = ("ok", "slow", "missing", "hanging", "huge", "not_html", "private_redirect", "robots")
HTML = "text/html; charset=utf-8"
PUBLISHED = datetime(2026, 1, 5, 8, 0, 0)
_WORDS = ("river", "lantern", "market", "council", "harbour", "winter", "budget", "signal", "orchard", "bridge", "copper",
          "meadow", "station", "archive", "engine", "festival", "garden", "library", "ferry", "tunnel", "village", "summit",
          "canal", "report", "debate", "weather", "storm", "drought", "harvest", "museum", "school", "hospital", "railway",
          "airport", "theatre", "stadium", "farmer", "teacher", "nurse", "mayor", "minister", "judge", "announced",
          "delayed", "approved", "rejected", "opened", "closed", "repaired", "counted", "visited", "confirmed")


@dataclass(frozen=True)
class PageFarmConfig:
    """How many feeds and items, and the share of each misbehaving page kind (the rest are `ok`)."""

    feeds: int = 4
    items: int = 5
    mix: Mapping[str, float] = field(default_factory=dict)
    # Instead of `mix`: the kinds in turn, item after item, feed after feed.
    cycle: tuple[str, ...] = ()
    # Servers (ports, so sites to a polite client) the pages are spread over: feed F's on F % sites.
    sites: int = 1
    slow_seconds: float = 0.5
    huge_bytes: int = 12 * 1024 * 1024
    seed: int = 3


def article(feed: int, n: int, seed: int) -> list[str]:
    """An item's article: six distinct paragraphs of ~50 words."""
    rng = random.Random(f"{seed}:{feed}:{n}")
    return [" ".join(rng.choice(_WORDS) for _ in range(50)).capitalize() + "." for _ in range(6)]


class PageFarm:
    """The farm's HTTP server on 127.0.0.1; `publish` adds items to a feed while it runs."""

    def __init__(self, config: PageFarmConfig) -> None:
        self.config = config
        self.published = [config.items] * config.feeds
        self.counts: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        farm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with farm._lock:
                    farm.counts[self.path] += 1
                status, headers, body = farm.answer(self.path, self.headers.get("If-None-Match"))
                if status == 304:
                    with farm._lock:
                        farm.not_modified[self.path] += 1
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a timeout): nothing to answer

            def log_message(self, *_: Any) -> None:
                pass

        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(max(1, config.sites))]
        for server in self._servers:
            server.daemon_threads = True
        self.ports = [server.server_address[1] for server in self._servers]
        self.port = self.ports[0]  # the feeds (every server answers every path)
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> PageFarm:
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def close(self) -> None:
        self._closed.set()  # hanging pages return, so their threads end
        for server in self._servers:
            server.shutdown()
            server.server_close()

    # -- what is served ----------------------------------------------------------------------
    def feed_urls(self) -> list[str]:
        return [f"{self.base}/feed/{f}.xml" for f in range(self.config.feeds)]

    def kind(self, feed: int, n: int) -> str:
        """The page kind of item `n` of `feed` (fixed by `cycle`, else by the seed)."""
        if self.config.cycle:
            return self.config.cycle[(feed * self.config.items + n) % len(self.config.cycle)]
        u = random.Random(f"kind:{self.config.seed}:{feed}:{n}").random()
        for kind in PAGE_KINDS[1:]:
            share = self.config.mix.get(kind, 0.0)
            if u < share:
                return kind
            u -= share
        return "ok"

    def page_url(self, feed: int, n: int) -> str:
        return f"http://127.0.0.1:{self.ports[feed % len(self.ports)]}{self.page_path(feed, n)}"

    def page_path(self, feed: int, n: int) -> str:
        folder = "private" if self.kind(feed, n) == "robots" else "page"
        return f"/{folder}/{feed}/{n}.html"

    def pages(self) -> dict[str, str]:
        """Every published page's path → its kind."""
        with self._lock:
            counts = list(self.published)
        return {self.page_path(f, n): self.kind(f, n) for f, count in enumerate(counts) for n in range(count)}

    def publish(self, feed: int, count: int = 1) -> None:
        with self._lock:
            self.published[feed] += count

    def answer(self, path: str, etag: str | None) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"
        parts = path.strip("/").split("/")
        try:
            if parts[0] == "feed" and len(parts) == 2:
                return self._feed(int(parts[1].removesuffix(".xml")), etag)
            if parts[0] in ("page", "private") and len(parts) == 3:
                return self._page(int(parts[1]), int(parts[2].removesuffix(".html")), etag)
        except ValueError:
            pass
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _feed(self, feed: int, etag: str | None) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            count = self.published[feed] if 0 <= feed < len(self.published) else 0
        tag = f'"feed-{feed}-{count}"'
        if etag == tag:
            return 304, {"ETag": tag}, b""
        items = []
        for n in reversed(range(count)):
            words = article(feed, n, self.config.seed)[0].split()[:18]
            when = format_datetime((PUBLISHED + timedelta(minutes=n)).replace(tzinfo=UTC))
            items.append(
                f"<item><title>Feed {feed} story {n}</title><link>{self.page_url(feed, n)}</link>"
                f"<guid>urn:farm:{feed}:{n}</guid><pubDate>{when}</pubDate>"
                f"<description>{escape(' '.join(words))}…</description></item>"
            )
        body = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Farm feed {feed}</title>'
                f"<link>{self.base}/</link><description>summaries</description>{''.join(items)}</channel></rss>")
        return 200, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": tag}, body.encode()

    def _page(self, feed: int, n: int, etag: str | None) -> tuple[int, dict[str, str], bytes]:
        kind = self.kind(feed, n)
        if kind == "missing":
            return 404, {"Content-Type": "text/html"}, b"<html><body>Not found</body></html>"
        if kind == "hanging":
            self._closed.wait(3600)
            return 503, {}, b""
        if kind == "slow":
            time.sleep(self.config.slow_seconds)
        if kind == "not_html":
            return 200, {"Content-Type": "application/pdf"}, b"%PDF-1.7\n" + b"0" * 4096
        if kind == "huge":
            return 200, {"Content-Type": HTML}, b"<html><body>" + b"<p>word</p>" * (self.config.huge_bytes // 11)
        if kind == "private_redirect":
            return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""
        tag = f'"page-{feed}-{n}"'
        if etag == tag:
            return 304, {"ETag": tag}, b""
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article(feed, n, self.config.seed))
        body = (f"<!doctype html><html><head><title>Feed {feed} story {n}</title></head><body>"
                f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article><h1>Feed {feed} story {n}</h1>"
                f"{paragraphs}</article><footer>© Farm</footer></body></html>")
        return 200, {"Content-Type": HTML, "ETag": tag, "Last-Modified": "Mon, 05 Jan 2026 08:00:00 GMT"}, body.encode()

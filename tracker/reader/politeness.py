"""Politeness toward the sites whose article pages the daemon fetches. protego lives here.

`HostGate` hands out page requests so that each host sees one request at a time, a pause
between two of them, and none before its `Retry-After`. `RobotsCache` keeps each site's
robots.txt (RFC 9309) for a day: a 4xx means no rules; a 5xx, a timeout or an answer
refused means "unreachable", which disallows the site until it is asked again, sooner.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from protego import Protego

from tracker.reader.fetch import FetchResult

T = TypeVar("T")
Clock = Callable[[], float]
# A site's own Crawl-delay is honoured up to this; more would starve its queue.
MAX_CRAWL_DELAY = 120.0
# An unreachable robots.txt is asked again after this (RFC 9309: "reasonable" retries).
UNREACHABLE_SECONDS = 600.0
# RFC 9309: parsers must read at least 500 KiB.
ROBOTS_MAX_BYTES = 512 * 1024
_MAX_SITES = 10_000


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased: where its robots.txt is, and its politeness key."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets: it is a URL again
    port = f":{parts.port}" if parts.port and parts.port != {"http": 80, "https": 443}.get(parts.scheme.lower()) else ""
    return f"{parts.scheme.lower()}://{host}{port}"


class HostGate(Generic[T]):
    """A queue of requests, each given out only when its host is free and rested."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._ready = threading.Condition()
        self._pending: deque[tuple[str, T]] = deque()
        self._busy: set[str] = set()
        self._rested_at: dict[str, float] = {}

    def put(self, host: str, item: T, first: bool = False) -> None:
        """Queue a request for `host` (at the front with `first`)."""
        with self._ready:
            if first:
                self._pending.appendleft((host, item))
            else:
                self._pending.append((host, item))
            self._ready.notify()

    def __len__(self) -> int:
        with self._ready:
            return len(self._pending) + len(self._busy)

    def take(self, stop: threading.Event, longest: float = 0.5) -> tuple[str, T] | None:
        """The first request whose host is free and rested (its host is then busy until
        `done`); None once `stop` is set. Waits at most `longest` seconds between looks."""
        with self._ready:
            while not stop.is_set():
                now = self._clock()
                soonest: float | None = None
                for index, (host, item) in enumerate(self._pending):
                    if host in self._busy:
                        continue
                    rested = self._rested_at.get(host, 0.0)
                    if rested <= now:
                        del self._pending[index]
                        self._busy.add(host)
                        return host, item
                    soonest = rested if soonest is None else min(soonest, rested)
                wait = longest if soonest is None else min(longest, max(soonest - now, 0.001))
                self._ready.wait(wait)
        return None

    def done(self, host: str, pause: float) -> None:
        """The host's request is over: its next one waits `pause` seconds."""
        with self._ready:
            self._busy.discard(host)
            now = self._clock()
            self._rested_at[host] = max(self._rested_at.get(host, 0.0), now + pause)
            if len(self._rested_at) > _MAX_SITES:
                # Hosts long rested need no entry: absent means "rested".
                self._rested_at = {h: t for h, t in self._rested_at.items() if t > now or h in self._busy}
            self._ready.notify_all()


@dataclass(frozen=True)
class Rules:
    """A site's robots.txt as understood: parsed rules, or everything allowed / disallowed."""

    parser: Protego | None
    allow_all: bool
    reason: str  # why allow_all or disallow_all, for the failure message

    def allows(self, url: str, agent: str) -> bool:
        """Whether `agent` may fetch `url`."""
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, agent))

    def crawl_delay(self, agent: str) -> float | None:
        """The site's Crawl-delay for `agent`, capped; None when it names none."""
        if self.parser is None:
            return None
        try:
            delay = self.parser.crawl_delay(agent)
        except (TypeError, ValueError):
            return None
        return min(float(delay), MAX_CRAWL_DELAY) if delay and delay > 0 else None


def rules_from(result: FetchResult) -> tuple[Rules, float | None]:
    """A robots.txt answer as rules, and how long they hold if shorter than a day (None: a day)."""
    if result.ok and result.body is not None:
        text = result.body[:ROBOTS_MAX_BYTES].decode("utf-8", "replace")
        try:
            return Rules(Protego.parse(text), True, "robots.txt"), None
        except Exception as error:  # protego on hostile text: read as no rules, like a 404
            return Rules(None, True, f"unreadable robots.txt ({type(error).__name__})"), None
    status = result.status
    if result.error_kind in ("http_status", "gone") and status is not None and 400 <= status < 500:
        return Rules(None, True, f"robots.txt answered HTTP {status}"), None
    if result.error_kind in ("blocked_address", "invalid_url"):
        # Never to be asked (a private address, a URL no client takes): nor is the page, which
        # the fetcher then refuses for that reason, once and for good, not as robots' for now.
        return Rules(None, True, f"robots.txt not asked ({result.error_kind})"), None
    why = result.error_message or result.error_kind or "no answer"
    return Rules(None, False, f"robots.txt unreachable ({why})"), UNREACHABLE_SECONDS


class RobotsCache:
    """Each site's robots.txt rules, kept `ttl` seconds (unreachable ones less), at most 10,000 sites."""

    def __init__(self, fetch: Callable[[str], FetchResult], agent: str, ttl: float, clock: Clock = time.monotonic) -> None:
        """`fetch` GETs a robots.txt URL; `agent` is the product token rules are matched against."""
        self._fetch = fetch
        self.agent = agent
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._sites: OrderedDict[str, tuple[float, Rules]] = OrderedDict()

    def rules(self, url: str) -> Rules | None:
        """The rules for `url`'s site, or None when they must be fetched (`load`) first."""
        site = origin_of(url)
        with self._lock:
            held = self._sites.get(site)
            if held is None or held[0] <= self._clock():
                return None
            self._sites.move_to_end(site)
            return held[1]

    def load(self, url: str) -> Rules:
        """Fetch `url`'s site's robots.txt (over the network: call it in a page worker)."""
        site = origin_of(url)
        rules, ttl = rules_from(self._fetch(f"{site}/robots.txt"))
        with self._lock:
            self._sites[site] = (self._clock() + (ttl or self._ttl), rules)
            self._sites.move_to_end(site)
            while len(self._sites) > _MAX_SITES:
                self._sites.popitem(last=False)
        return rules


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against: `tracker` of `tracker/0.1 (…)`."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"

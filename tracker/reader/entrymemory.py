"""What a process remembers of the entries it parsed, per feed, so that the next capture of
the feed hands feedparser only what is new (tracker.reader.parse, tracker.reader.feedlayout).

A polled feed repeats most of its entries from one capture to the next: an entry is
remembered by a digest of its bytes, under the document context it was parsed in (a feed
whose context changes forgets its entries). The memory is bounded so that a daemon that
runs for months and an archive of any size keep flat memory: per feed, the entries of its
latest capture and as many again, at least `PER_FEED_MIN` (a feed served by two backends in
turn keeps both sets); in all, `MAX_BYTES` (an estimate of what the remembered entries hold),
the feed parsed longest ago forgotten first — but feeds are polled in turn, so that the
feed parsed longest ago is the next one back: a feed that is not remembered is not
remembered either at the cost of one parsed since its own previous capture. Once more
feeds are polled than fit, the same ones stay remembered (rather than each forgotten just
before it comes back), and a feed no longer polled is forgotten in time. It is per process
(the ingest's parser process, each `--workers` share's own, a daemon) and safe for its threads.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracker.reader.feedlayout import Layout, layout

MAX_BYTES = 32 * 2**20
PER_FEED_MIN = 64
SEEN_MAX = 100_000  # feeds whose last parse is known (a number each), remembered or not


@dataclass
class _Feed:
    context: bytes
    entries: OrderedDict[bytes, tuple[Any, int]] = field(default_factory=OrderedDict)
    size: int = 0


@dataclass(frozen=True)
class Plan:
    """How to parse one capture of a feed (`body`): `document` is the capture without the
    entries remembered (`recalled`, None for each entry to parse), for feedparser to read."""

    feed: str
    body: bytes
    shape: Layout
    keys: tuple[bytes, ...]
    recalled: tuple[Any | None, ...]
    document: bytes

    @property
    def fresh(self) -> int:
        """How many entries `document` holds."""
        return sum(1 for known in self.recalled if known is None)


class EntryMemory:
    """Entries parsed before, by feed, document context and a digest of the entry's bytes."""

    def __init__(self, max_bytes: int = MAX_BYTES, per_feed_min: int = PER_FEED_MIN) -> None:
        self.max_bytes = max_bytes
        self.per_feed_min = per_feed_min
        self._feeds: OrderedDict[str, _Feed] = OrderedDict()  # the feed parsed longest ago first
        self._size = 0
        self._lock = threading.Lock()
        self._tick = 0
        self._seen: OrderedDict[str, int] = OrderedDict()  # when each feed was last parsed (a count of parses)
        self.recalled = 0  # entries found remembered, since the start (for benches and tests)
        self.missed = 0  # entries looked for and not found

    @property
    def size(self) -> int:
        """The estimated bytes remembered, all feeds together."""
        return self._size

    def plan(self, body: bytes, content_type: str | None, feed: str, known: Mapping[str, str]) -> Plan | None:
        """The plan for a capture of `feed` (None: it must be parsed whole, see
        tracker.reader.feedlayout); `known` as `feedlayout.layout` takes it."""
        shape = layout(body, content_type, known)
        if shape is None:
            return None
        view = memoryview(body)
        keys = tuple(hashlib.blake2b(view[start:end], digest_size=16).digest() for start, end in shape.spans)
        recalled = self.recall(feed, shape.context, keys)
        for index in shape.sensitive:
            recalled[index] = None  # its parse depends on the head before it: always parsed
        pieces: list[bytes] = []
        kept_from = 0
        for (start, end), hit in zip(shape.spans, recalled):
            if hit is not None:
                pieces.append(body[kept_from:start])
                kept_from = end
        document = b"".join([*pieces, body[kept_from:]]) if pieces else body
        return Plan(feed, body, shape, keys, tuple(recalled), document)

    def recall(self, feed: str, context: bytes, keys: Sequence[bytes]) -> list[Any | None]:
        """What is remembered for each key (None: nothing) of `feed` in `context`."""
        with self._lock:
            known = self._feeds.get(feed)
            if known is None or known.context != context:
                self.missed += len(keys)
                return [None] * len(keys)
            found = [known.entries.get(key) for key in keys]
            hits = sum(1 for hit in found if hit is not None)
            self.recalled += hits
            self.missed += len(keys) - hits
        return [None if hit is None else hit[0] for hit in found]

    def keep(self, feed: str, context: bytes, present: Sequence[bytes], fresh: Sequence[tuple[bytes, Any, int]]) -> None:
        """Remember `fresh` (key, value, estimated bytes) for `feed` in `context`; `present` are
        the keys of all its capture's entries, the most recent ones to keep."""
        with self._lock:
            self._tick += 1
            previous = self._seen.pop(feed, None)
            self._seen[feed] = self._tick
            if len(self._seen) > SEEN_MAX:
                self._seen.popitem(last=False)
            known = self._feeds.pop(feed, None)
            admitted = known is None or known.context != context
            if admitted:
                self._size -= known.size if known is not None else 0
                known = _Feed(context)
            self._feeds[feed] = known  # last: the feed parsed most recently
            entries = known.entries
            for key, value, size in fresh:
                if key not in entries:
                    entries[key] = (value, size)
                    known.size += size
                    self._size += size
            for key in present:
                if key in entries:
                    entries.move_to_end(key)
            self._trim(known, max(2 * len(present), self.per_feed_min))
            self._fit(feed, known, previous if admitted else None)

    def _fit(self, feed: str, known: _Feed, previous: int | None) -> None:
        """Forget feeds until the memory is within its bound: the one parsed longest ago, or
        this one, newly remembered, when that one was parsed since this one's `previous` parse."""
        while self._size > self.max_bytes:
            oldest = next(iter(self._feeds))
            if oldest == feed:  # this feed alone is over the bound
                self._trim(known, 0, self.max_bytes)
                return
            if previous is not None and self._seen.get(oldest, 0) > previous:
                self._forget(feed)
                return
            self._forget(oldest)

    def _trim(self, known: _Feed, count: int, max_bytes: int | None = None) -> None:
        entries = known.entries
        while entries and (len(entries) > count if max_bytes is None else known.size > max_bytes):
            _key, (_value, size) = entries.popitem(last=False)
            known.size -= size
            self._size -= size

    def _forget(self, feed: str) -> None:
        known = self._feeds.pop(feed, None)
        if known is not None:
            self._size -= known.size

    def clear(self) -> None:
        """Forget everything (tests, and a caller that wants a parse from nothing)."""
        with self._lock:
            self._feeds.clear()
            self._seen.clear()
            self._size = self.recalled = self.missed = self._tick = 0

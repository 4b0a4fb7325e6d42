"""A synthetic syndication network for scale benchmarks, written as WARC captures.

Articles are built from a Zipf-distributed vocabulary of made-up words (so two articles
share no run of five words by chance, as two real articles rarely do), with varied
paragraph and sentence lengths. Originators publish them; mirrors republish them
verbatim between chrome lines of their own and a WordPress "appeared first on" footer
(sometimes copying another mirror: copies of copies); aggregators publish excerpts (the
first one or two paragraphs); rewriters replace some words and drop a paragraph. Every
publisher has one RSS feed, captured whenever a few new items have accumulated, each
capture also listing some items already captured (as real feeds do).
"""

from __future__ import annotations

import io
import itertools
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

T0 = datetime(2025, 1, 6, 6, 0, 0, tzinfo=UTC)
ITEM_SPACING = timedelta(seconds=20)
# Share of new items by kind (the rest are originals).
MIRROR, EXCERPT, REWRITE = 0.20, 0.12, 0.08
# A copy's source is one of the latest originals; a mirror sometimes copies a mirror.
RECENT = 400
MIRROR_OF_MIRROR = 0.1
WINDOW_OLD = 5  # items already captured that a capture lists again
FLUSH_EVERY = 300  # items: then every feed with new items is captured


def vocabulary(size: int, seed: int = 7) -> tuple[list[str], list[float]]:
    """`size` distinct pronounceable made-up words and Zipf cumulative weights for them."""
    rng = random.Random(seed)
    onsets = ["b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z"]
    nuclei = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st"]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(onsets) + rng.choice(nuclei) + rng.choice(codas) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    weights = list(itertools.accumulate(1.0 / (rank + 2.7) ** 1.07 for rank in range(size)))
    return words, weights


@dataclass(frozen=True)
class Publisher:
    """One site and its feed."""

    name: str
    host: str
    role: str  # original, mirror, excerpt, rewrite
    batch: int  # new items that trigger a capture

    @property
    def feed_url(self) -> str:
        return f"https://{self.host}/feed/"


@dataclass
class Entry:
    """One item as its feed shows it."""

    title: str
    link: str
    paragraphs: list[str]
    published: datetime
    origin: tuple[str, str] | None = None  # (publisher name, link) credited in a footer


@dataclass
class FeedState:
    publisher: Publisher
    new: list[Entry] = field(default_factory=list)
    old: deque[Entry] = field(default_factory=lambda: deque(maxlen=WINDOW_OLD))


@dataclass(frozen=True)
class FeedCapture:
    """One capture of one feed: the RSS body and how many items appear in it for the first time."""

    url: str
    captured_at: datetime
    body: bytes
    new_items: int
    # What the body lists, for loaders that skip parsing it (bench/bulk_load.py).
    publisher: Publisher | None = None
    entries: tuple[Entry, ...] = ()


_ORIGINATORS = ["Northwind Herald", "Lakeside Courier", "Capital Ledger", "Harbour Post", "Valley Tribune", "Summit Daily",
                "Riverside Gazette", "Frontier Observer", "Meridian Times", "Coastal Chronicle"]
_MIRRORS = ["Mirror Hub", "NewsCopy24", "Echo Wire", "Reprint Planet"]
_AGGREGATORS = ["Headline Digest", "Brief Roundup", "Morning Aggregate"]
_REWRITERS = ["Spin Desk", "Retold News", "Paraphrase Press"]


def publishers(rng: random.Random) -> list[Publisher]:
    """The network's publishers: ten originators, four mirrors, three aggregators, three rewriters."""
    out = []
    for names, role in ((_ORIGINATORS, "original"), (_MIRRORS, "mirror"), (_AGGREGATORS, "excerpt"), (_REWRITERS, "rewrite")):
        for name in names:
            host = "".join(c for c in name.lower() if c.isalnum()) + ".example"
            out.append(Publisher(name, host, role, rng.randint(4, 15)))
    return out


class Network:
    """Generates the network's captures in capture-time order."""

    def __init__(self, seed: int = 1, vocabulary_size: int = 30_000) -> None:
        self.rng = random.Random(seed)
        self.words, self.weights = vocabulary(vocabulary_size, seed)
        self.publishers = publishers(self.rng)
        self.by_role = {role: [p for p in self.publishers if p.role == role] for role in ("original", "mirror", "excerpt", "rewrite")}
        self.feeds = {p.name: FeedState(p) for p in self.publishers}
        self.originals: deque[tuple[Publisher, Entry]] = deque(maxlen=RECENT)
        self.mirrored: deque[tuple[Publisher, Entry]] = deque(maxlen=RECENT)
        self.serial = 0

    # -- texts ---------------------------------------------------------------------
    def _sentence(self) -> str:
        words = self.rng.choices(self.words, cum_weights=self.weights, k=self.rng.randint(7, 24))
        return " ".join(words).capitalize() + "."

    def _paragraph(self) -> str:
        return " ".join(self._sentence() for _ in range(self.rng.randint(1, 5)))

    def _article(self) -> tuple[str, list[str]]:
        title = " ".join(self.rng.choices(self.words, cum_weights=self.weights, k=self.rng.randint(5, 11))).title()
        paragraphs = [self._paragraph() for _ in range(max(2, min(14, int(self.rng.lognormvariate(1.7, 0.45)))))]
        return title, paragraphs

    def _rewrite(self, paragraphs: list[str]) -> list[str]:
        out = []
        for paragraph in paragraphs:
            words = paragraph.split(" ")
            for i in range(len(words)):
                if self.rng.random() < 0.05:
                    words[i] = self.rng.choices(self.words, cum_weights=self.weights, k=1)[0]
            out.append(" ".join(words))
        if len(out) > 3:
            del out[self.rng.randrange(1, len(out))]
        return out

    def _link(self, publisher: Publisher, when: datetime, title: str) -> str:
        self.serial += 1
        slug = "-".join(title.lower().split()[:6])
        return f"https://{publisher.host}/{when:%Y/%m/%d}/{slug}-{self.serial}/"

    # -- items -----------------------------------------------------------------------
    def _new_entry(self, when: datetime) -> tuple[Publisher, Entry]:
        roll = self.rng.random()
        if not self.originals or roll >= MIRROR + EXCERPT + REWRITE:
            publisher = self.rng.choice(self.by_role["original"])
            title, paragraphs = self._article()
            entry = Entry(title, self._link(publisher, when, title), paragraphs, when)
            self.originals.append((publisher, entry))
            return publisher, entry
        if roll < MIRROR:
            publisher = self.rng.choice(self.by_role["mirror"])
            pool = self.mirrored if self.mirrored and self.rng.random() < MIRROR_OF_MIRROR else self.originals
            source_publisher, source = self.rng.choice(pool)
            if source_publisher == publisher:
                source_publisher, source = self.rng.choice(self.originals)
            chrome = [f"{publisher.name}: the news as it breaks, around the clock.", f"Follow {publisher.name} on Telegram and X."]
            entry = Entry(source.title, self._link(publisher, when, source.title), chrome + source.paragraphs, when,
                          origin=(source_publisher.name, source.link))
            self.mirrored.append((publisher, entry))
            return publisher, entry
        source_publisher, source = self.rng.choice(self.originals)
        if roll < MIRROR + EXCERPT:
            publisher = self.rng.choice(self.by_role["excerpt"])
            paragraphs = source.paragraphs[: self.rng.choice((1, 2))] + [f"Continue reading on {source_publisher.name}."]
            return publisher, Entry(source.title, self._link(publisher, when, source.title), paragraphs, when)
        publisher = self.rng.choice(self.by_role["rewrite"])
        title = source.title + " " + self.rng.choice(("Explained", "Update", "In Brief", "Analysis"))
        return publisher, Entry(title, self._link(publisher, when, title), self._rewrite(source.paragraphs), when)

    # -- captures ----------------------------------------------------------------------
    def _capture(self, state: FeedState, when: datetime) -> FeedCapture:
        entries = list(reversed(state.new)) + list(reversed(state.old))
        body = rss(state.publisher, entries)
        capture = FeedCapture(state.publisher.feed_url, when, body, len(state.new), state.publisher, tuple(entries))
        state.old.extend(state.new)
        state.new = []
        return capture

    def captures(self, items: int) -> Iterator[FeedCapture]:
        """Captures holding `items` distinct items in all, in capture-time order."""
        when = T0
        for n in range(1, items + 1):
            when = T0 + n * ITEM_SPACING
            publisher, entry = self._new_entry(when)
            state = self.feeds[publisher.name]
            state.new.append(entry)
            if len(state.new) >= publisher.batch:
                yield self._capture(state, when + timedelta(seconds=30))
            if n % FLUSH_EVERY == 0:
                for other in self.feeds.values():
                    if other.new:
                        yield self._capture(other, when + timedelta(seconds=45))
        for state in self.feeds.values():
            if state.new:
                yield self._capture(state, when + timedelta(seconds=60))


def rss(publisher: Publisher, entries: list[Entry]) -> bytes:
    """An RSS 2.0 document, full text in content:encoded as WordPress writes it."""
    site = f"https://{publisher.host}/"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>{escape(publisher.name)}</title><link>{site}</link><description>{escape(publisher.name)} news</description>",
    ]
    for entry in entries:
        body = "".join(f"<p>{escape(p)}</p>" for p in entry.paragraphs)
        if entry.origin:
            name, link = entry.origin
            body += f'<p>The post <a href="{link}">{escape(entry.title)}</a> appeared first on {escape(name)}.</p>'
        parts.append(
            f"<item><title>{escape(entry.title)}</title><link>{entry.link}</link><guid>{entry.link}</guid>"
            f"<pubDate>{format_datetime(entry.published)}</pubDate>"
            f"<description><![CDATA[<p>{escape(entry.paragraphs[0][:200])}</p>]]></description>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


class WarcOut:
    """A gzipped WARC file of feed captures, written as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._writer = WARCWriter(self._file, gzip=True)
        self.captures = 0
        self.items = 0

    def write(self, capture: FeedCapture) -> None:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "application/rss+xml; charset=utf-8")], protocol="HTTP/1.1")
        record = self._writer.create_warc_record(
            capture.url, "response", payload=io.BytesIO(capture.body), http_headers=headers,
            warc_headers_dict={"WARC-Date": capture.captured_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        self._writer.write_record(record)
        self.captures += 1
        self.items += capture.new_items

    def close(self) -> None:
        self._file.close()


def write_network(items: int, tail: int, bulk_path: Path, tail_path: Path, seed: int = 1) -> tuple[WarcOut, WarcOut]:
    """Write a network of `items` items: captures up to `items - tail` new items into
    `bulk_path`, the rest (the last `tail` items, give or take a capture) into `tail_path`."""
    bulk, rest = WarcOut(bulk_path), WarcOut(tail_path)
    try:
        for capture in Network(seed).captures(items):
            (bulk if bulk.items < items - tail else rest).write(capture)
    finally:
        bulk.close()
        rest.close()
    return bulk, rest


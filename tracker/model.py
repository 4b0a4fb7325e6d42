"""The small typed records that pipeline stages hand to one another.

Stages never exchange ORM rows or feedparser dictionaries: these dataclasses are the
whole contract between fetch/read, parse, normalise, fingerprint, provenance and store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only named in annotations: commands that never fingerprint skip loading numpy
    import numpy as np


def utcnow() -> datetime:
    """Now, as the naive UTC every time in the tracker is."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Capture:
    """One observation of a feed at a moment: the bytes it served, or that it was unchanged.

    `kind` is "response" (a body to parse), "revisit" (the feed was unchanged since the
    capture before), "file" (a plain feed file given on the command line) or "poll".
    """

    feed_url: str
    captured_at: datetime
    kind: str
    body: bytes | None
    source: str
    content_type: str | None = None
    status: int | None = None
    payload_digest: str | None = None
    error: str | None = None
    error_kind: str | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class PageCapture:
    """One fetch of an article page (a feed entry's link): what the server answered.

    `url` is the URL asked for, `final_url` the one answered after redirects (`redirects`:
    those in between). `body` is None when the fetch failed (`error`, `error_kind`) or the
    server answered 304 Not Modified. `source` is "fetch" or the archive record it came from.
    """

    url: str
    final_url: str
    fetched_at: datetime
    status: int | None
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    source: str = "fetch"
    redirects: tuple[str, ...] = ()
    error: str | None = None
    error_kind: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of an HTTP header (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass(frozen=True)
class PageRedirect:
    """An archived redirect: `url` answered with a redirect to `location` (absolute)."""

    url: str
    location: str
    when: datetime
    source: str


@dataclass(frozen=True)
class PageRequest:
    """An item whose page is wanted: its link, and what a conditional GET needs."""

    item_id: int
    url: str
    attempts: int
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Attribution:
    """A credit an item gives to another publication ("appeared first on X", `<source>`, …).

    `kind` names the signal: footer, originally_published, republished, read_full, source_line,
    source_element, dc_source, via_link. `name` and `url` are what the credit says; either may be missing.
    """

    kind: str
    name: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ReadBody:
    """An entry's body read as paragraphs, with every credit it gives: what its `Document`
    is made of (`tracker.detection.normalise.document_of`), small enough to send between processes."""

    paragraphs: tuple[str, ...]
    attributions: tuple[Attribution, ...]
    truncated: bool  # only the beginning of the entry's text


@dataclass(frozen=True)
class ParsedEntry:
    """One entry of a feed, reduced to what provenance needs."""

    guid: str | None
    link: str | None
    title: str
    author: str | None
    claimed_at: datetime | None
    content: str
    content_is_html: bool
    summary: str = ""
    attributions: tuple[Attribution, ...] = ()
    claimed_rejected: str | None = None  # why the entry's date string claims nothing (tracker.reader.dates)
    # The body's length as served, in characters: `content` holds at most the parse
    # stage's cap of it (None: all of it, as for an entry made by hand).
    content_chars: int | None = None
    # The body read ahead of time, by the process that parsed the feed
    # (`tracker.ingest.readahead`); None: whoever needs it reads it. Not part of the entry.
    read_body: ReadBody | None = field(default=None, compare=False, repr=False)

    @property
    def content_cut(self) -> bool:
        """Whether `content` is only the beginning of the body the feed served."""
        return self.content_chars is not None and self.content_chars > len(self.content)


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed document: its own title and site link, and its entries."""

    title: str | None
    site_url: str | None
    entries: tuple[ParsedEntry, ...]
    warning: str | None = None
    ttl_seconds: int | None = None


@dataclass(frozen=True)
class Document:
    """An entry's text as paragraphs, before any story/boilerplate decision.

    `tokens` and `keys` are per paragraph: its comparable tokens, and a hash of them
    that recognises the same paragraph on another item.
    """

    paragraphs: tuple[str, ...]
    tokens: tuple[tuple[str, ...], ...]
    keys: tuple[int, ...]
    attributions: tuple[Attribution, ...] = ()
    # Whether the paragraphs are only the beginning of the entry's text (see `normalise`).
    truncated: bool = False

    @property
    def text(self) -> str:
        """The paragraphs as one text, a paragraph a line."""
        return "\n".join(self.paragraphs)

    def words(self, indices: list[int] | None = None) -> list[str]:
        """The tokens of all paragraphs, or of the paragraphs at `indices`, in order."""
        chosen = range(len(self.tokens)) if indices is None else indices
        return [word for i in chosen for word in self.tokens[i]]


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """Token shingles and the MinHash signature of one text.

    `shingles` are sorted distinct 32-bit hashes (a numpy array), kept to verify candidates exactly; `signature` is the
    MinHash hash values as bytes, with the parameters needed to compare it again.
    """

    shingles: np.ndarray
    signature: bytes
    scheme: str
    num_perm: int
    shingle_size: int

    @property
    def size(self) -> int:
        """Number of distinct shingles."""
        return int(self.shingles.size)


@dataclass(frozen=True)
class Similarity:
    """Verified overlap between two texts: Jaccard resemblance and containment both ways."""

    jaccard: float
    a_in_b: float
    b_in_a: float
    shared: int

    @property
    def containment(self) -> float:
        """Containment of the smaller text in the larger one."""
        return max(self.a_in_b, self.b_in_a)

    def flipped(self) -> Similarity:
        """The same overlap seen from the other text."""
        return Similarity(self.jaccard, self.b_in_a, self.a_in_b, self.shared)


@dataclass
class IngestReport:
    """What one ingest or poll did, for the summary line and the capture history."""

    captures: int = 0
    skipped_known: int = 0
    new_items: int = 0
    updates: int = 0
    republications: int = 0  # items this run made copies of a parent
    withdrawn: int = 0  # copies this run found to be no copies after all (an earlier sighting, a disproved date)
    errors: int = 0
    skipped_records: int = 0
    failed_records: int = 0
    warnings: list[str] = field(default_factory=list)
    new_copies: list[int] = field(default_factory=list)
    # Items that were copies and were decided otherwise (alerts told of them may be withdrawn).
    changed_copies: list[int] = field(default_factory=list)
    # Why the database refused the capture, when it did (the capture is stored as failed).
    store_error: str | None = None
    # Article pages: stored, whose article became an item's text, matching no item (yet), failed.
    pages: int = 0
    pages_used: int = 0
    pages_unmatched: int = 0
    pages_failed: int = 0

    def add(self, other: IngestReport) -> None:
        """Accumulate another report into this one."""
        self.captures += other.captures
        self.skipped_known += other.skipped_known
        self.new_items += other.new_items
        self.updates += other.updates
        self.republications += other.republications
        self.withdrawn += other.withdrawn
        self.errors += other.errors
        self.skipped_records += other.skipped_records
        self.failed_records += other.failed_records
        self.warnings.extend(other.warnings)
        self.new_copies.extend(other.new_copies)
        self.changed_copies.extend(other.changed_copies)
        self.store_error = self.store_error or other.store_error
        self.pages += other.pages
        self.pages_used += other.pages_used
        self.pages_unmatched += other.pages_unmatched
        self.pages_failed += other.pages_failed

    @property
    def found(self) -> int:
        """The republications this run found, less those it withdrew: what its own writes
        changed in the `republications` view (another process's finds meanwhile are theirs)."""
        return self.republications - self.withdrawn


@dataclass
class StoredItem:
    """One stored item: what sightings and provenance ask of it (identity reads
    `tracker.store.items.SeenItem`)."""

    item_id: int
    publisher_id: int
    url: str
    title: str
    claimed_at: datetime | None
    first_seen_at: datetime
    guid: str | None
    feeds: dict[int, datetime] = field(default_factory=dict)
    claimed_rejected: str | None = None
    author: str | None = None

    @property
    def first_feed_id(self) -> int:
        """The feed where the item was first seen."""
        return min(self.feeds, key=lambda f: (self.feeds[f], f)) if self.feeds else 0


@dataclass(frozen=True, eq=False)
class VersionPrints:
    """One stored version's fingerprints."""

    version_id: int
    item_id: int
    number: int
    story: np.ndarray
    full: np.ndarray
    signature: bytes
    lead_signature: bytes
    paragraph_keys: tuple[int, ...]
    from_page: bool = False


@dataclass(frozen=True)
class Sizes:
    """The largest story and full text among an item's versions, in shingles."""

    story: int
    full: int
    from_page: bool = False


class FeedState(StrEnum):
    """What a feed is to the tracker, most telling first: the one word for each state that
    `tracker feeds`, `tracker status` and the `tracker_feeds` metric use alike (which row
    is in which state is decided in one place, `tracker.store.feeds.feed_state`)."""

    GONE = "gone"  # answered 410 Gone: retired, never polled again
    FAILING = "failing"  # its last polls failed
    MOVED = "moved"  # a permanent redirect moved it; polled at its new URL
    ACTIVE = "active"  # followed and healthy
    INACTIVE = "inactive"  # no longer in the configuration: kept, not polled
    ARCHIVED = "archived"  # seen only in ingested archives, never in the configuration
    NEW = "new"  # in the configuration, not stored yet (never polled nor ingested)

    @property
    def polled(self) -> bool:
        """Whether the daemon polls a feed in this state (a new one too, once stored)."""
        return self in (FeedState.FAILING, FeedState.MOVED, FeedState.ACTIVE, FeedState.NEW)


@dataclass
class NewItem:
    """An item a capture stored, as SQL would give it back: its row and sightings, its
    credits and its versions, and the last successful capture of its feed before it."""

    stored: StoredItem
    credits: list[Attribution]
    previous: datetime | None
    versions: list[VersionPrints] = field(default_factory=list)

    @property
    def sizes(self) -> Sizes:
        """The largest story and full text among its versions (as `tracker.store.matching.sizes_of` reads them)."""
        return Sizes(
            max((v.story.size for v in self.versions), default=0), max((v.full.size for v in self.versions), default=0),
            any(v.from_page for v in self.versions),
        )


@dataclass(frozen=True)
class NewText:
    """A text to store as an item's next version: from its feed's entry, or its page's article
    (`from_page`); `versions`, the item's versions before it; `body_chars`, what the feed served."""

    item_id: int
    versions: tuple[VersionPrints, ...]
    title: str
    raw: str
    document: Document
    when: datetime
    from_page: bool = False
    body_chars: int | None = None


@dataclass
class Known:
    """What one capture knows of its items without asking SQL again.

    `unmatched`: items no match touches (stored in this transaction, not matched yet);
    `decided`: whether an item has a decision (items stored in this transaction have none);
    `remember`: whether what matching reads of decisions holds until deciding (one writer);
    `items`: the items the capture stored (the first thousands of a huge capture,
    `tracker.pipeline.entries.KNOWN_ITEMS`), until anything else changes them (`forget`);
    `previous`: the last successful capture of the capture's feed before it;
    `alone`: items stored in this transaction that matching found no match for (nobody else
    can see them until it commits, so none can be matched meanwhile).
    """

    unmatched: set[int] = field(default_factory=set)
    decided: dict[int, bool] = field(default_factory=dict)
    remember: bool = False
    items: dict[int, NewItem] = field(default_factory=dict)
    previous: datetime | None = None
    alone: set[int] = field(default_factory=set)

    def forget(self, ids: Iterable[int]) -> None:
        """These items changed since they were stored: read them from SQL again."""
        for item_id in ids:
            self.items.pop(item_id, None)

"""The provenance database schema as SQLAlchemy 2 typed ORM models.

Tables are the storage; the views in `tracker.store.views` are the public interface
users query. The tables of article pages are in `schema_pages`, the alert outbox in `schema_outbox`.
Every change here needs an Alembic revision under `tracker/store/migrations/versions`.
Timestamps are stored as naive UTC (`DateTime` without time zone) so that SQLite and
PostgreSQL hold and compare the same values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Publisher(Base):
    """Who publishes: named in the config, or the feed's own title."""

    __tablename__ = "publishers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    site_host: Mapped[str | None] = mapped_column(Text)
    # "config" (named there), "feed_title", or "feed_url" until the feed's title is known.
    name_source: Mapped[str] = mapped_column(String(20), default="config", server_default="config")


class Feed(Base):
    """A feed URL and the publisher behind it."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("publishers.id"))
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime)
    # Polling state, kept on the row (failures are data, as in Miniflux).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    check_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error_kind: Mapped[str | None] = mapped_column(String(40))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Which polling worker is fetching the feed, and until when its claim holds (tracker.store.leases).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)


class FeedUrl(Base):
    """A URL a feed had before a permanent redirect moved it (not its current one; each URL once).

    The moves themselves, repeated ones included, are in `feed_moves`."""

    __tablename__ = "feed_urls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    replaced_at: Mapped[datetime] = mapped_column(DateTime)


class FeedMove(Base):
    """One permanent redirect a feed followed: its history, in order, a move back included."""

    __tablename__ = "feed_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"), index=True)
    from_url: Mapped[str] = mapped_column(String(2000))
    to_url: Mapped[str] = mapped_column(String(2000))
    moved_at: Mapped[datetime] = mapped_column(DateTime)


class FeedTag(Base):
    """A tag of a feed: an OPML folder path ("News/Asia") or a `tags` entry of `[[feeds]]`."""

    __tablename__ = "feed_tags"

    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(500), primary_key=True)


class Heartbeat(Base):
    """One polling worker's pulse, for `tracker status` (named by its worker id)."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    hostname: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    beat_at: Mapped[datetime] = mapped_column(DateTime)
    interval_seconds: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(20))


class Capture(Base):
    """One observation of a feed: the evidence of what it showed, and when."""

    __tablename__ = "captures"
    __table_args__ = (
        UniqueConstraint("feed_id", "captured_at", "kind", "body_digest", name="uq_capture_feed_time_kind_body"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"), index=True)
    captured_at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int | None] = mapped_column(Integer)
    payload_digest: Mapped[str | None] = mapped_column(Text)
    # Two captures of one feed in one second are two captures when their bodies differ.
    body_digest: Mapped[str] = mapped_column(String(40), default="", server_default="")
    bytes: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error_kind: Mapped[str | None] = mapped_column(String(40))
    entries: Mapped[int] = mapped_column(Integer, default=0)
    new_items: Mapped[int] = mapped_column(Integer, default=0)
    updates: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Item(Base):
    """One article of one publisher, however many feeds carry it and however often it is edited."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("publisher_id", "identity_hash", name="uq_item_publisher_identity_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("publishers.id"), index=True)
    # The key the item was first known by (GUID, link, …), unbounded; unique by its hash.
    identity: Mapped[str] = mapped_column(Text)
    identity_hash: Mapped[str] = mapped_column(String(32))
    # The link as published; `url_hash` finds it by any variant (tracker.detection.identity.lookup_hash).
    url: Mapped[str | None] = mapped_column(Text)
    url_hash: Mapped[str | None] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Why the feed's date string was not taken as `claimed_at` (tracker.reader.dates), if it was not.
    claimed_date_rejected: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)


class ItemFeed(Base):
    """Which feeds carried an item, from when to when: the sightings that test claimed dates."""

    __tablename__ = "item_feeds"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)


class ItemVersion(Base):
    """One text of an item; an edit in place adds a version, it is not a republication."""

    __tablename__ = "item_versions"
    __table_args__ = (UniqueConstraint("item_id", "content_hash", name="uq_version_item_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[datetime] = mapped_column(DateTime)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    story_text: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    sig_scheme: Mapped[str] = mapped_column(String(20))
    num_perm: Mapped[int] = mapped_column(Integer)
    shingle_size: Mapped[int] = mapped_column(Integer)
    shingle_count: Mapped[int] = mapped_column(Integer)
    raw_hash: Mapped[str | None] = mapped_column(String(32))
    # How many distinct shingles the full text has (a fact of provenance's ordering).
    full_count: Mapped[int | None] = mapped_column(Integer)
    # What detection needs, stored when the version is written so that no start-up
    # tokenises or fingerprints a text again: exact shingles of the story and of the full
    # text (uint32 each), the lead's signature, the paragraph keys (uint64 each).
    story_shingles: Mapped[bytes | None] = mapped_column(LargeBinary)
    full_shingles: Mapped[bytes | None] = mapped_column(LargeBinary)
    lead_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    paragraph_keys: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The entry's body as served, in characters (markup included), and whether `text` is
    # only its beginning (cut at `normalise.ENTRY_TEXT_MAX`); unknown before revision 0009.
    body_chars: Mapped[int | None] = mapped_column(Integer)
    text_truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The text is the article of the item's page (tracker.reader.pages), not its feed entry.
    from_page: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ItemAttribution(Base):
    """A credit an item gives: "appeared first on X", `<source>`, `rel="via"`, …"""

    __tablename__ = "item_attributions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    # tracker.detection.identity.lookup_hash of `url`: the items crediting an article are found by it.
    url_hash: Mapped[str | None] = mapped_column(String(16), index=True)


class Match(Base):
    """A verified text overlap between two items of different publishers (a < b)."""

    __tablename__ = "matches"

    item_a: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    item_b: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True, index=True)
    jaccard: Mapped[float] = mapped_column(Float)
    a_in_b: Mapped[float] = mapped_column(Float)
    b_in_a: Mapped[float] = mapped_column(Float)
    shared: Mapped[int] = mapped_column(Integer)
    # Overlap of the full texts (chrome and credits included): who carries whose additions.
    full_a_in_b: Mapped[float] = mapped_column(Float)
    full_b_in_a: Mapped[float] = mapped_column(Float)
    found_at: Mapped[datetime] = mapped_column(DateTime)


class ItemGroup(Base):
    """Which group of matches an item is in, and its place in the group's decided order."""

    __tablename__ = "item_groups"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True, autoincrement=False)
    group_id: Mapped[int] = mapped_column(Integer, index=True)
    position: Mapped[int] = mapped_column(Integer)


class MatchGroup(Base):
    """A group of matches as a newcomer placed last in it needs it (`provenance.GroupSummary`):
    without reading the group's members or matches."""

    __tablename__ = "match_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    last_item_id: Mapped[int] = mapped_column(Integer)  # the member with the latest order key
    credited: Mapped[str] = mapped_column(Text)  # JSON list of the publishers members credit
    tangled: Mapped[bool] = mapped_column(Boolean)


class Provenance(Base):
    """The decision for one item: its story, the story's original, its parent, and why."""

    __tablename__ = "provenance"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    story_id: Mapped[int] = mapped_column(Integer, index=True)
    original_item_id: Mapped[int] = mapped_column(Integer)
    parent_item_id: Mapped[int | None] = mapped_column(Integer, index=True)
    relation: Mapped[str] = mapped_column(String(20))
    similarity: Mapped[float | None] = mapped_column(Float)
    containment: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    estimated_published_at: Mapped[datetime] = mapped_column(DateTime)
    lag_seconds: Mapped[int | None] = mapped_column(BigInteger)
    attributed_origin: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    decided_at: Mapped[datetime] = mapped_column(DateTime)


class Meta(Base):
    """Facts about the database itself: the detection settings its fingerprints and
    buckets were made with, and the revision of its publishers and feeds."""

    __tablename__ = "tracker_meta"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ItemKey(Base):
    """An identity key (GUID, link, title, text) an item of a publisher is found by.

    A GUID key stands for one item; a link key may stand for several (a shared news page).
    """

    __tablename__ = "item_keys"
    __table_args__ = {"sqlite_with_rowid": False}

    publisher_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)


class ItemRaw(Base):
    """An entry's raw form (tracker.detection.identity.raw_hash) once served for an item: an entry
    served unchanged again is recognised without reading its HTML."""

    __tablename__ = "item_raws"
    __table_args__ = {"sqlite_with_rowid": False}

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    raw_hash: Mapped[str] = mapped_column(String(32), primary_key=True)


class ParagraphCount(Base):
    """How many items of a publisher hold a paragraph: at `boilerplate_min_items` it is
    boilerplate. `holders` lists the first items (space-separated ids) until then, so
    that they can be fingerprinted again without it."""

    __tablename__ = "paragraph_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    publisher_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_count: Mapped[int] = mapped_column(Integer)
    holders: Mapped[str] = mapped_column(Text, default="")


class LshBucket(Base):
    """The LSH index: one row per (band bucket, item) of every story and lead signature.

    Two items sharing a bucket are candidates, verified afterwards on exact shingles.
    """

    __tablename__ = "lsh_buckets"
    __table_args__ = {"sqlite_with_rowid": False}

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class LshRecent(Base):
    """The LSH index's recent changes, in the order they were made: an item's buckets added
    (or removed), packed; merged into `lsh_buckets` in bulk (`tracker.store.recent`)."""

    __tablename__ = "lsh_recent"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(Integer)
    added: Mapped[bool] = mapped_column(Boolean)
    buckets: Mapped[bytes] = mapped_column(LargeBinary)


Index("ix_captures_feed_time", Capture.feed_id, Capture.captured_at)
Index("ix_item_feeds_feed_seen", ItemFeed.feed_id, ItemFeed.first_seen_at)
Index("ix_feed_tags_tag", FeedTag.tag)

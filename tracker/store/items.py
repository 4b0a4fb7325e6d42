"""Items as identity and provenance need them, read on demand and written as facts.

Every question is asked for a batch (the items of one capture, one group), with indexed
lookups, so that the cost of a capture does not grow with the corpus.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from tracker.detection.identity import ItemLookup, KnownItem, key_hash, lookup_hash
from tracker.model import Attribution, StoredItem
from tracker.store import schema

_CHUNK = 500


def chunks(values: Collection[int] | Collection[str], size: int = _CHUNK) -> Iterable[list]:  # type: ignore[type-arg]
    """`values` in lists of at most `size` (bound parameters per statement stay few)."""
    ordered = sorted(values)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


_i, _f, _r, _k = schema.Item, schema.ItemFeed, schema.ItemRaw, schema.ItemKey
# Built once: the hot statements of every capture, with their list parameters expanded.
# An item with its sightings in one statement: a row per sighting (one, its feed NULL, if none).
ITEM_COLUMNS = (
    _i.id, _i.publisher_id, _i.url, _i.identity, _i.title, _i.claimed_at, _i.first_seen_at, _i.claimed_date_rejected,
    _i.author, _f.feed_id, _f.first_seen_at.label("feed_first_seen_at"),
)
_ITEMS = select(*ITEM_COLUMNS).outerjoin(_f, _f.item_id == _i.id).where(_i.id.in_(bindparam("ids", expanding=True)))
_KEYS = select(_k.key_hash, _k.item_id).where(_k.publisher_id == bindparam("p"), _k.key_hash.in_(bindparam("keys", expanding=True)))
# The items under a capture's keys with their sighting in the capture's feed and their raw forms,
# in the round trip that finds them (a row per key and raw form: an item has few of each); only
# the columns identity and the entries of a capture read.
_KEYED_ITEMS = (
    select(_k.key_hash, _i.id, _i.identity, _i.title, _i.claimed_at, _i.first_seen_at, _f.first_seen_at, _r.raw_hash)
    .join(_i, _i.id == _k.item_id).outerjoin(_f, (_f.item_id == _i.id) & (_f.feed_id == bindparam("f")))
    .outerjoin(_r, _r.item_id == _i.id)
    .where(_k.publisher_id == bindparam("p"), _k.key_hash.in_(bindparam("keys", expanding=True)))
)


def add_item_row(found: dict[int, StoredItem], row: Row[Any]) -> None:
    """An item row of `ITEM_COLUMNS` (one per sighting) into the items found."""
    item = found.get(row.id)
    if item is None:
        guid = row.identity.removeprefix("guid:") if row.identity.startswith("guid:") else None
        item = found[row.id] = StoredItem(
            row.id, row.publisher_id, row.url or row.identity, row.title, row.claimed_at, row.first_seen_at, guid,
            claimed_rejected=row.claimed_date_rejected, author=row.author,
        )
    if row.feed_id is not None:
        item.feeds[row.feed_id] = row.feed_first_seen_at


def load_items(session: Session, ids: Collection[int]) -> dict[int, StoredItem]:
    """The stored items with these ids, with their sightings (not their raw forms)."""
    found: dict[int, StoredItem] = {}
    for part in chunks(ids):
        for row in session.connection().execute(_ITEMS, {"ids": part}).all():
            add_item_row(found, row)
    return found


@dataclass(slots=True)
class SeenItem:
    """A stored item as a capture of one feed sees it: what identity asks, its first sighting
    in that feed (`feeds`, empty or that feed alone) and its raw forms."""

    item_id: int
    guid: str | None
    title: str
    claimed_at: datetime | None
    first_seen_at: datetime
    feeds: dict[int, datetime] = field(default_factory=dict)
    raw_hashes: set[str] = field(default_factory=set)


def _known(item: SeenItem) -> KnownItem:
    """An item as identity resolution sees it."""
    return KnownItem(item.item_id, item.guid, item.title, item.claimed_at, frozenset(item.raw_hashes), frozenset(item.feeds))


class PublisherItems(ItemLookup):
    """`ItemLookup` over SQL for one publisher, fetched at once for the keys of one capture of
    one feed (identity asks whether an item was seen in that feed, never in which others).

    It knows every holder of those keys (the publisher's lock keeps other writers of its
    identity keys away until the transaction ends) and keeps knowing as `add_keys` adds some.
    """

    def __init__(self, session: Session, publisher_id: int, feed_id: int, keys: Iterable[str]) -> None:
        self.publisher_id = publisher_id
        self.hashes = hashes = {key_hash(k): k for k in keys}
        under: dict[str, set[int]] = defaultdict(set)
        self.items: dict[int, SeenItem] = {}
        found = self.items
        for part in chunks(hashes.keys()):
            rows = session.connection().execute(_KEYED_ITEMS, {"p": publisher_id, "f": feed_id, "keys": part}).all()
            for digest, item_id, identity, title, claimed_at, first_seen_at, seen_in_feed, raw in rows:
                under[hashes[digest]].add(item_id)
                item = found.get(item_id)
                if item is None:
                    guid = identity.removeprefix("guid:") if identity.startswith("guid:") else None
                    item = found[item_id] = SeenItem(item_id, guid, title, claimed_at, first_seen_at)
                    if seen_in_feed is not None:
                        item.feeds[feed_id] = seen_in_feed
                if raw is not None:
                    item.raw_hashes.add(raw)
        self.by_key: dict[str, list[int]] = defaultdict(list, {key: sorted(ids) for key, ids in under.items()})

    def missing_keys(self, item_id: int, keys: Iterable[str]) -> list[str]:
        """Which of these keys do not find the item yet (a GUID key that finds another item is
        that item's, and stays so)."""
        return [
            key for key in keys
            if item_id not in self.by_key.get(key, ()) and not (key.startswith("guid:") and self.by_key.get(key))
        ]

    def add_keys(self, session: Session, item_id: int, keys: Iterable[str], later: NewItemRows | None = None) -> None:
        """`add_keys` (the module's), its keys' holders known already when the lookup was asked
        for them (`later`: their rows written with these new items' rows)."""
        keys = list(dict.fromkeys(keys))
        if any(key_hash(key) not in self.hashes for key in keys):
            if later is not None:
                later.write(session)
            add_keys(session, self.publisher_id, item_id, keys)
            return
        added = [
            key for key in keys
            if item_id not in self.by_key.get(key, ()) and not (key.startswith("guid:") and self.by_key.get(key))
        ]
        if added:
            rows = [{"publisher_id": self.publisher_id, "key_hash": key_hash(key), "item_id": item_id} for key in added]
            if later is not None:
                later.keys.extend(rows)
            else:
                session.connection().execute(_INSERT_KEYS, rows)
        for key in added:
            self.by_key[key] = sorted([*self.by_key.get(key, ()), item_id])

    def by_guid(self, key: str) -> int | None:
        found = self.by_key.get(key)
        return found[0] if found else None

    def under(self, key: str) -> Sequence[KnownItem]:
        return [_known(self.items[i]) for i in self.by_key.get(key, ())]


# Statements built once are compiled once: SQLAlchemy finds them in its cache without walking them.
_INSERT_ITEM = insert(_i.__table__).returning(_i.__table__.c.id)
_INSERT_KEYS = insert(_k.__table__)
_INSERT_SIGHTING = insert(_f.__table__)
# One statement for every item a capture shows again (not one per item: a capture shows dozens).
_TOUCH = update(_f.__table__).where(
    _f.__table__.c.feed_id == bindparam("f"), _f.__table__.c.item_id.in_(bindparam("ids", expanding=True))
).values(last_seen_at=bindparam("w"))
_INSERT_RAW = insert(_r.__table__)
_INSERT_VERSIONS = insert(schema.ItemVersion.__table__).returning(schema.ItemVersion.__table__.c.id, sort_by_parameter_order=True)


def add_keys(session: Session, publisher_id: int, item_id: int, keys: Iterable[str]) -> None:
    """Let the item be found by more identity keys (a second feed's GUID or link, say).

    A GUID stands for one item (the first to claim it keeps it); a link may stand for several.
    """
    hashes = {key_hash(key): key.startswith("guid:") for key in keys}
    holders: dict[str, set[int]] = defaultdict(set)
    for digest, holder in session.connection().execute(_KEYS, {"p": publisher_id, "keys": list(hashes)}).all():
        holders[digest].add(holder)
    rows = [
        {"publisher_id": publisher_id, "key_hash": digest, "item_id": item_id}
        for digest, is_guid in hashes.items()
        if item_id not in holders[digest] and not (is_guid and holders[digest])
    ]
    if rows:
        session.connection().execute(_INSERT_KEYS, rows)


def insert_item(session: Session, values: dict[str, object]) -> int:
    """Store a new item; return its id."""
    return int(session.connection().execute(_INSERT_ITEM, values).scalar_one())


_NEW_ITEM_COLUMNS = (
    "publisher_id", "identity", "identity_hash", "url", "url_hash", "title", "author", "claimed_at", "claimed_date_rejected",
    "first_seen_at",
)
_held = _i.__table__.alias("held")
# `has_identity` and `insert_item` in one round trip: the item is stored unless its identity is taken.
_INSERT_ITEM_UNLESS_TAKEN = insert(_i.__table__).from_select(
    _NEW_ITEM_COLUMNS,
    select(*(bindparam(name, type_=_i.__table__.c[name].type) for name in _NEW_ITEM_COLUMNS)).where(
        ~select(_held.c.id).where(
            _held.c.publisher_id == bindparam("publisher_id"), _held.c.identity_hash == bindparam("identity_hash")
        ).exists()
    ),
).returning(_i.__table__.c.id)


def insert_item_unless_taken(session: Session, values: dict[str, object]) -> int | None:
    """Store a new item unless an item of its publisher has its identity already; its id, or None."""
    found = session.connection().execute(_INSERT_ITEM_UNLESS_TAKEN, {name: values[name] for name in _NEW_ITEM_COLUMNS}).first()
    return None if found is None else int(found[0])


class NewItemRows:
    """The rows of a capture's new items besides their own (first sighting, raw form, identity
    keys, credits), written together by `write`: a few statements a capture, not a few an item.
    Nothing reads them before `write` (a capture resolves its entries before storing any)."""

    def __init__(self) -> None:
        self.sightings: list[dict[str, object]] = []
        self.raws: list[dict[str, object]] = []
        self.keys: list[dict[str, object]] = []
        self.credits: list[dict[str, object]] = []

    def add(self, item_id: int, feed_id: int, when: datetime, raw: str, credits: Sequence[Attribution]) -> None:
        """A new item's first sighting, its raw form and its credits, in this order."""
        self.sightings.append(_sighting_row(item_id, feed_id, when))
        self.raws.append({"item_id": item_id, "raw_hash": raw})
        self.credits.extend(_credit_row(item_id, c) for c in credits)

    def write(self, session: Session) -> None:
        """Store what was added since the last write."""
        connection = session.connection()
        for statement, rows in ((_INSERT_SIGHTING, self.sightings), (_INSERT_RAW, self.raws), (_INSERT_KEYS, self.keys),
                                (_INSERT_CREDITS, self.credits)):
            if rows:
                connection.execute(statement, rows)
                rows.clear()


def _sighting_row(item_id: int, feed_id: int, when: datetime) -> dict[str, object]:
    return {"item_id": item_id, "feed_id": feed_id, "first_seen_at": when, "last_seen_at": when}


def add_sighting(session: Session, item_id: int, feed_id: int, when: datetime) -> None:
    """A feed shows an item for the first time."""
    session.connection().execute(_INSERT_SIGHTING, _sighting_row(item_id, feed_id, when))


def touch_sightings(session: Session, feed_id: int, item_ids: Collection[int], when: datetime) -> None:
    """A feed shows these items again."""
    for part in chunks(item_ids):
        session.connection().execute(_TOUCH, {"f": feed_id, "ids": part, "w": when})


_SET_FIRST_SEEN = update(_i.__table__).where(_i.__table__.c.id == bindparam("i")).values(
    first_seen_at=bindparam("w"), claimed_at=bindparam("c"), claimed_date_rejected=bindparam("r")
)
_SET_FIRST_SIGHTING = update(_f.__table__).where(
    _f.__table__.c.item_id == bindparam("i"), _f.__table__.c.feed_id == bindparam("f"), _f.__table__.c.first_seen_at > bindparam("w")
).values(first_seen_at=bindparam("w"))


def set_first_seen(
    session: Session, item_id: int, feed_id: int, when: datetime, claimed_at: datetime | None, rejected: str | None,
) -> None:
    """An earlier first sighting of an item (an old capture ingested late), with the date
    that capture claims for it."""
    session.connection().execute(_SET_FIRST_SEEN, {"i": item_id, "w": when, "c": claimed_at, "r": rejected})
    set_first_sighting(session, item_id, feed_id, when)


def set_first_sighting(session: Session, item_id: int, feed_id: int, when: datetime) -> None:
    """An earlier sighting of an item in one feed (not earlier than its first anywhere)."""
    session.connection().execute(_SET_FIRST_SIGHTING, {"i": item_id, "f": feed_id, "w": when})


def add_raw(session: Session, item_id: int, raw: str) -> None:
    """Remember an entry's raw form for its item."""
    session.connection().execute(_INSERT_RAW, {"item_id": item_id, "raw_hash": raw})


def insert_versions(session: Session, rows: Sequence[dict[str, object]]) -> list[int]:
    """Store new texts of items; return their ids, in order (one statement: SQLAlchemy
    sends the rows as one multi-row INSERT … RETURNING)."""
    return [int(i) for i in session.connection().execute(_INSERT_VERSIONS, list(rows)).scalars()]


_v = schema.ItemVersion.__table__
_TEXTS_OF_ITEM = select(_v.c.id, _v.c.text, _v.c.title).where(_v.c.item_id == bindparam("i")).order_by(_v.c.version)
_UPDATE_VERSION = update(_v).where(_v.c.id == bindparam("vid"))
_HAS_TEXT = select(_v.c.id).where(_v.c.item_id == bindparam("i"), _v.c.content_hash == bindparam("h"))


def texts_of_item(session: Session, item_id: int) -> list[tuple[int, str, str]]:
    """(version id, text, title) of each of an item's versions."""
    return [(r.id, r.text, r.title) for r in session.connection().execute(_TEXTS_OF_ITEM, {"i": item_id}).all()]


def update_version(session: Session, version_id: int, values: dict[str, object]) -> None:
    """New fingerprints of a version."""
    session.connection().execute(_UPDATE_VERSION, {"vid": version_id, **values})


def has_text(session: Session, item_id: int, content_hash: str) -> bool:
    """Whether the item has a version with this text already."""
    return session.connection().execute(_HAS_TEXT, {"i": item_id, "h": content_hash}).first() is not None


# -- credits ---------------------------------------------------------------------------------
_a = schema.ItemAttribution.__table__
_CREDITS = select(_a.c.item_id, _a.c.kind, _a.c.name, _a.c.url).where(_a.c.item_id.in_(bindparam("ids", expanding=True))).order_by(_a.c.id)
_AT = select(_i.url_hash, func.min(_i.id)).where(_i.url_hash.in_(bindparam("h", expanding=True))).group_by(_i.url_hash)
_CREDITING = select(_a.c.url_hash, _a.c.item_id).where(_a.c.url_hash.in_(bindparam("h", expanding=True)))
_INSERT_CREDITS = insert(_a)


def credits_of(session: Session, ids: Collection[int]) -> dict[int, list[Attribution]]:
    """The credits each item gives, in the order they were found."""
    found: dict[int, list[Attribution]] = defaultdict(list)
    for part in chunks(ids):
        for item_id, kind, name, url in session.connection().execute(_CREDITS, {"ids": part}).all():
            found[item_id].append(Attribution(kind, name, url))
    return found


def add_credit(session: Session, item_id: int, credit: Attribution) -> None:
    """Store a credit an item gives."""
    add_credits(session, item_id, [credit])


def add_credits(session: Session, item_id: int, credits: Sequence[Attribution]) -> None:
    """Store credits an item gives, in this order (one statement)."""
    if credits:
        session.connection().execute(_INSERT_CREDITS, [_credit_row(item_id, c) for c in credits])


def _credit_row(item_id: int, credit: Attribution) -> dict[str, object]:
    return {"item_id": item_id, "kind": credit.kind, "name": credit.name, "url": credit.url,
            "url_hash": lookup_hash(credit.url) if credit.url else None}


def _by_hash(urls: Iterable[str]) -> dict[str, list[str]]:
    """These URLs (each once, none empty) by their lookup hash: every variant of a URL has one."""
    hashes: dict[str, list[str]] = defaultdict(list)
    for url in dict.fromkeys(urls):
        if url:
            hashes[lookup_hash(url)].append(url)
    return hashes


def items_at(session: Session, urls: Iterable[str]) -> dict[str, int]:
    """The item at each URL (by any variant of it), the earliest stored where several are."""
    hashes = _by_hash(urls)
    found: dict[str, int] = {}
    for part in chunks(hashes.keys()):
        for digest, item_id in session.connection().execute(_AT, {"h": part}).all():
            for url in hashes[digest]:
                found[url] = int(item_id)
    return found


_g = schema.ItemGroup.__table__
_CREDITING_GROUPS = (
    select(_a.c.url_hash, _a.c.item_id, _g.c.group_id).select_from(_a.outerjoin(_g, _g.c.item_id == _a.c.item_id))
    .where(_a.c.url_hash.in_(bindparam("h", expanding=True)))
)


def crediting_groups(session: Session, urls: Iterable[str]) -> dict[str, dict[int, int | None]]:
    """The items that credit each of these URLs (by any variant of it, as `items_crediting`),
    each with its group (`tracker.store.groups.groups_of`), if it has one."""
    hashes = _by_hash(urls)
    found: dict[str, dict[int, int | None]] = {url: {} for found_urls in hashes.values() for url in found_urls}
    for part in chunks(hashes.keys()):
        for digest, item_id, group_id in session.connection().execute(_CREDITING_GROUPS, {"h": part}).all():
            for url in hashes[digest]:
                found[url][item_id] = group_id
    return found


def items_crediting(session: Session, urls: Iterable[str]) -> dict[str, set[int]]:
    """The items that credit each of these URLs (by any variant of it)."""
    hashes = _by_hash(urls)
    found: dict[str, set[int]] = defaultdict(set)
    for part in chunks(hashes.keys()):
        for digest, item_id in session.connection().execute(_CREDITING, {"h": part}).all():
            for url in hashes[digest]:
                found[url].add(item_id)
    return found

"""Items as identity and provenance need them, read on demand and written as facts.

Every question is asked for a batch (the items of one capture, one group), with indexed
lookups, so that the cost of a capture does not grow with the corpus.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
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
_ITEM_COLUMNS = (
    _i.id, _i.publisher_id, _i.url, _i.identity, _i.title, _i.claimed_at, _i.first_seen_at, _i.claimed_date_rejected,
    _f.feed_id, _f.first_seen_at.label("feed_first_seen_at"),
)
_ITEMS = select(*_ITEM_COLUMNS).outerjoin(_f, _f.item_id == _i.id).where(_i.id.in_(bindparam("ids", expanding=True)))
_RAWS = select(_r.item_id, _r.raw_hash).where(_r.item_id.in_(bindparam("ids", expanding=True)))
_KEYS = select(_k.key_hash, _k.item_id).where(_k.publisher_id == bindparam("p"), _k.key_hash.in_(bindparam("keys", expanding=True)))
# The items under a capture's keys with their sightings and raw forms, in the round trip that
# finds them (a row per sighting and raw form: an item has few of each).
_KEYED_ITEMS = (
    select(_k.key_hash, *_ITEM_COLUMNS, _r.raw_hash)
    .join(_i, _i.id == _k.item_id).outerjoin(_f, _f.item_id == _i.id).outerjoin(_r, _r.item_id == _i.id)
    .where(_k.publisher_id == bindparam("p"), _k.key_hash.in_(bindparam("keys", expanding=True)))
)


def _add_row(found: dict[int, StoredItem], row: Row[Any]) -> None:
    """An item row of `_ITEM_COLUMNS` (one per sighting) into the items found."""
    item = found.get(row.id)
    if item is None:
        guid = row.identity.removeprefix("guid:") if row.identity.startswith("guid:") else None
        item = found[row.id] = StoredItem(
            row.id, row.publisher_id, row.url or row.identity, row.title, row.claimed_at, row.first_seen_at, guid,
            claimed_rejected=row.claimed_date_rejected,
        )
    if row.feed_id is not None:
        item.feeds[row.feed_id] = row.feed_first_seen_at


def _add_raws(session: Session, found: dict[int, StoredItem]) -> None:
    """The raw forms of the items found."""
    for part in chunks(found.keys()):
        for item_id, raw in session.connection().execute(_RAWS, {"ids": part}):
            found[item_id].raw_hashes.add(raw)


def load_items(session: Session, ids: Collection[int], raws: bool = True) -> dict[int, StoredItem]:
    """The stored items with these ids, with their sightings and (unless not wanted) raw forms."""
    found: dict[int, StoredItem] = {}
    for part in chunks(ids):
        for row in session.connection().execute(_ITEMS, {"ids": part}):
            _add_row(found, row)
    if raws:
        _add_raws(session, found)
    return found


def _known(item: StoredItem) -> KnownItem:
    """An item as identity resolution sees it."""
    return KnownItem(item.item_id, item.guid, item.title, item.claimed_at, frozenset(item.raw_hashes), frozenset(item.feeds))


class PublisherItems(ItemLookup):
    """`ItemLookup` over SQL for one publisher, fetched at once for the keys of one capture."""

    def __init__(self, session: Session, publisher_id: int, keys: Iterable[str]) -> None:
        hashes = {key_hash(k): k for k in keys}
        under: dict[str, set[int]] = defaultdict(set)
        self.items: dict[int, StoredItem] = {}
        for part in chunks(hashes.keys()):
            for row in session.connection().execute(_KEYED_ITEMS, {"p": publisher_id, "keys": part}):
                under[hashes[row.key_hash]].add(row.id)
                _add_row(self.items, row)
                if row.raw_hash is not None:
                    self.items[row.id].raw_hashes.add(row.raw_hash)
        self.by_key: dict[str, list[int]] = defaultdict(list, {key: sorted(ids) for key, ids in under.items()})

    def missing_keys(self, item_id: int, keys: Iterable[str]) -> list[str]:
        """Which of these keys do not find the item yet (a GUID key that finds another item is
        that item's, and stays so)."""
        return [
            key for key in keys
            if item_id not in self.by_key.get(key, ()) and not (key.startswith("guid:") and self.by_key.get(key))
        ]

    def by_guid(self, key: str) -> int | None:
        found = self.by_key.get(key)
        return found[0] if found else None

    def under(self, key: str) -> Sequence[KnownItem]:
        return [_known(self.items[i]) for i in self.by_key.get(key, ())]


_IDENTITY = select(_i.id).where(_i.publisher_id == bindparam("p"), _i.identity_hash == bindparam("h"))
# Statements built once are compiled once: SQLAlchemy finds them in its cache without walking them.
_INSERT_ITEM = insert(_i.__table__).returning(_i.__table__.c.id)
_INSERT_KEYS = insert(_k.__table__)
_INSERT_SIGHTING = insert(_f.__table__)
_TOUCH = update(_f.__table__).where(
    _f.__table__.c.item_id == bindparam("i"), _f.__table__.c.feed_id == bindparam("f")
).values(last_seen_at=bindparam("w"))
_INSERT_RAW = insert(_r.__table__)
_INSERT_VERSION = insert(schema.ItemVersion.__table__)


def has_identity(session: Session, publisher_id: int, identity: str) -> bool:
    """Whether an item of the publisher is stored under this identity already."""
    return session.connection().execute(_IDENTITY, {"p": publisher_id, "h": key_hash(identity)}).first() is not None


def add_keys(session: Session, publisher_id: int, item_id: int, keys: Iterable[str]) -> None:
    """Let the item be found by more identity keys (a second feed's GUID or link, say).

    A GUID stands for one item (the first to claim it keeps it); a link may stand for several.
    """
    hashes = {key_hash(key): key.startswith("guid:") for key in keys}
    holders: dict[str, set[int]] = defaultdict(set)
    for digest, holder in session.connection().execute(_KEYS, {"p": publisher_id, "keys": list(hashes)}):
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


def add_sighting(session: Session, item_id: int, feed_id: int, when: datetime) -> None:
    """A feed shows an item for the first time."""
    session.connection().execute(_INSERT_SIGHTING, {"item_id": item_id, "feed_id": feed_id, "first_seen_at": when, "last_seen_at": when})


def touch_sightings(session: Session, sightings: list[dict[str, object]]) -> None:
    """Feeds show items again (`i` item, `f` feed, `w` when)."""
    if sightings:
        session.connection().execute(_TOUCH, sightings)


def set_first_seen(session: Session, item_id: int, feed_id: int, when: datetime) -> None:
    """An earlier sighting of an item (an old capture ingested late)."""
    session.connection().execute(update(schema.Item).where(schema.Item.id == item_id).values(first_seen_at=when))
    f = schema.ItemFeed.__table__
    session.connection().execute(update(f).where(f.c.item_id == item_id, f.c.feed_id == feed_id, f.c.first_seen_at > when).values(first_seen_at=when))


def add_raw(session: Session, item_id: int, raw: str) -> None:
    """Remember an entry's raw form for its item."""
    session.connection().execute(_INSERT_RAW, {"item_id": item_id, "raw_hash": raw})


def insert_version(session: Session, values: dict[str, object]) -> None:
    """Store a new text of an item."""
    session.connection().execute(_INSERT_VERSION, values)


def texts_of_item(session: Session, item_id: int) -> list[tuple[int, str, str]]:
    """(version id, text, title) of each of an item's versions."""
    v = schema.ItemVersion
    return [(r.id, r.text, r.title) for r in session.connection().execute(select(v.id, v.text, v.title).where(v.item_id == item_id).order_by(v.version))]


def update_version(session: Session, version_id: int, values: dict[str, object]) -> None:
    """New fingerprints of a version."""
    v = schema.ItemVersion.__table__
    session.connection().execute(update(v).where(v.c.id == version_id).values(**values))


def has_text(session: Session, item_id: int, content_hash: str) -> bool:
    """Whether the item has a version with this text already."""
    v = schema.ItemVersion
    return session.connection().execute(select(v.id).where(v.item_id == item_id, v.content_hash == content_hash)).first() is not None


# -- credits ---------------------------------------------------------------------------------
_a = schema.ItemAttribution.__table__
_CREDITS = select(_a.c.item_id, _a.c.kind, _a.c.name, _a.c.url).where(_a.c.item_id.in_(bindparam("ids", expanding=True))).order_by(_a.c.id)
_AT = select(_i.url_hash, func.min(_i.id)).where(_i.url_hash.in_(bindparam("h", expanding=True))).group_by(_i.url_hash)
_CREDITING = select(_a.c.url_hash, _a.c.item_id).where(_a.c.url_hash.in_(bindparam("h", expanding=True)))


def credits_of(session: Session, ids: Collection[int]) -> dict[int, list[Attribution]]:
    """The credits each item gives, in the order they were found."""
    found: dict[int, list[Attribution]] = defaultdict(list)
    for part in chunks(ids):
        for item_id, kind, name, url in session.connection().execute(_CREDITS, {"ids": part}):
            found[item_id].append(Attribution(kind, name, url))
    return found


def add_credit(session: Session, item_id: int, credit: Attribution) -> None:
    """Store a credit an item gives."""
    add_credits(session, item_id, [credit])


def add_credits(session: Session, item_id: int, credits: Sequence[Attribution]) -> None:
    """Store credits an item gives, in this order (one statement)."""
    if credits:
        session.connection().execute(insert(schema.ItemAttribution.__table__), [
            {"item_id": item_id, "kind": c.kind, "name": c.name, "url": c.url, "url_hash": lookup_hash(c.url) if c.url else None}
            for c in credits
        ])


def items_at(session: Session, urls: Iterable[str]) -> dict[str, int]:
    """The item at each URL (by any variant of it), the earliest stored where several are."""
    hashes: dict[str, list[str]] = defaultdict(list)
    for url in urls:
        if url:
            hashes[lookup_hash(url)].append(url)
    found: dict[str, int] = {}
    for part in chunks(hashes.keys()):
        for digest, item_id in session.connection().execute(_AT, {"h": part}):
            for url in hashes[digest]:
                found[url] = int(item_id)
    return found


def items_crediting(session: Session, urls: Iterable[str]) -> dict[str, set[int]]:
    """The items that credit each of these URLs (by any variant of it)."""
    hashes: dict[str, list[str]] = defaultdict(list)
    for url in urls:
        hashes[lookup_hash(url)].append(url)
    found: dict[str, set[int]] = defaultdict(set)
    for part in chunks(hashes.keys()):
        for digest, item_id in session.connection().execute(_CREDITING, {"h": part}):
            for url in hashes[digest]:
                found[url].add(item_id)
    return found

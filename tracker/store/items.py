"""Items as identity and provenance need them, read on demand and written as facts.

Every question is asked for a batch (the items of one capture, one group), with indexed
lookups, so that the cost of a capture does not grow with the corpus.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
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
_ITEMS = select(
    _i.id, _i.publisher_id, _i.url, _i.identity, _i.title, _i.claimed_at, _i.first_seen_at, _i.claimed_date_rejected
).where(
    _i.id.in_(bindparam("ids", expanding=True))
)
_SIGHTINGS = select(_f.item_id, _f.feed_id, _f.first_seen_at).where(_f.item_id.in_(bindparam("ids", expanding=True)))
_RAWS = select(_r.item_id, _r.raw_hash).where(_r.item_id.in_(bindparam("ids", expanding=True)))
_KEYS = select(_k.key_hash, _k.item_id).where(_k.publisher_id == bindparam("p"), _k.key_hash.in_(bindparam("keys", expanding=True)))


def load_items(session: Session, ids: Collection[int], raws: bool = True) -> dict[int, StoredItem]:
    """The stored items with these ids, with their sightings and (unless not wanted) raw forms."""
    found: dict[int, StoredItem] = {}
    for part in chunks(ids):
        for row in session.connection().execute(_ITEMS, {"ids": part}):
            guid = row.identity.removeprefix("guid:") if row.identity.startswith("guid:") else None
            found[row.id] = StoredItem(
                row.id, row.publisher_id, row.url or row.identity, row.title, row.claimed_at, row.first_seen_at, guid,
                claimed_rejected=row.claimed_date_rejected,
            )
        for item_id, feed_id, first in session.connection().execute(_SIGHTINGS, {"ids": part}):
            found[item_id].feeds[feed_id] = first
        for item_id, raw in session.connection().execute(_RAWS, {"ids": part}) if raws else ():
            found[item_id].raw_hashes.add(raw)
    return found


def _known(item: StoredItem) -> KnownItem:
    """An item as identity resolution sees it."""
    return KnownItem(item.item_id, item.guid, item.title, item.claimed_at, frozenset(item.raw_hashes), frozenset(item.feeds))


class PublisherItems(ItemLookup):
    """`ItemLookup` over SQL for one publisher, fetched at once for the keys of one capture."""

    def __init__(self, session: Session, publisher_id: int, keys: Iterable[str]) -> None:
        hashes = {key_hash(k): k for k in keys}
        self.by_key: dict[str, list[int]] = defaultdict(list)
        for part in chunks(hashes.keys()):
            for digest, item_id in sorted(session.connection().execute(_KEYS, {"p": publisher_id, "keys": part}), key=lambda r: r[1]):
                self.by_key[hashes[digest]].append(item_id)
        self.items = load_items(session, {i for ids in self.by_key.values() for i in ids})

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


def has_identity(session: Session, publisher_id: int, identity: str) -> bool:
    """Whether an item of the publisher is stored under this identity already."""
    i = schema.Item
    query = select(i.id).where(i.publisher_id == publisher_id, i.identity_hash == key_hash(identity))
    return session.connection().execute(query).first() is not None


def add_keys(session: Session, publisher_id: int, item_id: int, keys: Iterable[str]) -> None:
    """Let the item be found by more identity keys (a second feed's GUID or link, say).

    A GUID stands for one item (the first to claim it keeps it); a link may stand for several.
    """
    hashes = {key_hash(key): key.startswith("guid:") for key in keys}
    k = schema.ItemKey
    holders: dict[str, set[int]] = defaultdict(set)
    for digest, holder in session.connection().execute(
        select(k.key_hash, k.item_id).where(k.publisher_id == publisher_id, k.key_hash.in_(list(hashes)))
    ):
        holders[digest].add(holder)
    rows = [
        {"publisher_id": publisher_id, "key_hash": digest, "item_id": item_id}
        for digest, is_guid in hashes.items()
        if item_id not in holders[digest] and not (is_guid and holders[digest])
    ]
    if rows:
        session.connection().execute(insert(k.__table__), rows)


def insert_item(session: Session, values: dict[str, object]) -> int:
    """Store a new item; return its id."""
    return int(session.connection().execute(insert(_i.__table__).returning(_i.__table__.c.id), values).scalar_one())


def add_sighting(session: Session, item_id: int, feed_id: int, when: datetime) -> None:
    """A feed shows an item for the first time."""
    session.connection().execute(insert(_f.__table__), {"item_id": item_id, "feed_id": feed_id, "first_seen_at": when, "last_seen_at": when})


def touch_sightings(session: Session, sightings: list[dict[str, object]]) -> None:
    """Feeds show items again (`i` item, `f` feed, `w` when)."""
    if sightings:
        table = schema.ItemFeed.__table__
        session.connection().execute(
            update(table).where(table.c.item_id == bindparam("i"), table.c.feed_id == bindparam("f")).values(last_seen_at=bindparam("w")),
            sightings,
        )


def set_first_seen(session: Session, item_id: int, feed_id: int, when: datetime) -> None:
    """An earlier sighting of an item (an old capture ingested late)."""
    session.connection().execute(update(schema.Item).where(schema.Item.id == item_id).values(first_seen_at=when))
    f = schema.ItemFeed.__table__
    session.connection().execute(update(f).where(f.c.item_id == item_id, f.c.feed_id == feed_id, f.c.first_seen_at > when).values(first_seen_at=when))


def add_raw(session: Session, item_id: int, raw: str) -> None:
    """Remember an entry's raw form for its item."""
    session.connection().execute(insert(_r.__table__), {"item_id": item_id, "raw_hash": raw})


def insert_version(session: Session, values: dict[str, object]) -> None:
    """Store a new text of an item."""
    session.connection().execute(insert(schema.ItemVersion.__table__), values)


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
    session.connection().execute(
        insert(schema.ItemAttribution.__table__),
        {"item_id": item_id, "kind": credit.kind, "name": credit.name, "url": credit.url,
         "url_hash": lookup_hash(credit.url) if credit.url else None},
    )


def items_at(session: Session, urls: Iterable[str]) -> dict[str, int]:
    """The item at each URL (by any variant of it), the earliest stored where several are."""
    hashes: dict[str, list[str]] = defaultdict(list)
    for url in urls:
        if url:
            hashes[lookup_hash(url)].append(url)
    found: dict[str, int] = {}
    i = schema.Item
    for part in chunks(hashes.keys()):
        for digest, item_id in session.connection().execute(
            select(i.url_hash, func.min(i.id)).where(i.url_hash.in_(part)).group_by(i.url_hash)
        ):
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

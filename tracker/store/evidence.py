"""Captures and paragraph counts: the evidence that dates items and finds boilerplate."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from tracker.store import schema
from tracker.store.items import chunks

_c = schema.Capture
_listed = aliased(schema.Capture, name="listed")
_FAR = datetime(9999, 1, 1)  # after any capture: a feed that never listed an entry


def proves_absence(capture: Any, feed_id: Any) -> ColumnElement[bool]:
    """Whether a capture of the feed (`capture`: the captures table or an alias of it) shows
    what the feed lacked then: one that listed entries, a revisit (a 304, a WARC revisit:
    the feed as it was at its last body, which lacked the same), or an empty one from before
    the feed ever listed any (a new feed). A feed that listed entries and then none for a
    moment (a CDN's glitch) proved nothing absent that moment."""
    first_listing = (
        select(func.min(_listed.captured_at))
        .where(_listed.feed_id == feed_id, _listed.entries > 0, _listed.error.is_(None))
        .scalar_subquery()
    )
    return or_(capture.entries > 0, capture.kind == "revisit", capture.captured_at < func.coalesce(first_listing, _FAR))


# This body's digest or none (captures stored before digests match any body): two values, not
# an expanding list, which SQLAlchemy would render again at every execution.
_HAS_CAPTURE = select(_c.id).where(
    _c.feed_id == bindparam("f"), _c.captured_at == bindparam("w"), _c.kind == bindparam("k"),
    or_(_c.body_digest == bindparam("d"), _c.body_digest == ""),
)


def has_capture(session: Session, feed_id: int, when: datetime, kind: str, digest: str) -> bool:
    """Whether this capture is stored (captures stored before digests match any body)."""
    found = session.connection().execute(_HAS_CAPTURE, {"f": feed_id, "w": when, "k": kind, "d": digest})
    return found.first() is not None


# Statements built once are compiled once: SQLAlchemy finds them in its cache without walking them.
_INSERT_CAPTURE = insert(_c.__table__)


def insert_capture(session: Session, values: dict[str, object]) -> None:
    """Store a capture (with what it brought: `new_items`, `updates`)."""
    session.connection().execute(_INSERT_CAPTURE, values)


_NEXT = select(func.min(_c.captured_at)).where(_c.feed_id == bindparam("f"), _c.captured_at > bindparam("w"), _c.error.is_(None))


_BEFORE = select(func.max(_c.captured_at)).where(
    _c.feed_id == bindparam("f"), _c.captured_at < bindparam("w"), _c.error.is_(None), proves_absence(_c, bindparam("f"))
)
# The questions a new capture asks first, in one round trip: is it stored, the feed's first
# successful capture after it, if any (it arrived late), and its last one before it (which
# dates the items the capture shows first).
_STORED_AND_NEXT = select(_HAS_CAPTURE.limit(1).scalar_subquery(), _NEXT.scalar_subquery(), _BEFORE.scalar_subquery())


def stored_and_next(
    session: Session, feed_id: int, when: datetime, kind: str, digest: str,
) -> tuple[bool, datetime | None, datetime | None]:
    """Whether the capture is stored, and the feed's first successful capture after it and last before it."""
    found, following, previous = session.connection().execute(
        _STORED_AND_NEXT, {"f": feed_id, "w": when, "k": kind, "d": digest}
    ).one()
    return found is not None, following, previous


_f = schema.ItemFeed.__table__
_FIRST_SEEN_BETWEEN = select(_f.c.item_id).where(
    _f.c.feed_id == bindparam("f"), _f.c.first_seen_at > bindparam("a"), _f.c.first_seen_at <= bindparam("u")
)


def first_seen_between(session: Session, feed_id: int, after: datetime, until: datetime) -> set[int]:
    """Items the feed first showed after `after`, up to `until` included."""
    return set(session.connection().execute(_FIRST_SEEN_BETWEEN, {"f": feed_id, "a": after, "u": until}).scalars())


# -- boilerplate --------------------------------------------------------------------------
def as_signed(key: int) -> int:
    """A paragraph key (uint64) as SQL's BIGINT holds it."""
    return key - (1 << 64) if key >= 1 << 63 else key


def as_unsigned(key: int) -> int:
    """A paragraph key as `as_signed` stored it."""
    return key + (1 << 64) if key < 0 else key


@dataclass(frozen=True)
class Fresh:
    """Paragraphs of a publisher that just became boilerplate, and the items holding them;
    and which of the paragraphs asked about are boilerplate once counted."""

    keys: frozenset[int]
    holders: frozenset[int]
    boilerplate: frozenset[int] = frozenset()


_pc = schema.ParagraphCount.__table__
_BOILERPLATE = select(_pc.c.key).where(
    _pc.c.publisher_id == bindparam("p"), _pc.c.key.in_(bindparam("k", expanding=True)), _pc.c.item_count >= bindparam("n")
)
_COUNTS = select(_pc.c.key, _pc.c.item_count, _pc.c.holders).where(
    _pc.c.publisher_id == bindparam("p"), _pc.c.key.in_(bindparam("k", expanding=True))
)
_INSERT_COUNTS = insert(_pc)
_UPDATE_COUNTS = update(_pc).where(_pc.c.publisher_id == bindparam("p"), _pc.c.key == bindparam("k")).values(
    item_count=bindparam("n"), holders=bindparam("h")
)


def boilerplate_among(session: Session, publisher_id: int, keys: Iterable[int], min_items: int) -> set[int]:
    """Which of these paragraphs the publisher repeats on at least `min_items` items."""
    found: set[int] = set()
    for part in chunks({as_signed(k) for k in keys}):
        rows = session.connection().execute(_BOILERPLATE, {"p": publisher_id, "k": part, "n": min_items}).scalars()
        found.update(as_unsigned(k) for k in rows)
    return found


# An item whose new paragraphs (at least a few: a story, not a line) are all held by one
# earlier item of its publisher is that item posted again: what the two share is one story,
# not boilerplate. (Not less than all: a short post under a long footer shares most of its
# paragraphs with every post before it, and that footer is boilerplate.)
REPOST_MIN_PARAGRAPHS = 3


def reposted(keys: Collection[int], holders_of: Callable[[int], Iterable[int]]) -> set[int]:
    """An item's new paragraph keys when one earlier item holds every one of them
    (`holders_of`: the items holding a key while it is not yet boilerplate) — a scraper
    posting one copy three times — else none. Those are not counted toward boilerplate."""
    if len(keys) < REPOST_MIN_PARAGRAPHS:
        return set()
    common: set[int] | None = None
    for key in keys:
        common = set(holders_of(key)) if common is None else common & set(holders_of(key))
        if not common:
            return set()
    return set(keys)


class ParagraphCounter:
    """The counts of a publisher's paragraphs as a run of new texts changes them, one after
    another (`count`), each told what `count_paragraphs` would have told it then; read in
    one round trip and written in two (`write`), however many texts the run holds.

    Until a paragraph is boilerplate its row keeps the ids of the items holding it, so that
    those can be fingerprinted again without it once it is. Nothing else may read or write
    the publisher's counts until `write` (its lock keeps other writers away).
    """

    def __init__(self, session: Session, publisher_id: int, keys: Iterable[int], min_items: int) -> None:
        self.publisher_id = publisher_id
        self.min_items = min_items
        # key (signed) -> (items holding it, their ids while under min_items): as stored, then as counted.
        self.rows: dict[int, tuple[int, str]] = {}
        for part in chunks({as_signed(k) for k in keys}):
            for key, items, holders in session.connection().execute(_COUNTS, {"p": publisher_id, "k": part}).all():
                self.rows[key] = (items, holders)
        self._stored = set(self.rows)
        self._changed: dict[int, None] = {}

    def count(self, item_id: int, keys: Collection[int], among: Iterable[int] = ()) -> Fresh:
        """Count an item's paragraphs (new to it; all of them and `among` read at construction);
        say which became boilerplate, and which of `keys` and `among` are boilerplate once counted."""
        signed = {as_signed(k) for k in keys}
        signed -= reposted(signed, self._holders)
        fresh_keys: set[int] = set()
        holders: set[int] = set()
        for key in signed:
            row = self.rows.get(key)
            if row is None:
                self.rows[key] = (1, str(item_id))
            elif row[0] >= self.min_items:
                self.rows[key] = (row[0] + 1, "")
            elif row[0] + 1 >= self.min_items:
                fresh_keys.add(as_unsigned(key))
                holders.update(int(i) for i in row[1].split())
                self.rows[key] = (row[0] + 1, "")
            else:
                self.rows[key] = (row[0] + 1, f"{row[1]} {item_id}" if row[1] else str(item_id))
            self._changed[key] = None
        asked = signed | {as_signed(k) for k in among}
        boilerplate = frozenset(as_unsigned(k) for k in asked if k in self.rows and self.rows[k][0] >= self.min_items)
        holders.discard(item_id)
        return Fresh(frozenset(fresh_keys), frozenset(holders), boilerplate)

    def _holders(self, key: int) -> list[int]:
        row = self.rows.get(key)
        return [int(i) for i in row[1].split()] if row else []

    def write(self, session: Session) -> None:
        """Store the counts changed since the last write."""
        inserts, updates = [], []
        for key in self._changed:
            items, holders = self.rows[key]
            if key in self._stored:
                updates.append({"p": self.publisher_id, "k": key, "n": items, "h": holders})
            else:
                inserts.append({"publisher_id": self.publisher_id, "key": key, "item_count": items, "holders": holders})
        if inserts:
            session.connection().execute(_INSERT_COUNTS, inserts)
        if updates:
            session.connection().execute(_UPDATE_COUNTS, updates)
        self._stored.update(self._changed)
        self._changed.clear()


_LATEST = select(func.max(_c.captured_at)).where(_c.feed_id == bindparam("f"))


def latest_capture(session: Session, feed_id: int) -> datetime | None:
    """The moment of the feed's latest stored capture (successful or not), if any."""
    return session.connection().execute(_LATEST, {"f": feed_id}).scalar_one()

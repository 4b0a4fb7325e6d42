"""What provenance reads of items (`tracker.provenance.facts.item_facts`), in two round trips:
each item with its sightings and largest texts, and its credits with the items they name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from tracker.model import Attribution, Sizes, StoredItem
from tracker.store import schema
from tracker.store.evidence import proves_absence
from tracker.store.items import ITEM_COLUMNS, add_item_row, chunks

_i, _f, _a = schema.Item, schema.ItemFeed, schema.ItemAttribution.__table__

_vf, _cf = schema.ItemVersion.__table__, schema.Capture.__table__


def _largest(column: Any) -> Any:
    """The largest value of a version column among the item's versions (a correlated subquery)."""
    return select(func.max(column)).where(_vf.c.item_id == _i.id).scalar_subquery()


# An item with its sightings, its largest texts and, per sighting, the feed's last successful
# capture before the item was first seen that proves what the feed lacked (`proves_absence`;
# a row per sighting, as `_ITEMS`).
_FACTS = (
    select(
        *ITEM_COLUMNS, _largest(_vf.c.shingle_count).label("story_size"), _largest(_vf.c.full_count).label("full_size"),
        _largest(case((_vf.c.from_page, 1), else_=0)).label("page"),
        select(func.max(_cf.c.captured_at))
        .where(_cf.c.feed_id == _f.feed_id, _cf.c.captured_at < _i.first_seen_at, _cf.c.error.is_(None), proves_absence(_cf.c, _f.feed_id))
        .scalar_subquery().label("before"),
    )
    .outerjoin(_f, _f.item_id == _i.id).where(_i.id.in_(bindparam("ids", expanding=True)))
)
_first = schema.Item.__table__.alias("earliest_item")
# The earliest stored item at a credit's URL (any variant of it, as `items_at`), by the URL
# index. Scalar subqueries, not a join on one: PostgreSQL joined the items a capture asks
# about to a hash of every item, a scan of the whole table per call.
_EARLIEST = select(_first.c.id).where(_first.c.url_hash == _a.c.url_hash).order_by(_first.c.id).limit(1).correlate(_a)
# Each credit with the item at its URL and that item's publisher.
_CREDITS_AND_TARGETS = (
    select(_a.c.item_id, _a.c.kind, _a.c.name, _a.c.url, _EARLIEST.scalar_subquery().label("target"),
           _EARLIEST.with_only_columns(_first.c.publisher_id).scalar_subquery().label("publisher_id"))
    .where(_a.c.item_id.in_(bindparam("ids", expanding=True))).order_by(_a.c.id)
)
Facts = tuple[StoredItem, Sizes, datetime | None]


def load_facts(session: Session, ids: Collection[int]) -> dict[int, Facts]:
    """Each stored item of these (`load_items` without raw forms), its `Sizes`, and the last
    successful capture of its first feed before it was first seen."""
    found: dict[int, StoredItem] = {}
    sizes: dict[int, Sizes] = {}
    before: dict[tuple[int, int], datetime] = {}
    for part in chunks(ids):
        for row in session.connection().execute(_FACTS, {"ids": part}).all():
            add_item_row(found, row)
            sizes[row.id] = Sizes(row.story_size or 0, row.full_size or 0, bool(row.page))
            if row.before is not None:
                before[(row.id, row.feed_id)] = row.before
    return {i: (item, sizes[i], before.get((i, item.first_feed_id))) for i, item in found.items()}


def credits_and_targets(session: Session, ids: Collection[int]) -> tuple[dict[int, list[Attribution]], dict[str, int], dict[int, int]]:
    """`credits_of` these items; the item at each URL they credit, as `items_at` finds it; and
    the publisher of each such item."""
    found: dict[int, list[Attribution]] = defaultdict(list)
    targets: dict[str, int] = {}
    publishers: dict[int, int] = {}
    for part in chunks(ids):
        for item_id, kind, name, url, target, publisher_id in session.connection().execute(_CREDITS_AND_TARGETS, {"ids": part}).all():
            found[item_id].append(Attribution(kind, name, url))
            if target is not None:
                targets[url] = target
                publishers[target] = publisher_id
    return found, targets, publishers

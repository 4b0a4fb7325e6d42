"""The LSH index as SQL: which items each band bucket holds, written a capture's texts at a
time, with crowded buckets capped (`BUCKET_CAP`); `tracker.store.hubs` reads them for candidates.
On SQLite new rows go to the index's recent tier first (`tracker.store.recent`), and every
read here covers both tiers."""

from __future__ import annotations

from bisect import insort
from collections import defaultdict
from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.orm import Session

from tracker.store import hubs, locks, recent, schema
from tracker.store.database import int_array
from tracker.store.items import chunks

# A bucket holding this many items takes no more: the text its band stands for is common
# (a wire story's thousandth copy, a template), and whoever shares it finds the group
# through the items already there. Reading a bucket then costs at most this many rows.
BUCKET_CAP = 64


_lb = schema.LshBucket.__table__
_HELD = select(_lb.c.bucket, _lb.c.item_id).where(
    _lb.c.item_id.in_(bindparam("i", expanding=True)), _lb.c.bucket.in_(bindparam("b", expanding=True))
)
# PostgreSQL: the rows as two arrays, one plan prepared once per connection (a list of
# parameters is a new statement at each length, planned on every execution).
_PG_INSERT = text(
    "INSERT INTO lsh_buckets (bucket, item_id) SELECT * FROM unnest(CAST(:b AS bigint[]), CAST(:i AS integer[]))"
)
# Buckets per PostgreSQL statement.
_PG_BATCH = 10_000


def add_buckets(session: Session, item_id: int, buckets: Collection[int], new: bool = False) -> None:
    """Index an item under these buckets (those it has already are kept once; a `new` item has
    none), but not under a bucket already holding `BUCKET_CAP` items."""
    add_buckets_many(session, [(item_id, buckets, new)])


def add_buckets_many(session: Session, additions: Sequence[tuple[int, Collection[int], bool]]) -> None:
    """`add_buckets` of each (item, buckets, new) in turn — a bucket the earlier ones filled
    takes no more — in a few statements, however many there are.

    Each bucket's first members are read (up to the cap: all a bucket may hold) and kept as
    filled, for the candidate lookup that follows in the transaction (`hubs.bucket_members`).
    On PostgreSQL the buckets are locked first (`locks.BUCKET`, held to the end of the
    transaction): no other writer fills them meanwhile, so what was read stays true, and
    the cap is exact there too.
    """
    connection = session.connection()
    recent.merge_if_full(session)
    # The buckets each item is under: already, or by an earlier addition of this call.
    under = _indexed_under(session, additions)
    # Each item's new buckets once, in the order they are added. (Per item, not per pair:
    # a capture adds ~115 buckets a text, and this is the storing process's busiest loop.)
    wanted: list[tuple[int, list[int]]] = []
    for item_id, buckets, _ in additions:
        held = under[item_id]
        if fresh := [b for b in dict.fromkeys(buckets) if b not in held]:
            held.update(fresh)
            wanted.append((item_id, fresh))
    if not wanted:
        return
    known = hubs.known_members(session, BUCKET_CAP)
    assert known is not None and known.cap == BUCKET_CAP
    filled = known.members
    unknown = {b for _, fresh in wanted for b in fresh if b not in filled}
    locks.lock(session, locks.BUCKET, unknown)
    filled.update(hubs.first_members(session, unknown, BUCKET_CAP))
    rows: list[tuple[int, list[int]]] = []
    for item_id, fresh in wanted:
        taken = []
        for bucket in fresh:
            members = filled.get(bucket)
            if members is None:
                filled[bucket] = [item_id]
            elif len(members) < BUCKET_CAP:
                insort(members, item_id)
            else:
                continue
            taken.append(bucket)
        if taken:
            rows.append((item_id, taken))
    if recent.enabled(session):
        recent.add(session, rows)
        return
    pairs = sorted((bucket, item_id) for item_id, taken in rows for bucket in taken)  # in index order: each page once
    for start in range(0, len(pairs), _PG_BATCH):
        part = pairs[start : start + _PG_BATCH]
        connection.execute(_PG_INSERT, {"b": int_array(b for b, _ in part), "i": int_array(i for _, i in part)})


def _indexed_under(session: Session, additions: Sequence[tuple[int, Collection[int], bool]]) -> defaultdict[int, set[int]]:
    """Which of their buckets the items not `new` are indexed under already."""
    under: defaultdict[int, set[int]] = defaultdict(set)
    indexed = {item_id for item_id, _, new in additions if not new}
    if indexed:
        ids = sorted(indexed)
        theirs = {b for item_id, buckets, _ in additions if item_id in indexed for b in buckets}
        for part in chunks(theirs):
            for bucket, item_id in session.connection().execute(_HELD, {"i": ids, "b": part}).all():
                under[item_id].add(bucket)
        for bucket, its in recent.members(session, theirs).items():
            for item_id in its & indexed:
                under[item_id].add(bucket)
    return under


def clear_index(session: Session) -> None:
    """Empty the LSH index (to be written again in bulk, `insert_fresh`)."""
    hubs.forget_members(session)
    session.execute(delete(schema.LshBucket))
    recent.clear(session)


def insert_fresh(session: Session, rows: list[dict[str, int]]) -> None:
    """Bucket rows in bulk (none of them present yet, no cap applied)."""
    if rows:
        hubs.forget_members(session, {row["bucket"] for row in rows})
        session.execute(insert(_lb), rows)


_REMOVE_BUCKETS = delete(_lb).where(_lb.c.item_id == bindparam("i"), _lb.c.bucket.in_(bindparam("b", expanding=True)))


def remove_buckets(session: Session, item_id: int, buckets: Collection[int]) -> None:
    """Take an item out of these buckets."""
    hubs.forget_members(session, buckets)
    for part in chunks(buckets):
        session.connection().execute(_REMOVE_BUCKETS, {"i": item_id, "b": part})
    recent.remove(session, item_id, buckets)


_MEMBERS = select(_lb.c.bucket, _lb.c.item_id).where(_lb.c.bucket.in_(bindparam("b", expanding=True)))


def bucket_members(session: Session, buckets: Collection[int]) -> dict[int, set[int]]:
    """The items indexed under each of these buckets."""
    found: dict[int, set[int]] = defaultdict(set)
    for part in chunks(buckets):
        for bucket, item_id in session.connection().execute(_MEMBERS, {"b": part}).all():
            found[bucket].add(item_id)
    for bucket, its in recent.members(session, buckets).items():
        found[bucket] |= its
    return found


def index_rows(session: Session) -> set[tuple[int, int]]:
    """Every (bucket, item) of the index, whichever tier holds it."""
    return {(bucket, item_id) for bucket, item_id in session.execute(select(_lb.c.bucket, _lb.c.item_id))} | recent.rows(session)

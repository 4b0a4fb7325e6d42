"""The LSH index as SQL: which items each band bucket holds, written a capture's texts at a
time, with crowded buckets capped (`BUCKET_CAP`); `tracker.store.hubs` reads them for candidates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.orm import Session

from tracker.store import schema
from tracker.store.items import chunks

# A bucket holding this many items takes no more: the text its band stands for is common
# (a wire story's thousandth copy, a template), and whoever shares it finds the group
# through the items already there. Reading a bucket then costs at most this many rows.
BUCKET_CAP = 64


_lb = schema.LshBucket.__table__
# Built once, so compiled once: these run for every capture, and building one cost more than running it.
_FILL = select(_lb.c.bucket, func.count()).where(_lb.c.bucket.in_(bindparam("b", expanding=True))).group_by(_lb.c.bucket)
_HELD = select(_lb.c.bucket, _lb.c.item_id).where(
    _lb.c.item_id.in_(bindparam("i", expanding=True)), _lb.c.bucket.in_(bindparam("b", expanding=True))
)
# PostgreSQL: the buckets as arrays, one statement each however many there are (one plan,
# prepared once per connection: a list of parameters is a new statement at each length and
# was planned on every execution; an executemany sent each row on its own). A bucket is
# counted only up to the cap, which is all that is asked of it.
_PG_FILL = text(
    "SELECT n.bucket, (SELECT count(*) FROM (SELECT 1 FROM lsh_buckets WHERE lsh_buckets.bucket = n.bucket LIMIT :cap) AS f) "
    "FROM unnest(CAST(:b AS bigint[])) AS n(bucket)"
)
_PG_INSERT_BUCKETS = text("INSERT INTO lsh_buckets (bucket, item_id) SELECT * FROM unnest(CAST(:b AS bigint[]), CAST(:i AS integer[]))")
_SQLITE_INSERT_BUCKETS = "INSERT INTO lsh_buckets (bucket, item_id) VALUES (?, ?)"
# Buckets per PostgreSQL statement.
_PG_BATCH = 10_000


def add_buckets(session: Session, item_id: int, buckets: Collection[int], new: bool = False) -> None:
    """Index an item under these buckets (those it has already are kept once; a `new` item has
    none), but not under a bucket already holding `BUCKET_CAP` items."""
    add_buckets_many(session, [(item_id, buckets, new)])


def add_buckets_many(session: Session, additions: Sequence[tuple[int, Collection[int], bool]]) -> None:
    """`add_buckets` of each (item, buckets, new) in turn — a bucket the earlier ones filled
    takes no more — in three statements at most, however many there are."""
    wanted = sorted({b for _, buckets, _ in additions for b in buckets})
    if not wanted:
        return
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    fill: dict[int, int] = {}
    if postgresql:
        for start in range(0, len(wanted), _PG_BATCH):
            fill.update(connection.execute(_PG_FILL, {"b": wanted[start : start + _PG_BATCH], "cap": BUCKET_CAP}).all())
    else:
        for part in chunks(wanted):
            fill.update(connection.execute(_FILL, {"b": part}).all())
    held: set[tuple[int, int]] = set()
    indexed = sorted({item_id for item_id, _, new in additions if not new})
    if indexed:
        for part in chunks(wanted):
            held.update(tuple(r) for r in connection.execute(_HELD, {"i": indexed, "b": part}).all())
    rows: list[tuple[int, int]] = []
    for item_id, buckets, _ in additions:
        for bucket in sorted(buckets):
            if (bucket, item_id) in held or fill.get(bucket, 0) >= BUCKET_CAP:
                continue
            fill[bucket] = fill.get(bucket, 0) + 1
            held.add((bucket, item_id))
            rows.append((bucket, item_id))
    if not rows:
        return
    rows.sort()  # in index order: the primary key's pages are visited once each
    if postgresql:
        for start in range(0, len(rows), _PG_BATCH):
            part = rows[start : start + _PG_BATCH]
            connection.execute(_PG_INSERT_BUCKETS, {"b": [b for b, _ in part], "i": [i for _, i in part]})
    else:
        # On the driver: SQLAlchemy's processing of each of a capture's thousands of rows cost
        # as much as SQLite inserting them.
        connection.exec_driver_sql(_SQLITE_INSERT_BUCKETS, rows)


_REMOVE_BUCKETS = delete(_lb).where(_lb.c.item_id == bindparam("i"), _lb.c.bucket.in_(bindparam("b", expanding=True)))


def remove_buckets(session: Session, item_id: int, buckets: Collection[int]) -> None:
    """Take an item out of these buckets."""
    for part in chunks(buckets):
        session.connection().execute(_REMOVE_BUCKETS, {"i": item_id, "b": part})


_b = schema.LshBucket.__table__
_MEMBERS = select(_b.c.bucket, _b.c.item_id).where(_b.c.bucket.in_(bindparam("b", expanding=True)))


def bucket_members(session: Session, buckets: Collection[int]) -> dict[int, set[int]]:
    """The items indexed under each of these buckets."""
    found: dict[int, set[int]] = defaultdict(set)
    for part in chunks(buckets):
        for bucket, item_id in session.connection().execute(_MEMBERS, {"b": part}).all():
            found[bucket].add(item_id)
    return found

"""Candidate lookup with hub buckets capped: the first members of a crowded LSH bucket only.

Templated text (weather bulletins, earnings lines) and a story copied by thousands of
publishers fill some buckets with as many items as the corpus has of them; reading every
member of such a *hub* bucket makes each lookup cost grow with the corpus. Each bucket is
read up to `cap` members, the earliest stored (an original and its first copies; a
template's first fillings), by one statement of per-bucket `ORDER BY item_id LIMIT`
lookups that the primary key (bucket, item_id) answers from its first entries (on SQLite,
with what the index's recent tier holds, `tracker.store.recent`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from functools import cache

from sqlalchemy import text
from sqlalchemy.orm import Session

from tracker.store import recent
from tracker.store.database import int_array, transaction_state

# Buckets looked up per SQLite statement: few statements, well under SQLite's 500 compound
# terms; a shorter list is padded to one of these sizes, so that only these are prepared.
_SIZES = (8, 32, 128)
# Buckets per PostgreSQL statement (one array parameter).
_PG_BATCH = 10_000

# PostgreSQL: every bucket of an array in one statement, each read by the primary key to
# its first `:cap` members. One plan, prepared once per connection by psycopg; a union of
# 128 arms was planned again on every execution and cost more than reading the rows.
_PG_LOOKUP = text(
    "SELECT b.bucket, m.item_id FROM unnest(CAST(:b AS bigint[])) AS b(bucket) "
    "CROSS JOIN LATERAL (SELECT item_id FROM lsh_buckets WHERE lsh_buckets.bucket = b.bucket "
    "ORDER BY item_id LIMIT :cap) AS m"
)


@cache
def _sqlite_lookup(count: int) -> str:
    """One SQLite statement: the first `cap` members of each of `count` buckets (a bucket
    and the cap bound per arm, in order).

    Run on the driver: SQLAlchemy would process 2 × 128 bound parameters of a compiled
    statement on every execution, which costs more than SQLite spends running it.
    """
    arm = "SELECT h{n}.bucket, h{n}.item_id FROM (SELECT bucket, item_id FROM lsh_buckets WHERE bucket = ? ORDER BY item_id LIMIT ?) AS h{n}"
    return " UNION ALL ".join(arm.format(n=n) for n in range(count))


def first_members(session: Session, buckets: Collection[int], cap: int) -> dict[int, list[int]]:
    """The first `cap` members of each of these buckets that has any, in item order."""
    return {bucket: sorted(members) for bucket, members in _read(session, buckets, cap).items()}


def _read(session: Session, buckets: Collection[int], cap: int) -> dict[int, set[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    ordered = sorted(buckets)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for start in range(0, len(ordered), _PG_BATCH):
            for bucket, item_id in connection.execute(_PG_LOOKUP, {"b": int_array(ordered[start : start + _PG_BATCH]), "cap": cap}).all():
                found[bucket].add(item_id)
    else:
        for start in range(0, len(ordered), _SIZES[-1]):
            part = ordered[start : start + _SIZES[-1]]
            size = next(s for s in _SIZES if s >= len(part))
            padded = part + [part[-1]] * (size - len(part))  # a bucket read twice adds nothing
            binds = tuple(value for bucket in padded for value in (bucket, cap))
            for bucket, item_id in connection.exec_driver_sql(_sqlite_lookup(size), binds).all():  # fetchall: rows one by one cost more
                found[bucket].add(item_id)
        # SQLite's newest rows are in the recent tier: the first `cap` of both.
        for bucket, members in recent.members(session, ordered).items():
            both = found[bucket] | members
            found[bucket] = both if len(both) <= cap else set(sorted(both)[:cap])
    return found


def bucket_members(session: Session, buckets: Collection[int], cap: int) -> dict[int, Collection[int]]:
    """The items indexed under each of these buckets that has any, at most the `cap`
    earliest of each (those this transaction knows already, `known_members`, without
    reading them again). To be read at once: a known bucket's list is the transaction's own."""
    known = known_members(session)
    cached = known.members if known is not None and cap <= known.cap else {}
    found: dict[int, Collection[int]] = {}
    unread: list[int] = []
    # One pass of plain lookups: a capture's new texts bring ~115 buckets each, nearly all known.
    for bucket in buckets:
        members = cached.get(bucket)
        if members is None:
            unread.append(bucket)
        elif members:
            found[bucket] = members if len(members) <= cap else members[:cap]
    found.update(_read(session, unread, cap))
    return found


class KnownMembers:
    """The first `cap` members, in item order, of each bucket this transaction filled
    (`tracker.store.buckets.add_buckets_many`), kept as it fills them.

    A capture's texts are indexed, then looked up for candidates: the lookup needs no
    second reading of the buckets, nor the rows of the texts just indexed. Nobody else
    fills those buckets until the transaction ends (SQLite has one writer; on PostgreSQL
    the transaction holds their `locks.BUCKET` locks, which every writer of a bucket takes
    first), and a new transaction starts with nothing known.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.members: dict[int, list[int]] = {}


_KNOWN = "tracker.store.hubs.known"
# Buckets a transaction keeps known at most (~150 bytes each): some 2,600 new texts' worth,
# far more than a batch of captures brings, while one capture of 20,000 new entries would
# keep 2.3M (a third of a GB). Past it, what was kept is dropped and read again as needed.
KNOWN_BUCKETS = 300_000


def known_members(session: Session, cap: int | None = None) -> KnownMembers | None:
    """This transaction's `KnownMembers` (begun with `cap` when given; emptied when it holds
    `KNOWN_BUCKETS`), or None."""
    known = transaction_state(session, _KNOWN, None if cap is None else lambda: KnownMembers(cap))
    if known is not None and cap is not None and len(known.members) >= KNOWN_BUCKETS:
        known.members.clear()
    return known


def forget_members(session: Session, buckets: Collection[int] | None = None) -> None:
    """What this transaction knows of these buckets' members (of all: None) is no longer so."""
    known = known_members(session)
    if known is None:
        return
    if buckets is None:
        known.members.clear()
    else:
        for bucket in buckets:
            known.members.pop(bucket, None)

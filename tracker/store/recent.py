"""The LSH index's recent tier (SQLite): new bucket rows appended to a log, held in memory,
and merged into `lsh_buckets` in bulk.

At a million items `lsh_buckets` spans ~650k leaf pages, and a new item's ~115 rows land
on ~100 of them at random: a batch of 50 captures dirtied ~37k pages, each written to the
WAL and again into the file (10k new items wrote 21 GB). Appended to `lsh_recent` instead,
an item's rows are one row of the log, at its end. Once the log holds `MERGE_ROWS` rows,
they go into `lsh_buckets` in key order, so that each leaf is written once for all the
rows it gains.

Each process holds the log in memory (`_Held`, per engine) and reads on from where it left
off when a write transaction first looks at the index. SQLite has one writer at a time
(`BEGIN IMMEDIATE`), so the log's sequence (AUTOINCREMENT: never used twice) is the order
of commits, and a process that has read up to a number has every change made before it.
Only a merge or a cleared index deletes log rows, and it deletes all of them: when the log
no longer starts at or before the first row a process holds, what it holds is in
`lsh_buckets` (or gone) and it is dropped.

Only a transaction that holds the write lock (`locks.begin_write`, as the pipeline's do)
uses and advances the process's copy; any other reads the whole log afresh, in its own
snapshot. A session outside any transaction reads the two tables by separate statements,
which a merge committed between them can fall between: read the index in a transaction.
A savepoint rolled back does not undo the tier's changes made under it (nothing writes the
index under one).

PostgreSQL's writers commit in any order: a reader of the log could pass a row committed
later. There the rows go to `lsh_buckets` directly (`enabled`).
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from tracker.store import locks
from tracker.store.database import transaction_state

# Rows (bucket, item) the log takes before it is merged: ~26k items. At a million items
# (~650k leaves) a merge reaches nearly every leaf once, whatever its size: ~25 pages
# written per item against ~100 when each capture inserts its own. Held in memory at 12
# bytes a row (36 MB): the larger the log, the rarer the merges, and the more memory.
MERGE_ROWS = 3_000_000
# Held runs are merged up to this many rows: re-sorting more would cost more memory at once
# than the few extra runs a lookup searches.
RUN_ROWS = 1 << 18
# Rows a merge sorts and inserts at a time (as Python values at once).
MERGE_SLICE_ROWS = 100_000

# Log rows read at a time (each ~115 pairs).
_READ_PART = 2_000

_KEYS = np.dtype("<i8")
_ITEM_MIN, _ITEM_MAX = int(np.iinfo(np.int32).min), int(np.iinfo(np.int32).max)
_APPEND = "INSERT INTO lsh_recent (item_id, added, buckets) VALUES (?, ?, ?)"
_READ_ON = "SELECT seq, item_id, added, buckets FROM lsh_recent WHERE seq > ? ORDER BY seq"
_MERGE = "INSERT OR IGNORE INTO lsh_buckets (bucket, item_id) VALUES (?, ?)"  # (unique by construction)


def enabled(session: Session) -> bool:
    """Whether this database keeps a recent tier (SQLite: one writer at a time)."""
    return session.connection().dialect.name == "sqlite"


def pack(buckets: Iterable[int]) -> bytes:
    """Bucket keys as the log stores them (signed 64-bit, little-endian)."""
    return np.fromiter(buckets, dtype=_KEYS).tobytes()


def unpack(packed: bytes) -> np.ndarray:
    """The bucket keys of one log row."""
    return np.frombuffer(packed, dtype=_KEYS)


class _Held:
    """The log's committed changes as this process last read them: (bucket, item) pairs in
    runs sorted by bucket, and the pairs a later change removed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset(0)

    def reset(self, last: int) -> None:
        """Hold nothing; read on after `last` (0: the whole log)."""
        self.last = last
        self.first: int | None = None
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.removed: set[tuple[int, int]] = set()
        self.rows = 0

    def apply(self, rows: Sequence[tuple[int, int, bool, bytes]]) -> None:
        """The log's rows (seq, item, added, buckets), in order."""
        keys, items = [], []
        for seq, item_id, added, packed in rows:
            self.first = seq if self.first is None else self.first
            self.last = seq
            found = unpack(packed)
            if added:
                keys.append(found)
                # Item ids at 4 bytes when they fit (ids past 2^31 keep 8): 12 bytes a row, not 16.
                items.append(np.full(len(found), item_id, dtype=np.int32 if _ITEM_MIN <= item_id <= _ITEM_MAX else np.int64))
                self.rows += len(found)
                if self.removed:
                    self.removed.difference_update((int(b), item_id) for b in found)
            else:
                self.removed.update((int(b), item_id) for b in found)
        if keys and (joined := np.concatenate(keys)).size:
            self._push(joined, np.concatenate(items))

    def _push(self, keys: np.ndarray, items: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], items[order]))
        # Runs are merged while the newest is at least half the one before: a few runs, and
        # each row re-sorted about log2(rows) times over the log's life.
        while len(self.runs) > 1 and 2 * len(self.runs[-1][0]) >= len(self.runs[-2][0]) and (
            len(self.runs[-1][0]) + len(self.runs[-2][0]) <= RUN_ROWS
        ):
            (k1, i1), (k2, i2) = self.runs.pop(), self.runs.pop()
            keys, items = np.concatenate((k2, k1)), np.concatenate((i2, i1))
            order = np.argsort(keys, kind="stable")
            self.runs.append((keys[order], items[order]))

    def members(self, query: np.ndarray) -> dict[int, set[int]]:
        """The items held under each of these buckets (sorted, distinct) that have any."""
        found: dict[int, set[int]] = defaultdict(set)
        for keys, items in self.runs:  # (none empty)
            # Most buckets asked for are in no run: one binary search each finds which are.
            low = np.searchsorted(keys, query, "left")
            hits = np.flatnonzero(keys[np.minimum(low, len(keys) - 1)] == query)
            if not hits.size:
                continue
            high = np.searchsorted(keys, query[hits], "right")
            for j, end in zip(hits.tolist(), high.tolist(), strict=True):
                bucket = int(query[j])
                for item_id in items[low[j] : end].tolist():
                    if (bucket, item_id) not in self.removed:
                        found[bucket].add(item_id)
        return found

    def pairs(self) -> set[tuple[int, int]]:
        """Every (bucket, item) held."""
        found: set[tuple[int, int]] = set()
        for keys, items in self.runs:
            found.update(zip(keys.tolist(), items.tolist(), strict=True))
        return found - self.removed


def _in_key_order(runs: list[tuple[np.ndarray, np.ndarray]], total: int) -> Iterator[list[tuple[int, int]]]:
    """The (bucket, item) pairs of these runs (`total` in all) in bucket order, a slice of
    the key space at a time: band hashes are spread evenly over the keys, so slices hold
    about equal shares, each sorted on its own (memory for one slice, not for all)."""
    slices = max(1, total // MERGE_SLICE_ROWS)
    edges = [-(2**63) + n * (2**64 // slices) for n in range(1, slices)]
    cuts = [np.searchsorted(keys, edges).tolist() for keys, _ in runs]
    for n in range(slices):
        key_parts, item_parts = [np.empty(0, _KEYS)], [np.empty(0, np.int64)]
        for (keys, items), bounds in zip(runs, cuts, strict=True):
            start, end = bounds[n - 1] if n else 0, bounds[n] if n < slices - 1 else len(keys)
            key_parts.append(keys[start:end])
            item_parts.append(items[start:end])
        keys, items = np.concatenate(key_parts), np.concatenate(item_parts)
        order = np.argsort(keys, kind="stable")
        yield list(zip(keys[order].tolist(), items[order].tolist(), strict=True))


_REGISTRY: weakref.WeakKeyDictionary[Engine, _Held] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()
_OWN = "tracker.store.recent.own"


def _state(session: Session) -> tuple[Connection, _Held, _Held]:
    """The session's connection, the log as this transaction sees it (the writer: this
    process's copy, read on to now; anyone else: its own, read whole) and the transaction's
    own changes (its rows of the log, held apart until it commits: it may roll back)."""
    connection = session.connection()
    kept = transaction_state(session, _OWN)
    if kept is None:
        held = _Held()
        if locks.writing(session):
            with _REGISTRY_LOCK:
                held = _REGISTRY.setdefault(connection.engine, held)
        with held.lock:
            if held.first is not None:
                first = connection.exec_driver_sql("SELECT min(seq) FROM lsh_recent").scalar()
                if first is None or first > held.first:
                    held.reset(held.last)  # merged into lsh_buckets (or cleared) since
            # A few rows at a time: a full log is ~16 MB of rows, and each part is a run of its own.
            for part in connection.exec_driver_sql(_READ_ON, (held.last,)).partitions(_READ_PART):
                held.apply(part)  # type: ignore[arg-type]
        kept = transaction_state(session, _OWN, lambda: (held, _Held()))
    assert kept is not None
    return connection, kept[0], kept[1]


def members(session: Session, buckets: Collection[int]) -> dict[int, set[int]]:
    """The items the recent tier holds under each of these buckets that has any (none
    where there is no tier)."""
    if not buckets or not enabled(session):
        return {}
    _, held, own = _state(session)
    if not (held.runs or own.runs):
        return {}
    query = np.unique(np.fromiter(buckets, dtype=_KEYS))
    with held.lock:
        found = held.members(query)
    if own.removed:
        for bucket, its in found.items():
            its.difference_update([i for i in its if (bucket, i) in own.removed])
    for bucket, its in own.members(query).items():
        found[bucket] |= its
    return {bucket: its for bucket, its in found.items() if its}


def add(session: Session, additions: Sequence[tuple[int, Sequence[int]]]) -> None:
    """Index each (item, buckets): none of these pairs is indexed yet."""
    if additions:
        _append(session, [(item_id, True, pack(found)) for item_id, found in additions])


def remove(session: Session, item_id: int, buckets: Collection[int]) -> None:
    """Take an item out of these buckets of the recent tier (where it is there)."""
    # (No tier: `members` finds it in none.)
    if present := [bucket for bucket, its in members(session, buckets).items() if item_id in its]:
        _append(session, [(item_id, False, pack(present))])


def _append(session: Session, changes: list[tuple[int, bool, bytes]]) -> None:
    connection, _, own = _state(session)
    connection.exec_driver_sql(_APPEND, changes)
    own.apply([(0, item_id, added, packed) for item_id, added, packed in changes])


def merge_if_full(session: Session) -> bool:
    """Move the tier into `lsh_buckets` once it holds `MERGE_ROWS` rows; whether it did."""
    if not enabled(session):
        return False
    connection, held, own = _state(session)
    with held.lock:
        if held.rows + own.rows < MERGE_ROWS:
            return False
        # A pair whose last change was a removal is left out; one this transaction put back is not.
        gone = own.removed | (held.removed - own.pairs() if held.removed else set())
        taken = _in_key_order(held.runs + own.runs, held.rows + own.rows)
        held.reset(0)  # read again at the next transaction: this one may yet roll back
    # In index order, so that each page is visited once; a pair held twice is inserted once.
    for pairs in taken:
        if kept := [pair for pair in pairs if pair not in gone] if gone else pairs:
            connection.exec_driver_sql(_MERGE, kept)
    connection.exec_driver_sql("DELETE FROM lsh_recent")
    own.reset(0)
    return True


def rows(session: Session) -> set[tuple[int, int]]:
    """Every (bucket, item) the recent tier holds."""
    if not enabled(session):
        return set()
    _, held, own = _state(session)
    with held.lock:
        found = held.pairs() - own.removed
    return found | own.pairs()


def clear(session: Session) -> None:
    """Empty the recent tier (the whole index is being emptied)."""
    if not enabled(session):
        return
    connection, held, own = _state(session)
    with held.lock:
        held.reset(0)
    own.reset(0)
    connection.exec_driver_sql("DELETE FROM lsh_recent")

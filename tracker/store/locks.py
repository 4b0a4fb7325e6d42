"""Who may write what at once: many writers on PostgreSQL, one at a time on SQLite.

SQLite has one writer: every write transaction takes the database's write lock when it
begins (`BEGIN IMMEDIATE`), so processes take turns and each sees all the others wrote.

PostgreSQL lets any number of processes write. Each decision that reads facts another
process may be writing takes a transaction-scoped advisory lock on what it reads:
- a publisher (identity of its entries, the counts of its paragraphs, its items' sightings);
- the LSH buckets of a new text (any two texts that can become candidates share a bucket,
  so the later one waits for the earlier to commit and then finds it);
- the URLs an item has or credits (an exact credit links two items whatever their text);
- every item of a group whose provenance is decided (a group is decided by one process at
  a time, from all its committed facts);
- the directory of feeds and publishers, while it is changed.
Locks are taken in sorted batches; the rare deadlock between two captures is detected by
the server and the capture is retried (`retryable`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tracker.store.database import int_array, transaction_state

# The advisory lock's first key (int4): "tr" and a kind, apart from other applications' locks.
# A capture takes them in this order (the directory only when it changes it), so that two
# captures deadlock only when one of them must lock a second batch of a kind.
DIRECTORY = 0x7472_0000
PUBLISHER = 0x7472_0001
BUCKET = 0x7472_0002
URL = 0x7472_0003
ITEM = 0x7472_0004
REBUILD = 0x7472_0005

# Deadlock detected, serialisation failure, and a unique key another writer took first.
_RETRYABLE = {"40P01", "40001", "23505"}
# SQLITE_BUSY and SQLITE_BUSY_SNAPSHOT (sqlite3's primary and extended result codes).
_SQLITE_BUSY = {5, 517}


_WRITING = "tracker.store.locks.writing"


def begin_write(session: Session) -> None:
    """Start the session's write transaction (call it first)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # A deferred transaction would take the write lock only at its first write, after
        # facts were read; IMMEDIATE takes it now (readers are not blocked: WAL).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    transaction_state(session, _WRITING, lambda: True)


def writing(session: Session) -> bool:
    """Whether the session's transaction began with `begin_write` (on SQLite: it holds the
    write lock, so nobody else writes until it ends)."""
    return transaction_state(session, _WRITING) is not None


# PostgreSQL keeps advisory locks in its shared lock table, sized by max_locks_per_transaction
# (64 by default) times the connections: a capture of a few hundred new texts (64 to 128
# buckets each) ran it out ("out of shared memory"). Past this many keys a transaction takes
# the whole kind instead, which every holder of single keys of that kind holds shared.
MANY = 1000
_WHOLE = 0x0100


def lock(session: Session, kind: int, keys: Iterable[int]) -> bool:
    """Hold `kind` locks on `keys` (any integers) until the transaction ends; PostgreSQL only
    (SQLite's writer already holds the whole database: False, nothing to wait for)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    held = transaction_state(session, _HELD, _Held)
    assert held is not None
    if kind in held.kinds:
        return True
    # Sorted: two transactions locking overlapping sets take them in one order. Keys this
    # transaction holds already are not asked again (a capture locks its new texts' buckets
    # to fill them, then all its texts' buckets to match them).
    wanted = sorted({_int4(k) for k in keys} - held.keys.get(kind, set()))
    if len(wanted) > MANY:
        connection.execute(text("SELECT pg_advisory_xact_lock(CAST(:kind AS integer), 0)"), {"kind": _int4(kind | _WHOLE)})
        held.kinds.add(kind)
    elif wanted:
        # One round trip: the kind shared first (an Append runs its branches in order), then the keys.
        connection.execute(
            text("SELECT pg_advisory_xact_lock_shared(CAST(:whole AS integer), 0) UNION ALL "
                 "SELECT pg_advisory_xact_lock(CAST(:kind AS integer), k) FROM unnest(CAST(:keys AS integer[])) AS k"),
            {"whole": _int4(kind | _WHOLE), "kind": _int4(kind), "keys": int_array(wanted)},
        )
        held.keys.setdefault(kind, set()).update(wanted)
    return True


class _Held:
    """The advisory locks a transaction holds (they end with it): keys by kind, and kinds held whole."""

    def __init__(self) -> None:
        self.keys: dict[int, set[int]] = {}
        self.kinds: set[int] = set()


_HELD = "tracker.store.locks.held"


def shared_read(session: Session, kind: int, key: int, query: str, params: dict[str, object]) -> object:
    """The one value `query` selects, read while holding a shared `kind` lock on `key` until
    the transaction ends (PostgreSQL: any number of holders, none while one holds it alone;
    SQLite's writer holds the whole database). One round trip for both."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return connection.execute(text(query), params).scalar()
    row = connection.execute(
        text(f"SELECT pg_advisory_xact_lock_shared(CAST(:lock_kind AS integer), CAST(:lock_key AS integer)), ({query})"),
        {**params, "lock_kind": _int4(kind), "lock_key": _int4(key)},
    ).one()
    return row[1]


def retryable(error: BaseException) -> bool:
    """Whether a failed transaction lost a race with another writer and may simply run again
    (on SQLite: waited its whole busy timeout for another process's write lock)."""
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return isinstance(error, DBAPIError) and code in _RETRYABLE or busy(error)


def busy(error: BaseException) -> bool:
    """Whether SQLite refused a write because another process held the write lock past the
    busy timeout ("database is locked"): the database is there, only taken for now."""
    orig = getattr(error, "orig", None)
    return isinstance(error, DBAPIError) and getattr(orig, "sqlite_errorcode", None) in _SQLITE_BUSY


def _int4(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def single_writer(sessions: sessionmaker[Session]) -> bool:
    """Whether one writer at a time holds the whole database (SQLite): several captures
    in one transaction then take no lock another writer could be waiting on in turn."""
    bind = sessions.kw.get("bind")
    return bind is not None and bind.dialect.name == "sqlite"

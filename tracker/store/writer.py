"""One writer at a time, and knowing when another process has written.

Until detection state lives wholly in SQL, each process keeps the corpus in memory. So
that several processes on one database (a daemon, an ingest, a cron `poll`) still give
the result of a serial run, every write of the pipeline (1) takes the database's writer
lock for its transaction, and (2) reads the database's generation — the newest capture,
feed and publisher — to learn whether another process wrote since this one last looked;
if so, the pipeline reloads its caches, under the lock, before going on.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# pg_advisory_xact_lock takes one bigint: "tracker", then 2 for "the writer".
_WRITER_KEY = 0x74726163_6B657202

Generation = tuple[int, int, int]


def serialise(session: Session) -> None:
    """Take the writer lock for the rest of the session's transaction (call it first)."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITER_KEY})
    elif dialect == "sqlite":
        # A deferred transaction would take the write lock only at its first write, after
        # the caches were consulted; IMMEDIATE takes it now (readers are not blocked: WAL).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def generation(session: Session) -> Generation:
    """The newest capture, feed and publisher: any other writer moves at least one of them."""
    row = session.execute(text(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM captures), (SELECT COALESCE(MAX(id), 0) FROM feeds), "
        "(SELECT COALESCE(MAX(id), 0) FROM publishers)"
    )).one()
    return int(row[0]), int(row[1]), int(row[2])

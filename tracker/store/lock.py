"""One polling daemon per database, until polling is coordinated through SQL.

Each daemon keeps its detection caches in memory, so two daemons (or a daemon and its
twin on another machine) on one database would each miss what the other stores. The
lock makes the second one refuse to start, in one line, instead. It is held by the
operating system or the database server for the life of the process, so a daemon
killed with -9 leaves nothing behind to clean up:
- SQLite: an exclusive `flock` on `<database>.daemon.lock` beside the file;
- PostgreSQL: a session-level advisory lock on a connection kept open for it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from tracker.errors import AlreadyRunningError
from tracker.store.database import create_db_engine, describe, sqlite_file

# pg_try_advisory_lock takes one bigint: "tracker" and a version byte.
_ADVISORY_KEY = 0x74726163_6B657201


class DaemonLock:
    """Held while a daemon runs; `acquire` raises AlreadyRunningError if another holds it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._file: IO[str] | None = None
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._file is not None or self._connection is not None

    def acquire(self) -> None:
        """Take the lock (a no-op if held); database errors propagate for the caller to retry."""
        if self.held:
            return
        path = sqlite_file(self.url)
        if path is not None:
            self._acquire_file(Path(f"{path}.daemon.lock"))
        elif self.url.startswith(("postgres", "postgresql")):
            self._acquire_advisory()

    def _acquire_file(self, lock_path: Path) -> None:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise AlreadyRunningError(
                f"another tracker daemon (pid {holder}) is running on {describe(self.url)}; one daemon per database"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def _acquire_advisory(self) -> None:
        engine = create_db_engine(self.url)
        connection = engine.connect()
        try:
            granted = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}).scalar_one()
            connection.commit()  # the lock is the session's: no transaction stays open for it
        except Exception:
            connection.close()
            engine.dispose()
            raise
        if not granted:
            connection.close()
            engine.dispose()
            raise AlreadyRunningError(f"another tracker daemon is running on {describe(self.url)}; one daemon per database")
        self._engine, self._connection = engine, connection

    def release(self) -> None:
        """Let another daemon start."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            try:
                self._connection.close()  # ends the session, and its advisory lock with it
            finally:
                self._connection = None
                if self._engine is not None:
                    self._engine.dispose()
                    self._engine = None

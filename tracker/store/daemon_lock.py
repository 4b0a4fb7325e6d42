"""One polling daemon per SQLite database; any number of them on PostgreSQL.

On SQLite, every write takes the whole file and the daemon is one machine's affair: a
second `tracker run` on the same file is refused, in one line, by an exclusive `flock`
on `<database>.daemon.lock` beside it, held by the operating system for the life of the
process (a daemon killed with -9 leaves nothing behind to clean up).

On PostgreSQL, daemons share the work: each is a worker that claims due feeds by lease
(tracker.store.leases) and beats its own heartbeat (tracker.store.heartbeats), so there
is nothing to lock and `acquire` is a no-op.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from tracker.errors import AlreadyRunningError
from tracker.store.database import describe, sqlite_file


class DaemonLock:
    """Held while a daemon runs on a SQLite file; `acquire` raises AlreadyRunningError if another holds it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock (a no-op if held); database errors propagate for the caller to retry."""
        if self.held:
            return
        path = sqlite_file(self.url)
        if path is not None:
            self._acquire_file(Path(f"{path}.daemon.lock"))

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
                f"another tracker daemon (pid {holder}) is running on {describe(self.url)}; one daemon per SQLite database (several need PostgreSQL)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let another daemon start."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

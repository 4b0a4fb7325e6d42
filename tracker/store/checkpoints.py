"""SQLite's WAL written back into the database file by a thread of its own, not by the commit.

In WAL mode a commit appends its pages to the `-wal` file; a *checkpoint* copies them into
the database file and waits for the disk (`fsync`). SQLite runs one inside every commit
that leaves more than 1,000 pages in the WAL: on a large corpus, where a batch rewrites
many thousands of pages (each new item's LSH rows, before the index's recent tier,
`tracker.store.recent`; a merge of that tier, now), a batch of `ingest` waited most of a
second for the disk at each commit (a fifth of its time at 1M items, then). Here a writer's commits
leave the WAL to a background thread, on its own connection, which checkpoints after each
commit (at most once a second) while the writer goes on storing the next captures: the
disk and the CPU then work at once. The checkpoints are SQLite's PASSIVE kind: they never
wait for, nor block, a reader or a writer.

A WAL that the thread cannot keep up with is still bounded: past `WRITER_CHECKPOINT_PAGES`
the writer checkpoints in its commit as before (SQLite's `wal_autocheckpoint`), and
`journal_size_limit` gives the file's space back afterwards. The thread ends after
`IDLE_SECONDS` without a commit, when its engine's connections are all closed (so the
last connection to close still empties and removes the WAL, as without it), and at exit.
"""

from __future__ import annotations

import atexit
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# A writer checkpoints in its own commit only past this many pages in the WAL (400 MB of
# 4 KiB pages: a few of `ingest`'s batches at 1M items); below it, the thread does.
WRITER_CHECKPOINT_PAGES = 100_000
# Once emptied, a WAL file is cut back to this size (bytes) rather than keep its largest.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# The thread stops (closing its connection) after this long without a commit.
IDLE_SECONDS = 2.0
# At most one checkpoint in this long.
MIN_GAP_SECONDS = 1.0

_LIVE: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


class Checkpointer:
    """Checkpoints one SQLite database's WAL in a background thread after each commit of an engine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._open = 0  # the engine's open connections
        _LIVE.add(self)

    def attach(self, engine: Engine) -> None:
        """Follow this engine: its connections leave checkpoints to the thread, each
        connection returned to the pool wakes it (a commit is done by then), and the last
        one closed stops it."""
        event.listen(engine, "connect", self._opened)
        event.listen(engine, "checkin", self._checked_in)
        event.listen(engine, "close", self._closed)
        event.listen(engine, "close_detached", self._closed)

    def _opened(self, dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()
        with self._lock:
            self._open += 1

    def _closed(self, _dbapi_connection: Any, _record: object = None) -> None:
        with self._lock:
            self._open -= 1
            last = self._open <= 0
        if last:
            self.stop()

    def _checked_in(self, _dbapi_connection: Any, _record: object) -> None:
        with self._lock:
            self._wake.set()
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=f"checkpoint {self.path}", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and close its connection."""
        with self._lock:
            thread = self._thread
            self._stop.set()
            self._wake.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            # No busy timeout to set: a PASSIVE checkpoint never waits for a lock.
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            with self._lock:
                self._thread = None  # the file is gone or unreadable: the next commit tries again
            return
        try:
            while True:
                self._wake.wait(IDLE_SECONDS)
                with self._lock:
                    # (Asked under the lock: a commit that comes after this starts a new thread.)
                    if self._stop.is_set() or not self._wake.is_set():
                        self._thread = None
                        return
                    self._wake.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # busy or gone: the next commit wakes it again, and writers still checkpoint past their limit
                # Commits closer together than this share one checkpoint: a page written by each
                # (an index's root, a feed's row) is then copied into the file once, not each time.
                self._stop.wait(MIN_GAP_SECONDS)
        finally:
            connection.close()


@atexit.register
def _stop_all() -> None:
    # Before the engines' own connections are closed at exit: the last of them then removes the WAL.
    for checkpointer in list(_LIVE):
        checkpointer.stop()

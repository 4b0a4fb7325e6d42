"""A SQLite writer's commits reach the database file itself soon after, without its commit
waiting for that, and the WAL is gone once the engine is."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tracker.store import checkpoints
from tracker.store.database import create_db_engine


def _in_the_file_itself(path: Path) -> int:
    """Rows of `t` in the database file, not counting what is still only in its WAL."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as reader:
        try:
            return int(reader.execute("SELECT COUNT(*) FROM t").fetchone()[0])
        except sqlite3.DatabaseError:
            return -1  # the table itself is still only in the WAL, or a checkpoint is writing the file now


def _checkpointing(path: Path) -> bool:
    """Whether a checkpoint thread of this database is running."""
    return any(t.name == f"checkpoint {path}" for t in threading.enumerate())


def _eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def _written(path: Path, *statements: str) -> Engine:
    """A writer's engine of a new database, after one transaction of these statements."""
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    return engine


def test_a_small_commit_reaches_the_database_file_in_the_background(tmp_path: Path) -> None:
    # SQLite alone would leave these few pages in the WAL until 1,000 had gathered there.
    path = tmp_path / "db.sqlite3"
    engine = _written(path, "CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1), (2), (3)")
    assert _eventually(lambda: _in_the_file_itself(path) == 3)
    engine.dispose()


def test_the_thread_ends_when_idle_and_a_later_commit_starts_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoints, "IDLE_SECONDS", 1.0)
    path = tmp_path / "db.sqlite3"
    engine = _written(path, "CREATE TABLE t (x INTEGER)")
    assert _checkpointing(path)
    assert _eventually(lambda: not _checkpointing(path))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    assert _eventually(lambda: _in_the_file_itself(path) == 1)
    engine.dispose()


def test_disposing_of_the_engine_removes_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    _written(path, "CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1)").dispose()
    assert not _checkpointing(path)
    assert not Path(f"{path}-wal").exists()
    assert _in_the_file_itself(path) == 1


def test_a_writer_checkpoints_itself_only_past_its_limit(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == checkpoints.WRITER_CHECKPOINT_PAGES
    engine.dispose()

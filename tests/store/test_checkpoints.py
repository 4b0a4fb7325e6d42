"""A SQLite writer's commits reach the database file itself soon after, without its commit
waiting for that, and the WAL is gone once the engine is."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tracker.store import checkpoints
from tracker.store.database import create_db_engine


def _in_the_file_itself(path: Path) -> int:
    """Rows of `t` in the database file, not counting what is still only in its WAL."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as reader:
        try:
            return int(reader.execute("SELECT COUNT(*) FROM t").fetchone()[0])
        except sqlite3.DatabaseError:
            return -1  # the table itself is still only in the WAL, or a checkpoint is writing the file now


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("checkpoint ")]


def test_a_small_commit_reaches_the_database_file_in_the_background(tmp_path: Path) -> None:
    # SQLite alone would leave these few pages in the WAL until 1,000 had gathered there.
    path = tmp_path / "db.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
    deadline = time.monotonic() + 10
    while _in_the_file_itself(path) != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _in_the_file_itself(path) == 3
    engine.dispose()


def test_the_thread_ends_when_idle_and_a_later_commit_starts_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoints, "IDLE_SECONDS", 0.2)
    path = tmp_path / "db.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    assert any(path.name in t.name for t in _checkpoint_threads())
    deadline = time.monotonic() + 10
    while any(path.name in t.name for t in _checkpoint_threads()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(path.name in t.name for t in _checkpoint_threads())
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    deadline = time.monotonic() + 10
    while _in_the_file_itself(path) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _in_the_file_itself(path) == 1
    engine.dispose()


def test_disposing_of_the_engine_removes_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    engine.dispose()
    assert not any(path.name in t.name for t in _checkpoint_threads())
    assert not Path(f"{path}-wal").exists()
    assert _in_the_file_itself(path) == 1


def test_a_writer_checkpoints_itself_only_past_its_limit(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == checkpoints.WRITER_CHECKPOINT_PAGES
    engine.dispose()

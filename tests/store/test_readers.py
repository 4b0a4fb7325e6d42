"""Readers never wait for writers: every read-only command answers while a capture holds its write transaction."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from click.testing import CliRunner

from tests.conftest import make_pipeline
from tests.feedserver import FeedServer, wait_until
from tests.daemon.test_scheduler import STARTUP, Db, DaemonProcess, daemons, open_db, server, write_config  # noqa: F401 (fixtures)
from tests.ingest.test_concurrency import TRACKER, _captures, _config
from tests.pipeline.test_pipeline import FEEDS
from tracker.cli import main
from tracker.errors import EXIT_STORE
from tracker.model import IngestReport
from tracker.config import parse_config
from tracker.pipeline.capture import Pipeline
from tracker.store.database import MIGRATIONS, create_db_engine, head_revision, open_database, open_reader

# The commands of a user checking on a long ingest, with what each must show of the committed data.
READERS: dict[str, tuple[list[str], str]] = {
    "status": (["status", "--ignore-daemon"], "database:"),
    "stats": (["stats", "--format", "json"], '"publisher": "Khaama Press"'),
    "origin": (["origin", "https://ru24.pro/0.html"], "https://www.khaama.com/story-0/"),
    "stories": (["stories", "--format", "csv"], "https://www.khaama.com/story-1/"),
    "copies": (["copies", "Khaama Press"], "Mirror of Mirrors"),
    "publishers": (["publishers"], "ru24.pro"),
    "find": (["find", "story"], "Story 1 of the day"),
    "feeds": (["feeds"], "https://www.khaama.com/feed/"),
    "export": (["export", "--format", "jsonl"], "https://mirrorofmirrors.example/1.html"),
    "alerts": (["alerts"], ""),
}


class HeldWriter:
    """A capture stored by the pipeline, as an ingest stores it, that stops just before its
    commit — holding SQLite's write lock, or PostgreSQL's advisory and row locks — until
    released."""

    def __init__(self, url: str) -> None:
        self.pipeline = make_pipeline(url, FEEDS)
        self.holding, self.release = threading.Event(), threading.Event()
        self.report: IngestReport | None = None
        self.committed = threading.Event()
        written = self.pipeline._written

        def hold(session):  # type: ignore[no-untyped-def]
            written(session)
            self.holding.set()
            self.release.wait(120)

        self.pipeline._written = hold  # type: ignore[method-assign]

    def start(self, capture) -> threading.Thread:  # type: ignore[no-untyped-def]
        def run() -> None:
            self.report = self.pipeline.process(capture)
            self.committed.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert self.holding.wait(60), "the writer never reached its commit"
        return thread


def _khaama_items(rows: str) -> int:
    return next(json.loads(line)["items"] for line in rows.splitlines() if '"Khaama Press"' in line)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_read_only_commands_answer_while_a_capture_holds_the_write_lock(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    config = _config(tmp_path / "tracker.toml", url)
    captures = _captures(3)
    make_pipeline(url, FEEDS).ingest(captures[:8])  # two stories, committed
    writer = HeldWriter(url)
    thread = writer.start(captures[8])  # Khaama Press's third story, not committed
    runs: dict[str, subprocess.Popen[str]] = {}
    try:
        # All at once: each would wait (for the lock or a busy timeout) if any took the write lock.
        runs = {name: subprocess.Popen([TRACKER, "--config", str(config), *args], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True) for name, (args, _) in READERS.items()}
        answers = {name: (run.communicate(timeout=60), run.returncode) for name, run in runs.items()}
        assert not writer.committed.is_set(), "the writer committed before the readers were done"
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()  # one that waited for the writer: the test has failed
                run.wait()
        writer.release.set()
        thread.join(60)
    for name, ((out, err), code) in answers.items():
        assert code == 0, f"{name}: {err}"
        assert READERS[name][1] in out, f"{name}: {out}"
        assert "locked" not in err
    # A snapshot of what was committed: the held capture's item is not there yet…
    assert _khaama_items(answers["stats"][0][0]) == 2
    assert "story-2" not in answers["stories"][0][0]
    # …and is once the writer commits.
    assert writer.report is not None and writer.report.new_items == 1
    after = subprocess.run([TRACKER, "--config", str(config), "stats", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert _khaama_items(after.stdout) == 3


def test_a_reader_refuses_a_schema_older_than_this_tracker_and_touches_nothing(sqlite_url: str, tmp_path: Path) -> None:
    make_pipeline(sqlite_url, FEEDS)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:  # the database of the tracker before this one
        alembic = AlembicConfig()
        alembic.set_main_option("script_location", str(MIGRATIONS))
        alembic.attributes["connection"] = connection
        command.downgrade(alembic, "0007")
    config = _config(tmp_path / "tracker.toml", sqlite_url)
    runner = CliRunner()
    for args in (["stats"], ["status"], ["origin", "https://ru24.pro/0.html"], ["export"]):
        result = runner.invoke(main, ["--config", str(config), *args])
        assert result.exit_code == EXIT_STORE, (args, result.output)
        assert "older than this tracker's" in result.output and "tracker upgrade" in result.output
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0007"
    engine.dispose()
    # A writer upgrades (here `tracker upgrade`, which does only that); readers read again.
    upgraded = runner.invoke(main, ["--config", str(config), "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert head_revision() in upgraded.output
    assert runner.invoke(main, ["--config", str(config), "stats"]).exit_code == 0


def test_a_reader_still_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    config = _config(tmp_path / "tracker.toml", f"sqlite:///{tmp_path / 'nothing.sqlite3'}")
    result = CliRunner().invoke(main, ["--config", str(config), "stats"])
    assert result.exit_code == EXIT_STORE and "no database at" in result.output
    assert not (tmp_path / "nothing.sqlite3").exists()


def test_the_daemon_keeps_dispatching_while_another_process_holds_the_write_lock(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    feed = server.growing_feed("/alpha.xml", "Alpha", seed=1, initial=2)
    daemon = daemons(write_config(tmp_path / "tracker.toml", sqlite_url, [feed]))
    db = open_db(sqlite_url)
    wait_until(lambda: db.has_all(feed), STARTUP, "the first poll stored", details=daemon.tail)
    # Another process's long write transaction (a large capture of an ingest, a rebuild).
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")
    try:
        published = feed.publish()
        # The tick gives up waiting within a dispatch interval, says why, and goes on ticking.
        daemon.wait_logged("database busy: another writer holds the write lock", timeout=15)
        time.sleep(3)
        assert daemon.alive(), daemon.tail()
        assert not db.has_all(feed, published)
    finally:
        holder.rollback()
        holder.close()
    # The poll that waited to store is stored; nothing was taken for a database outage.
    wait_until(lambda: db.has_all(feed, published), 30, "the item published during the hold stored", details=daemon.tail)
    daemon.wait_logged("database free again", timeout=15)
    assert not daemon.logged("database unavailable") and not daemon.logged("database error"), daemon.tail()
    assert len(daemon.logged("ready to poll")) == 1, daemon.tail()


def test_a_capture_that_waited_out_the_busy_timeout_is_stored_once_the_writer_lets_go(sqlite_url: str) -> None:
    open_database(sqlite_url)
    config = parse_config({"database": {"url": sqlite_url}, "feeds": FEEDS})
    # A writer that waits 0.3 s for the lock, against another process's transaction of about a second.
    pipeline = Pipeline(sa.orm.sessionmaker(create_db_engine(sqlite_url, busy_seconds=0.3), expire_on_commit=False), config)
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.8, holder.rollback)
    timer.start()
    try:
        report = pipeline.process(_captures(1)[0])
    finally:
        timer.join()
        holder.close()
    assert (report.captures, report.new_items, report.store_error) == (1, 1, None)


def test_a_reader_cannot_write_so_it_never_takes_a_writers_lock(any_db_url: str) -> None:
    make_pipeline(any_db_url, FEEDS).register_feeds()
    with open_reader(any_db_url)() as session:
        assert session.execute(sa.text("SELECT COUNT(*) FROM feeds")).scalar_one() == len(FEEDS)
        with pytest.raises(sa.exc.DBAPIError, match="(?i)read-?only"):
            session.execute(sa.text("UPDATE feeds SET active = active"))


def test_a_reader_session_reads_one_snapshot_of_what_was_committed(any_db_url: str) -> None:
    pipeline = make_pipeline(any_db_url, FEEDS)
    captures = _captures(2)
    pipeline.ingest(captures[:4])
    count = sa.text("SELECT COUNT(*) FROM items")
    with open_reader(any_db_url)() as session:
        before = session.execute(count).scalar_one()
        pipeline.ingest(captures[4:])  # another writer commits meanwhile
        assert session.execute(count).scalar_one() == before == 4
    with open_reader(any_db_url)() as session:
        assert session.execute(count).scalar_one() == 8

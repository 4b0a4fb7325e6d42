"""The polling daemon as a real process (`tracker run`) against a real local HTTP feed server.

Every test starts `tracker --config FILE run --log-format json` as a subprocess, reads its
JSON log lines from stderr in a thread, drives it with signals and with what the feed
server answers, and checks the database the daemon wrote. The numbers are small (dispatch
every 0.2 s, feeds due every 1–2 s) so that each test takes a few seconds; every wait has
a timeout and every process left over is killed in teardown.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.pool import NullPool

from tests.feedserver import FeedServer, GrowingFeed, Publisher, TcpProxy, wait_until
from tracker.cli import main

TRACKER = str(Path(sys.executable).with_name("tracker"))
STARTUP = 20.0  # seconds a daemon may take to start and poll for the first time (loaded machine)
POLLING = {
    "allow_private_addresses": True,  # the feed server is on 127.0.0.1
    "dispatch_seconds": 0.2,
    "default_interval_seconds": 1,
    "min_interval_seconds": 1,
    "max_interval_seconds": 2,
    "error_backoff_seconds": 1,
    "fetch_threads": 4,
    "per_host": 4,
    "connect_timeout": 2.0,
    "read_timeout": 20.0,
    "total_timeout": 30.0,
}

Event = dict[str, Any]


# -- the daemon process -----------------------------------------------------------------
class DaemonProcess:
    """One `tracker run` subprocess; its stderr parsed line by line in a reader thread."""

    def __init__(self, config: Path, cwd: Path, env: dict[str, str], args: Sequence[str] = ()) -> None:
        self.config = config
        self.proc = subprocess.Popen(
            [TRACKER, "--config", str(config), "run", "--log-format", "json", *args],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line) if line.startswith("{") else None
            except ValueError:
                event = None
            with self._lock:
                self.lines.append(line)
                if isinstance(event, dict) and "event" in event:
                    self.events.append(event)

    def logged(self, event: str | None = None, exact: bool = False, **match: Any) -> list[Event]:
        """Log events whose "event" starts with (or, `exact`, is) `event` and whose fields equal `match`."""
        with self._lock:
            events = list(self.events)
        return [
            e for e in events
            if (event is None or (e["event"] == event if exact else str(e["event"]).startswith(event)))
            and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_logged(self, event: str, timeout: float, count: int = 1, exact: bool = False, **match: Any) -> list[Event]:
        return wait_until(  # type: ignore[return-value]
            lambda: (found := self.logged(event, exact, **match)) and len(found) >= count and found,
            timeout, f"{count} × log event {event!r} {match or ''}", details=self.tail,
        )

    def tail(self, n: int = 40) -> str:
        with self._lock:
            lines = self.lines[-n:]
        code = self.proc.poll()
        return f"--- daemon pid {self.pid} (exit {code}) stderr, last {len(lines)} lines:\n" + "\n".join(lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running {timeout:g} s later\n{self.tail()}") from None
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._reader.join(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRACKER_DATABASE_URL", "TRACKER_CONFIG")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[Path], DaemonProcess]]:
    """Start `tracker run` processes; every one still running at teardown is killed."""
    started: list[DaemonProcess] = []

    def start(config: Path, *args: str) -> DaemonProcess:
        process = DaemonProcess(config, tmp_path, _env(), args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer()
    yield feeds
    feeds.close()


def write_config(
    path: Path, db_url: str, feeds: Sequence[GrowingFeed | tuple[str, str]], polling: dict[str, Any] | None = None,
) -> Path:
    """Write a tracker config (atomically: a reload never sees half a file)."""
    lines = ["[database]", f"url = {json.dumps(db_url)}", "", "[polling]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in {**POLLING, **(polling or {})}.items()]
    lines += [""]
    for feed in feeds:
        url, publisher = (feed.url, feed.title) if isinstance(feed, GrowingFeed) else feed
        lines += ["[[feeds]]", f"url = {json.dumps(url)}", f"publisher = {json.dumps(publisher)}", ""]
    scratch = path.with_suffix(".tmp")
    scratch.write_text("\n".join(lines))
    os.replace(scratch, path)
    return path


# -- reading what the daemon stored ---------------------------------------------------------
class Db:
    """Read-only look at the daemon's database, one short connection per query."""

    def __init__(self, url: str) -> None:
        args = {"timeout": 30} if url.startswith("sqlite") else {"connect_timeout": 5}
        self.engine = sa.create_engine(url, poolclass=NullPool, connect_args=args)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as error:
            if any(s in str(error) for s in ("no such table", "no such column", "does not exist")):
                return []  # the daemon has not finished creating its schema yet
            raise

    def identities(self, publisher: str) -> list[str]:
        """Every stored item identity of a publisher (duplicates kept, so they can be counted)."""
        return [r[0] for r in self.rows(
            "SELECT i.identity FROM items i JOIN publishers p ON p.id = i.publisher_id WHERE p.name = :name",
            name=publisher,
        )]

    def stored_guids(self, feed: GrowingFeed) -> set[str]:
        return {i.removeprefix("guid:") for i in self.identities(feed.title)}

    def has_all(self, feed: GrowingFeed, guids: list[str] | None = None) -> bool:
        return set(feed.guids if guids is None else guids) <= self.stored_guids(feed)

    def captures(self, url: str) -> list[Any]:
        return self.rows(
            "SELECT c.status, c.error_kind, c.entries, c.new_items FROM captures c JOIN feeds f ON f.id = c.feed_id "
            "WHERE f.url = :url ORDER BY c.captured_at", url=url,
        )

    def feed(self, url: str) -> Any:
        rows = self.rows("SELECT active, error_count, last_error_kind, last_status FROM feeds WHERE url = :url", url=url)
        return rows[0] if rows else None

    def versions_per_item(self, publisher: str) -> dict[str, int]:
        return {r[0]: r[1] for r in self.rows(
            "SELECT i.identity, COUNT(v.id) FROM items i JOIN publishers p ON p.id = i.publisher_id "
            "LEFT JOIN item_versions v ON v.item_id = i.id WHERE p.name = :name GROUP BY i.id, i.identity",
            name=publisher,
        )}

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def open_db() -> Iterator[Callable[[str], Db]]:
    opened: list[Db] = []

    def open_(url: str) -> Db:
        opened.append(Db(url))
        return opened[-1]

    yield open_
    for db in opened:
        db.close()


def assert_exactly_once(db: Db, feed: GrowingFeed) -> None:
    """Every item the feed published is stored once under its publisher, with one version."""
    identities = db.identities(feed.title)
    expected = {f"guid:{g}" for g in feed.guids}
    duplicates = sorted({i for i in identities if identities.count(i) > 1})
    assert not duplicates, f"{feed.title}: items stored more than once: {duplicates}"
    missing = sorted(expected - set(identities), key=lambda g: int(g.rsplit(":", 1)[1]))
    assert not missing, f"{feed.title}: {len(missing)} of {len(expected)} published items lost: {missing}"
    assert set(identities) == expected, f"{feed.title}: unexpected items {sorted(set(identities) - expected)}"
    versions = db.versions_per_item(feed.title)
    assert set(versions.values()) == {1}, f"{feed.title}: items without exactly one version: " + str(
        {k: v for k, v in versions.items() if v != 1}
    )


# -- 1. SIGTERM while a poll is in flight ------------------------------------------------------
def test_sigterm_lets_the_poll_in_flight_finish_and_commit_then_exits_0(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    feed = server.growing_feed("/alpha.xml", "Alpha", seed=1, initial=2)
    hold = server.hold_next("/alpha.xml", timeout=5)
    daemon = daemons(write_config(tmp_path / "tracker.toml", sqlite_url, [feed]))

    assert hold.arrived.wait(STARTUP), f"the daemon never polled the feed\n{daemon.tail()}"
    late = feed.publish()  # published while the poll waits: only that poll's answer carries it
    daemon.send(signal.SIGTERM)
    stopping = daemon.wait_logged("stopping", timeout=5)
    assert stopping[0].get("in_flight") == 1 and stopping[0].get("signal") == "SIGTERM"
    time.sleep(0.3)
    assert daemon.alive(), f"the daemon exited before the poll in flight finished\n{daemon.tail()}"
    hold.release.set()

    assert daemon.wait_exit(10) == 0, daemon.tail()
    assert not hold.released_by_timeout
    daemon.wait_logged("daemon stopped", timeout=1)
    db = open_db(sqlite_url)
    captures = db.captures(feed.url)
    assert [(c.status, c.error_kind, c.entries, c.new_items) for c in captures] == [(200, None, 3, 3)], daemon.tail()
    assert db.stored_guids(feed) == set(feed.guids) and set(late) <= db.stored_guids(feed)
    worker = daemon.logged("daemon starting")[0]["worker"]
    assert [tuple(r) for r in db.rows("SELECT name, state FROM heartbeats")] == [(worker, "stopped")]
    assert db.rows("SELECT lease_owner FROM feeds WHERE lease_owner IS NOT NULL") == []  # the lease was released


def test_ctrl_c_stops_the_daemon_cleanly_and_exits_130(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], sqlite_url: str,
) -> None:
    feed = server.growing_feed("/alpha.xml", "Alpha", seed=1, initial=2)
    daemon = daemons(write_config(tmp_path / "tracker.toml", sqlite_url, [feed]))
    daemon.wait_logged("poll", timeout=STARTUP, exact=True)
    daemon.send(signal.SIGINT)
    assert daemon.wait_exit(10) == 130, daemon.tail()  # as every command on Ctrl-C; SIGTERM (a service stop) exits 0
    daemon.wait_logged("daemon stopped", timeout=1)


# -- 2. A second signal exits at once ------------------------------------------------------------
def test_second_sigterm_exits_at_once_with_130(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], sqlite_url: str,
) -> None:
    feed = server.growing_feed("/slow.xml", "Slow", seed=2, initial=1)
    hold = server.hold_next("/slow.xml", timeout=10)
    try:
        daemon = daemons(write_config(tmp_path / "tracker.toml", sqlite_url, [feed]))
        assert hold.arrived.wait(STARTUP), f"the daemon never polled the feed\n{daemon.tail()}"
        daemon.send(signal.SIGTERM)
        daemon.wait_logged("stopping", timeout=5)
        time.sleep(0.3)
        assert daemon.alive(), "the first SIGTERM must wait for the poll in flight"
        started = time.monotonic()
        daemon.send(signal.SIGTERM)
        code = daemon.wait_exit(5)
        elapsed = time.monotonic() - started
        assert code == 130, daemon.tail()
        assert elapsed < 2.0, f"took {elapsed:.1f} s to exit after the second signal"
        assert not hold.release.is_set() and not hold.released_by_timeout  # the poll was still held
        assert daemon.logged("second signal")
    finally:
        hold.release.set()


# -- 3. SIGHUP with a good config ------------------------------------------------------------------
def test_sighup_starts_added_feeds_and_stops_removed_ones(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    a = server.growing_feed("/a.xml", "Feed A", seed=3, initial=2)
    b = server.growing_feed("/b.xml", "Feed B", seed=4, initial=3)
    config = write_config(tmp_path / "tracker.toml", sqlite_url, [a])
    daemon = daemons(config)
    db = open_db(sqlite_url)
    wait_until(lambda: db.has_all(a), STARTUP, "feed A's items stored", details=daemon.tail)
    time.sleep(0.5)
    assert server.count("/b.xml") == 0

    # Add B.
    write_config(config, sqlite_url, [a, b])
    daemon.send(signal.SIGHUP)
    daemon.wait_logged("config reloaded", timeout=5, feeds=2)
    wait_until(lambda: server.count("/b.xml") > 0, 5, "the server to see requests for feed B", details=daemon.tail)
    wait_until(lambda: db.has_all(b), 5, "feed B's items stored", details=daemon.tail)
    assert db.feed(b.url).active

    # Remove A.
    write_config(config, sqlite_url, [b])
    daemon.send(signal.SIGHUP)
    daemon.wait_logged("config reloaded", timeout=5, feeds=1)
    wait_until(lambda: (row := db.feed(a.url)) is not None and not row.active, 5, "feed A marked inactive", details=daemon.tail)
    # A dispatch that picked A just before the reload may still fetch it once: let it finish.
    time.sleep(0.8)
    wait_until(lambda: server.count("/a.xml") == len(daemon.logged("poll", exact=True, feed=a.url)), 5, "feed A's last poll to finish",
               details=daemon.tail)
    a_requests, b_requests = server.count("/a.xml"), server.count("/b.xml")
    time.sleep(2.6)  # longer than max_interval_seconds (2 s): A would be due again
    assert server.count("/a.xml") == a_requests, "feed A is still polled after it was removed"
    assert server.count("/b.xml") > b_requests, "feed B must still be polled (the daemon is alive)"
    assert db.feed(b.url).active and not db.feed(a.url).active

    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0, daemon.tail()


def test_a_feed_moved_by_a_301_stays_followed_after_sighup_and_restart(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    moved = server.growing_feed("/new.xml", "Moved", seed=6, initial=2)
    server.routes["/old.xml"] = lambda _h: (301, {"Location": "/new.xml"}, b"")
    config = write_config(tmp_path / "tracker.toml", sqlite_url, [(server.url("/old.xml"), "Moved")])
    daemon = daemons(config)
    db = open_db(sqlite_url)
    wait_until(lambda: db.feed(moved.url) is not None, STARTUP, "the feed moved to its new URL", details=daemon.tail)
    daemon.send(signal.SIGHUP)
    daemon.wait_logged("config reloaded", timeout=5)
    time.sleep(0.5)
    assert db.feed(moved.url).active, "SIGHUP dropped the moved feed"
    moved.publish(1)
    wait_until(lambda: db.has_all(moved), 5, "the moved feed's new item after SIGHUP", details=daemon.tail)
    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0, daemon.tail()

    again = daemons(config)
    moved.publish(1)
    wait_until(lambda: db.has_all(moved), STARTUP, "the moved feed's new item after a restart", details=again.tail)
    assert db.feed(moved.url).active
    assert server.count("/old.xml") == 1, "the old URL is asked once, then never again"
    again.send(signal.SIGTERM)
    assert again.wait_exit(10) == 0, again.tail()


# -- 4. SIGHUP with a bad config -----------------------------------------------------------------------
def test_sighup_with_an_invalid_config_keeps_the_old_one(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    feed = server.growing_feed("/keep.xml", "Keeper", seed=5, initial=1)
    config = write_config(tmp_path / "tracker.toml", sqlite_url, [feed])
    daemon = daemons(config)
    db = open_db(sqlite_url)
    wait_until(lambda: db.has_all(feed), STARTUP, "the first item stored", details=daemon.tail)

    config.write_text(config.read_text().replace('fetch_threads = 4', 'fetch_threads = "many"'))
    assert 'fetch_threads = "many"' in config.read_text()
    daemon.send(signal.SIGHUP)
    refused = daemon.wait_logged("config refused", timeout=5)
    assert refused[0]["level"] == "error" and "fetch_threads" in refused[0].get("error", ""), refused
    assert not daemon.logged("config reloaded")

    time.sleep(0.3)
    assert daemon.alive(), daemon.tail()
    fresh = feed.publish(2)
    wait_until(lambda: db.has_all(feed, fresh), 8, "items published after the refused reload stored", details=daemon.tail)
    assert daemon.alive()

    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0, daemon.tail()
    assert_exactly_once(db, feed)


# -- 5. kill -9 and restart ---------------------------------------------------------------------------
def test_a_second_daemon_on_the_same_sqlite_database_is_refused_in_one_line(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], sqlite_url: str,
) -> None:
    # On PostgreSQL a second daemon is a second worker: tests/daemon/test_scaleout.py.
    url = sqlite_url
    feed = server.growing_feed("/one.xml", "One", seed=8, initial=1)
    config = write_config(tmp_path / "tracker.toml", url, [feed])
    first = daemons(config)
    first.wait_logged("ready to poll", timeout=STARTUP)
    second = subprocess.run(
        [TRACKER, "--config", str(config), "run"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert second.returncode == 1, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith("tracker: error: another tracker daemon") and "one daemon per SQLite database" in lines[0]
    assert first.alive()
    # A daemon killed with -9 leaves no lock behind.
    first.kill()
    third = daemons(config)
    third.wait_logged("ready to poll", timeout=STARTUP)
    third.send(signal.SIGTERM)
    assert third.wait_exit(10) == 0, third.tail()


def test_kill_9_and_restart_loses_and_duplicates_nothing(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    feeds = [server.growing_feed("/one.xml", "One", seed=6, initial=1), server.growing_feed("/two.xml", "Two", seed=7, initial=1)]
    config = write_config(tmp_path / "tracker.toml", sqlite_url, feeds)
    db = open_db(sqlite_url)
    publisher = Publisher(feeds, every=0.3).start()
    try:
        first = daemons(config)
        wait_until(lambda: all(len(db.identities(f.title)) >= 2 for f in feeds), STARTUP, "some items stored", details=first.tail)
        # Kill it while a poll is in flight (its request held by the server, nothing stored yet).
        hold = server.hold_next("/one.xml", timeout=5)
        assert hold.arrived.wait(5), first.tail()
        first.proc.kill()
        assert first.wait_exit(5) == -signal.SIGKILL
        hold.release.set()
        assert not first.logged("daemon stopped")

        second = daemons(config)
        second.wait_logged("poll", timeout=STARTUP, count=3, exact=True)
    finally:
        publisher.stop()
    wait_until(lambda: all(db.has_all(f) for f in feeds), 10, "every published item stored", details=second.tail)
    second.send(signal.SIGTERM)
    assert second.wait_exit(10) == 0, second.tail()
    for feed in feeds:
        assert len(feed.guids) >= 6  # the test published while the daemon was down and up
        assert_exactly_once(db, feed)


# -- 6. PostgreSQL outage during polling ------------------------------------------------------------------
@pytest.mark.postgres
def test_database_outage_is_survived_and_nothing_is_lost(
    tmp_path: Path, pg_url: str, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db],
) -> None:
    real = sa.engine.make_url(pg_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    try:
        proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        feed = server.growing_feed("/busy.xml", "Busy", seed=8, initial=2)
        daemon = daemons(write_config(tmp_path / "tracker.toml", proxied, [feed]))
        db = open_db(pg_url)  # the test reads the database directly, not through the proxy
        publisher = Publisher([feed], every=0.3).start()
        try:
            wait_until(lambda: len(db.identities(feed.title)) >= 2, STARTUP, "the first poll stored", details=daemon.tail)
            assert proxy.accepted > 0

            # Cut the database while a poll is in flight: its store step must fail, not be lost.
            hold = server.hold_next("/busy.xml", timeout=5)
            assert hold.arrived.wait(5), daemon.tail()
            proxy.cut()
            cut_at = time.monotonic()
            time.sleep(0.3)
            hold.release.set()
            daemon.wait_logged("database unavailable during poll", timeout=5, feed=feed.url)
            time.sleep(max(0.0, 3.0 - (time.monotonic() - cut_at)))
            assert daemon.alive(), daemon.tail()
            assert proxy.refused > 0, "the daemon never tried to reconnect during the outage"
            errors = daemon.logged("database unavailable")
            assert all(e["level"] == "error" for e in errors), errors
            proxy.restore()

            after = feed.publish()
            wait_until(lambda: db.has_all(feed, after), 15, "an item published after the outage stored", details=daemon.tail)
            daemon.wait_logged("ready to poll", timeout=1, count=2)  # rebuilt from SQL after the outage
        finally:
            publisher.stop()
        wait_until(lambda: db.has_all(feed), 10, "every published item stored", details=daemon.tail)
        assert daemon.alive()
        daemon.send(signal.SIGTERM)
        assert daemon.wait_exit(10) == 0, daemon.tail()
        assert_exactly_once(db, feed)
    finally:
        proxy.close()


# -- 7. tracker status -------------------------------------------------------------------------------------
def _status(config: Path, exit_code: int = 0) -> str:
    """`tracker --config FILE status`, in process (leaving the "tracker" logger as it found it)."""
    logger = logging.getLogger("tracker")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        result = CliRunner().invoke(main, ["--config", str(config), "status"], env={"TRACKER_DATABASE_URL": None})
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    assert result.exit_code == exit_code, (result.output, result.exception)
    return result.stdout


def test_status_reports_the_live_daemon_and_failing_feeds_then_stopped(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    good = server.growing_feed("/good.xml", "Good", seed=9, initial=1)
    server.status("/broken.xml", 500)
    broken = server.url("/broken.xml")
    config = write_config(tmp_path / "tracker.toml", sqlite_url, [good, (broken, "Broken")])
    daemon = daemons(config)
    db = open_db(sqlite_url)
    wait_until(lambda: (row := db.feed(broken)) is not None and row.error_count > 0, STARTUP, "the broken feed failing",
               details=daemon.tail)
    wait_until(lambda: db.has_all(good), 5, "the good feed's item stored", details=daemon.tail)
    failed = daemon.wait_logged("poll failed", timeout=1, feed=broken)
    assert failed[0]["error"] == "http_status" and failed[0]["status"] == 500

    report = _status(config)
    assert "daemon: alive" in report, report
    assert f"✗ {broken}: http_status" in report, report
    assert good.url not in report, report
    assert "1 failing" in report, report

    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0, daemon.tail()
    report = _status(config, exit_code=1)  # a stopped daemon fails the health check
    assert "daemon: stopped" in report, report


# -- 8. --log-format json: every line is a JSON event ---------------------------------------------------------
def test_json_log_format_makes_every_stderr_line_a_json_event(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,
) -> None:
    feed = server.growing_feed("/json.xml", "Json", seed=10, initial=1)
    # A dispatch interval shorter than the first tick (which migrates a fresh database) makes
    # APScheduler skip runs and say so: deterministic third-party log output.
    daemon = daemons(write_config(tmp_path / "tracker.toml", sqlite_url, [feed], polling={"dispatch_seconds": 0.05}))
    db = open_db(sqlite_url)
    wait_until(lambda: db.has_all(feed), STARTUP, "the item stored", details=daemon.tail)
    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0, daemon.tail()
    assert daemon.lines, "the daemon logged nothing"
    not_json = [line for line in daemon.lines if not _is_json_event(line)]
    assert not not_json, f"{len(not_json)} of {len(daemon.lines)} stderr lines are not JSON events: {not_json[:3]}"


def _is_json_event(line: str) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and isinstance(value.get("event"), str)

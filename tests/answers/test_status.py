"""`tracker status` as a health check: what it prints, and the exit status monitoring reads."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tracker.cli import main
from tracker.model import utcnow
from tracker.store.database import open_database

FEEDS = [f"https://feed{i}.example/rss" for i in range(4)]


def _config(tmp_path: Path, db_url: str, extra: str = "") -> Path:
    lines = ["[database]", f'url = "{db_url}"', extra, ""]
    for url in FEEDS:
        lines += ["[[feeds]]", f'url = "{url}"', f'publisher = "{url}"', ""]
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def _world(db_url: str, failing: int, beat: str | None, age_seconds: float = 1.0) -> None:
    """Four active feeds, `failing` of them failing; a heartbeat in state `beat` (None: never started)."""
    sessions = open_database(db_url)
    engine = sessions.kw["bind"]
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO publishers (name) VALUES ('p')"))
        for i, url in enumerate(FEEDS):
            conn.execute(
                sa.text("INSERT INTO feeds (url, publisher_id, added_at, active, error_count, last_error_kind, last_error_message) "
                        "VALUES (:u, 1, :t, :a, :e, :k, :m)"),
                {"u": url, "t": now, "a": True, "e": 3 if i < failing else 0,
                 "k": "http_status" if i < failing else None, "m": "HTTP 500\x1b[2J" if i < failing else None},
            )
        if beat is not None:
            conn.execute(
                sa.text("INSERT INTO heartbeats (name, pid, hostname, started_at, beat_at, interval_seconds, state) "
                        "VALUES ('daemon', 42, 'host', :s, :b, 5, :state)"),
                {"s": now - timedelta(hours=1), "b": now - timedelta(seconds=age_seconds), "state": beat},
            )
    engine.dispose()


def _status(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "status", *args])
    return result.exit_code, result.stdout, result.stderr


def test_healthy_daemon_exits_0_and_names_the_database(tmp_path: Path, any_db_url: str) -> None:
    _world(any_db_url, failing=1, beat="running")
    code, out, err = _status(_config(tmp_path, any_db_url))
    assert code == 0, (out, err)
    assert out.startswith("database: ")
    assert "daemon: alive" in out and "feeds: 4 polled (3 active, 1 failing, 0 moved), 4 due now, 0 gone" in out
    assert "HTTP 500\\x1b[2J" in out and "\x1b" not in out


@pytest.mark.parametrize(("beat", "age", "says"), [(None, 0, "not running"), ("stopped", 1, "not running"), ("running", 600, "not responding")])
def test_a_daemon_not_alive_exits_1(tmp_path: Path, sqlite_url: str, beat: str | None, age: float, says: str) -> None:
    _world(sqlite_url, failing=0, beat=beat, age_seconds=age)
    code, _, err = _status(_config(tmp_path, sqlite_url))
    assert code == 1 and f"tracker: unhealthy: the daemon is {says}" in err
    code, _, _ = _status(_config(tmp_path, sqlite_url), "--ignore-daemon")
    assert code == 0


def test_more_than_the_allowed_share_of_failing_feeds_exits_1(tmp_path: Path, sqlite_url: str) -> None:
    _world(sqlite_url, failing=3, beat="running")
    config = _config(tmp_path, sqlite_url)
    code, _, err = _status(config)  # default share 0.5: 3 of 4 is too many
    assert code == 1 and "3 of 4 polled feeds failing (more than 50%)" in err
    assert _status(config, "--max-failing", "0.75")[0] == 0
    assert _status(_config(tmp_path, sqlite_url, "[status]\nmax_failing_share = 0.8"))[0] == 0
    assert _status(_config(tmp_path, sqlite_url, "[status]\nmax_failing_share = 0.5"), "--max-failing", "0.9")[0] == 0
    code, _, err = _status(config, "--max-failing", "2")
    assert code == 2 and "--max-failing" in err


def test_status_on_a_missing_database_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"
    code, out, err = _status(_config(tmp_path, f"sqlite:///{folder / 'tracker.sqlite3'}"))
    assert code == 3 and out == ""
    assert err.strip() == f"tracker: error: no database at {folder / 'tracker.sqlite3'} (nothing ingested there yet? check --config and [database] url)"
    assert not folder.exists()


def _beats(db_url: str, *workers: tuple[str, str, float, str]) -> None:
    """Heartbeat rows: (name, state, seconds since the last beat, hostname)."""
    engine = open_database(db_url).kw["bind"]
    now = utcnow()
    with engine.begin() as conn:
        for i, (name, state, age, host) in enumerate(workers):
            conn.execute(
                sa.text("INSERT INTO heartbeats (name, pid, hostname, started_at, beat_at, interval_seconds, state) "
                        "VALUES (:n, :p, :h, :s, :b, 5, :state)"),
                {"n": name, "p": 1000 + i, "h": host, "s": now - timedelta(hours=2, minutes=i),
                 "b": now - timedelta(seconds=age), "state": state},
            )
    engine.dispose()


def test_every_worker_is_listed_and_one_alive_worker_keeps_the_daemon_alive(tmp_path: Path, any_db_url: str) -> None:
    _world(any_db_url, failing=0, beat=None)
    _beats(any_db_url, ("web-1:1000:aa", "running", 1, "web-1"), ("web-2:1001:bb", "running", 600, "web-2"),
           ("web-1:1002:cc", "stopped", 30, "web-1"), ("web-3:1003:dd", "running", 7200, "web-3"))
    code, out, err = _status(_config(tmp_path, any_db_url))
    assert code == 0, (out, err)
    assert "daemon: alive (4 workers: 1 alive, 1 stale, 2 stopped)" in out, out
    lines = out.splitlines()
    for name, state in (("web-1:1000:aa", "alive"), ("web-2:1001:bb", "stale"), ("web-1:1002:cc", "stopped"),
                        ("web-3:1003:dd", "stopped")):
        assert any(line.startswith(f"  {state:<7} {name}: pid ") for line in lines), (name, state, out)
    assert "web-3:1003:dd: pid 1003 on web-3 (silent for long)" in out
    # Ages as every duration is said, start times as every time for people is shown.
    assert re.search(r"web-2:1001:bb: pid 1001 on web-2, last heartbeat 10m ago, started \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", out, re.M), out
    assert "last heartbeat 2h ago" in out and " s ago" not in out and "UTC" not in out


@pytest.mark.parametrize(("workers", "says"), [
    ((("a:1:x", "running", 600, "a"), ("b:2:y", "stopped", 5, "b")), "not responding"),
    ((("a:1:x", "stopped", 5, "a"), ("b:2:y", "running", 7200, "b")), "not running"),
])
def test_no_worker_alive_is_unhealthy(tmp_path: Path, sqlite_url: str, workers: tuple[tuple[str, str, float, str], ...],
                                      says: str) -> None:
    _world(sqlite_url, failing=0, beat=None)
    _beats(sqlite_url, *workers)
    code, out, err = _status(_config(tmp_path, sqlite_url))
    assert code == 1 and f"tracker: unhealthy: the daemon is {says}" in err, (out, err)


def test_a_worker_of_this_machine_whose_process_is_gone_is_stopped(tmp_path: Path, sqlite_url: str) -> None:
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    _world(sqlite_url, failing=0, beat=None)
    engine = open_database(sqlite_url).kw["bind"]
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO heartbeats (name, pid, hostname, started_at, beat_at, interval_seconds, state) "
                             "VALUES ('here', :p, :h, :s, :s, 5, 'running')"), {"p": dead.pid, "h": socket.gethostname(), "s": now})
    engine.dispose()
    code, out, err = _status(_config(tmp_path, sqlite_url))
    assert code == 1 and "stopped here: pid" in out and "(pid gone)" in out and "the daemon is not running" in err, (out, err)


def test_feeds_status_and_metrics_put_each_feed_in_the_same_state(tmp_path: Path, any_db_url: str) -> None:
    import json

    from tracker.store.gauges import read_gauges

    _world(any_db_url, failing=2, beat="running")
    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:
        # The poll that met 410 Gone counted an error too: the feed is gone, not failing.
        conn.execute(sa.text("UPDATE feeds SET retired_at = :t, next_check_at = NULL WHERE url = :u"), {"t": utcnow(), "u": FEEDS[0]})
    engine.dispose()
    config = _config(tmp_path, any_db_url)
    code, out, err = _status(config)
    assert code == 0, err
    assert "feeds: 3 polled (2 active, 1 failing, 0 moved), 3 due now, 1 gone (410 Gone)" in out
    assert FEEDS[0] not in out  # not listed among the failing
    listed = CliRunner().invoke(main, ["--config", str(config), "feeds", "--format", "json"])
    states = {row["url"]: row["state"] for row in map(json.loads, listed.stdout.splitlines())}
    assert sorted(states.values()) == ["active", "active", "failing", "gone"] and states[FEEDS[0]] == "gone"
    with open_database(any_db_url)() as session:
        gauges = read_gauges(session)
    assert gauges.feeds == {"gone": 1, "failing": 1, "moved": 0, "active": 2, "inactive": 0, "archived": 0}


def test_a_failing_pages_link_is_shown_with_its_password_and_token_masked() -> None:
    from tracker.answers.status import _page_lines

    states = {"wanted": 1, "used": 0, "not_used": 0, "failed": 1, "gone": 0}
    link = "https://reader:hunter2@paywall.example/story?access_token=SECRET1"
    lines = _page_lines(states, {"http_status": 1}, [(link, "http_status", 2, f"HTTP 403 from {link}")])
    assert "hunter2" not in "\n".join(lines) and "SECRET1" not in "\n".join(lines)
    assert "paywall.example/story" in lines[1]

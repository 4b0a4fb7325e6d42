"""Several `tracker run` workers on one PostgreSQL database, `run --workers N`, `ingest --workers N`.

Real processes against the local feed server of tests/daemon/test_scheduler.py: the server
answers slowly enough (`delay`) that two workers fetching one feed at once would overlap,
and counts such overlaps per feed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.builders import write_warc
from tests.feedserver import FeedServer, Publisher, wait_until
from tests.ingest.test_concurrency import _captures, _config, _provenance
from tests.daemon.test_scheduler import (  # noqa: F401  (fixtures)
    STARTUP,
    TRACKER,
    DaemonProcess,
    Db,
    _env,
    _status,
    assert_exactly_once,
    daemons,
    open_db,
    server,
    write_config,
)
from tracker.answers.status import heartbeats

# A lease of 3 s (total_timeout 2 + margin 1): a dead worker's feeds pass on quickly.
SHORT_LEASE = {"connect_timeout": 1.0, "read_timeout": 2.0, "total_timeout": 2.0, "lease_margin_seconds": 1.0}


def _worker(daemon: DaemonProcess) -> str:
    return str(daemon.wait_logged("daemon starting", timeout=STARTUP)[0]["worker"])


def _polled(daemon: DaemonProcess, url: str) -> int:
    return len(daemon.logged("poll", exact=True, feed=url))


@pytest.mark.postgres
def test_two_daemons_share_the_feeds_each_polled_by_one_at_a_time_and_every_item_stored_once(
    tmp_path: Path, pg_url: str, server: FeedServer, daemons: Callable[..., DaemonProcess], open_db: Callable[[str], Db],
) -> None:
    server.delay = 0.15
    feeds = [server.growing_feed(f"/f{i}.xml", f"Feed {i}", seed=20 + i, initial=2) for i in range(6)]
    config = write_config(tmp_path / "tracker.toml", pg_url, feeds, polling={"fetch_threads": 2})
    db = open_db(pg_url)
    publisher = Publisher(feeds, every=0.4).start()
    try:
        first, second = daemons(config), daemons(config)
        ids = {_worker(first), _worker(second)}
        assert len(ids) == 2
        wait_until(lambda: all(sum(_polled(d, f.url) for f in feeds) >= 6 for d in (first, second)), STARTUP,
                   "both workers polling", details=lambda: first.tail() + "\n" + second.tail())
        report = _status(config)
        assert "daemon: alive (2 workers: 2 alive)" in report, report
        assert all(f"alive   {worker}: pid" in report for worker in ids), report
        time.sleep(2.0)
    finally:
        publisher.stop()
    wait_until(lambda: all(db.has_all(f) for f in feeds), 15, "every published item stored", details=first.tail)
    for daemon in (first, second):
        daemon.send(signal.SIGTERM)
    assert first.wait_exit(15) == 0, first.tail()
    assert second.wait_exit(15) == 0, second.tail()
    assert not +server.overlaps, f"feeds fetched by two workers at once: {dict(server.overlaps)}"
    for feed in feeds:
        assert_exactly_once(db, feed)
    assert {tuple(r) for r in db.rows("SELECT name, state FROM heartbeats")} == {(w, "stopped") for w in ids}
    assert db.rows("SELECT url FROM feeds WHERE lease_owner IS NOT NULL") == []


@pytest.mark.postgres
def test_a_worker_killed_with_sigkill_hands_its_feed_to_the_other_once_its_lease_expires(
    tmp_path: Path, pg_url: str, server: FeedServer, daemons: Callable[..., DaemonProcess], open_db: Callable[[str], Db],
) -> None:
    feed = server.growing_feed("/held.xml", "Held", seed=30, initial=1)
    config = write_config(tmp_path / "tracker.toml", pg_url, [feed], polling=SHORT_LEASE)
    db = open_db(pg_url)
    workers = {}
    for _ in range(2):
        daemon = daemons(config)
        workers[_worker(daemon)] = daemon
    for daemon in workers.values():
        daemon.wait_logged("ready to poll", timeout=STARTUP)
    # The next poll of the feed hangs in the server: whichever worker makes it holds the lease, and dies.
    hold = server.hold_next("/held.xml", timeout=30)
    try:
        assert hold.arrived.wait(10), "\n".join(d.tail() for d in workers.values())
        [(owner, until)] = [tuple(r) for r in db.rows("SELECT lease_owner, lease_until FROM feeds")]
        doomed = workers.pop(owner)
        [survivor] = workers.values()
        asked = server.count("/held.xml")
        doomed.proc.kill()
        assert doomed.wait_exit(5) == -signal.SIGKILL
        published = feed.publish()
        wait_until(lambda: server.count("/held.xml") > asked, 15, "the survivor polling the dead worker's feed",
                   details=survivor.tail)
        arrived = [t for path, t in server.arrivals if path == "/held.xml"][asked]
        asked_at = datetime.fromtimestamp(arrived, UTC).replace(tzinfo=None)
        assert asked_at >= until, f"the feed was polled at {asked_at}, before the dead worker's lease ended at {until}"
        wait_until(lambda: db.has_all(feed, published), 10, "the item stored by the survivor", details=survivor.tail)
    finally:
        hold.release.set()
    report = _status(config)
    assert "daemon: alive (2 workers: 1 alive, 1 stopped)" in report and f"{owner}: pid {doomed.pid} on" in report, report
    assert "(pid gone)" in report, report
    survivor.send(signal.SIGTERM)
    assert survivor.wait_exit(10) == 0, survivor.tail()
    assert_exactly_once(db, feed)


@pytest.mark.postgres
def test_run_workers_2_supervises_two_workers_restarts_a_dead_one_and_stops_cleanly_on_sigterm(
    tmp_path: Path, pg_url: str, server: FeedServer, daemons: Callable[..., DaemonProcess], open_db: Callable[[str], Db],
) -> None:
    feeds = [server.growing_feed(f"/w{i}.xml", f"W {i}", seed=40 + i, initial=1) for i in range(3)]
    config = write_config(tmp_path / "tracker.toml", pg_url, feeds)
    db = open_db(pg_url)
    supervisor = daemons(config, "--workers", "2")
    starts = supervisor.wait_logged("worker started", timeout=STARTUP, count=2)
    assert sorted(e["slot"] for e in starts) == [0, 1]
    supervisor.wait_logged("ready to poll", timeout=STARTUP, count=2)
    wait_until(lambda: len([r for r in db.rows("SELECT state FROM heartbeats") if r.state == "running"]) == 2, STARTUP,
               "two running workers", details=supervisor.tail)
    wait_until(lambda: all(db.has_all(f) for f in feeds), STARTUP, "the feeds polled", details=supervisor.tail)

    victim = starts[0]["pid"]
    subprocess.run(["kill", "-9", str(victim)], check=True)
    supervisor.wait_logged("worker died; restarting", timeout=10, slot=0)
    supervisor.wait_logged("worker started", timeout=10, count=3)
    wait_until(lambda: "2 alive" in _status(config, exit_code=0), STARTUP, "the restarted worker beating", details=supervisor.tail)

    supervisor.send(signal.SIGTERM)
    assert supervisor.wait_exit(20) == 0, supervisor.tail()
    workers = [e["pid"] for e in supervisor.logged("worker started")]
    assert not [pid for pid in workers if heartbeats.process_exists(pid) and pid != victim], "a worker outlived the supervisor"
    states = {r.pid: r.state for r in db.rows("SELECT pid, state FROM heartbeats")}
    assert states.pop(victim) == "running" and list(states.values()) == ["stopped", "stopped"], states
    assert len(supervisor.logged("daemon stopped")) == 2


@pytest.mark.postgres
def test_ctrl_c_stops_the_workers_cleanly_and_the_supervisor_exits_130(
    tmp_path: Path, pg_url: str, server: FeedServer, daemons: Callable[..., DaemonProcess],
) -> None:
    feed = server.growing_feed("/c.xml", "C", seed=51, initial=1)
    supervisor = daemons(write_config(tmp_path / "tracker.toml", pg_url, [feed]), "--workers", "2")
    supervisor.wait_logged("ready to poll", timeout=STARTUP, count=2)
    supervisor.send(signal.SIGINT)
    assert supervisor.wait_exit(20) == 130, supervisor.tail()  # as every command on Ctrl-C; SIGTERM exits 0
    assert len(supervisor.logged("daemon stopped")) == 2  # the workers still stopped cleanly


@pytest.mark.postgres
def test_a_second_sigterm_kills_the_workers_and_exits_130(
    tmp_path: Path, pg_url: str, server: FeedServer, daemons: Callable[..., DaemonProcess],
) -> None:
    feed = server.growing_feed("/slow.xml", "Slow", seed=50, initial=1)
    hold = server.hold_next("/slow.xml", timeout=20)
    try:
        supervisor = daemons(write_config(tmp_path / "tracker.toml", pg_url, [feed]), "--workers", "2")
        assert hold.arrived.wait(STARTUP), supervisor.tail()
        supervisor.send(signal.SIGTERM)
        supervisor.wait_logged("stopping workers", timeout=5)
        time.sleep(0.5)
        assert supervisor.alive(), "the first SIGTERM waits for the poll in flight"
        supervisor.send(signal.SIGTERM)
        assert supervisor.wait_exit(5) == 130, supervisor.tail()
        pids = [e["pid"] for e in supervisor.logged("worker started")]
        wait_until(lambda: not any(heartbeats.process_exists(p) for p in pids), 5, "the workers killed")
    finally:
        hold.release.set()


@pytest.mark.parametrize("command", [["run"], ["ingest", "x.warc"]])
def test_workers_above_1_on_sqlite_is_refused_in_one_line(tmp_path: Path, sqlite_url: str, command: list[str]) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n')
    done = subprocess.run([TRACKER, "--config", str(config), *command, "--workers", "2"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"tracker: error: --workers above 1 needs a PostgreSQL database (SQLite runs one daemon and one writer) "
        f"(see `tracker {command[0]} --help`)"
    ]
    assert not (tmp_path / "tracker.sqlite3").exists()


def _two_archives_two_databases(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[list[Path], str, str]:
    """Ten stories' captures as two interleaved archives, and two fresh PostgreSQL databases."""
    captures = _captures(10)
    archives = [write_warc(tmp_path / "a.warc", captures[0::2]), write_warc(tmp_path / "b.warc", captures[1::2])]
    make = request.getfixturevalue("pg_databases")
    return archives, make(), make()


@pytest.mark.postgres
def test_ingest_with_two_workers_stores_the_provenance_of_one(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    archives, one, two = _two_archives_two_databases(tmp_path, request)
    captures = _captures(10)
    lines = []
    for url, workers in ((one, "1"), (two, "2")):
        config = _config(tmp_path / f"w{workers}.toml", url)
        done = subprocess.run([TRACKER, "--config", str(config), "ingest", "--workers", workers, *map(str, archives)],
                              cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        lines.append(done.stdout.strip())
    expected = _provenance(one)
    assert len(expected) == 10 * 4
    assert _provenance(two) == expected
    assert lines[0] == lines[1] and lines[0].startswith(f"{len(captures)} captures (0 already stored), 40 new items"), lines


@pytest.mark.postgres
def test_ingest_workers_run_the_installed_tracker_even_beside_a_folder_named_tracker(tmp_path: Path, pg_url: str) -> None:
    """`python -m tracker` would import ./tracker (a clone of this repository) in the workers."""
    (tmp_path / "tracker").mkdir()
    (tmp_path / "tracker" / "README.md").write_text("a clone, say")
    archive = write_warc(tmp_path / "a.warc", _captures(4))
    config = _config(tmp_path / "w2.toml", pg_url)
    done = subprocess.run([TRACKER, "--config", str(config), "ingest", "--workers", "2", str(archive)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("16 captures (0 already stored), 16 new items"), done.stdout


@pytest.mark.postgres
def test_ingest_workers_that_die_without_a_report_fail_the_ingest(tmp_path: Path, pg_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that crashed (a traceback exits 1, like failed captures) must not pass for one that found nothing."""
    import sys

    from click.testing import CliRunner

    import tracker.ingest.shares
    from tracker.cli import main

    monkeypatch.setattr(tracker.ingest.shares, "tracker_command", lambda *_: [sys.executable, "-c", "raise SystemExit(1)"])
    archive = write_warc(tmp_path / "a.warc", _captures(2))
    result = CliRunner().invoke(main, ["--config", str(_config(tmp_path / "w2.toml", pg_url)), "ingest", "--workers", "2",
                                       str(archive)])
    assert result.exit_code == 70, result.output
    assert "tracker: error: ingest process 1/2 stopped without storing its share (exit 1; its error is above)" in result.stderr
    assert "tracker: error: ingest process 2/2 stopped without storing its share" in result.stderr


def _child(parent: int, share: str, timeout: float = 60) -> int:
    """The pid of the ingest process of `share` ("1/2") started by `parent`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == parent and share.encode() in command:
                return int(entry.name)
        time.sleep(0.05)
    raise AssertionError(f"no ingest share {share} under {parent}")


@pytest.mark.postgres
def test_ingest_workers_with_a_share_killed_fails_in_one_line_and_resumes(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    archives, one, two = _two_archives_two_databases(tmp_path, request)
    command = [TRACKER, "ingest", "--workers", "2", *map(str, archives)]
    run = subprocess.Popen([*command, "--config", str(_config(tmp_path / "two.toml", two))], cwd=tmp_path, env=_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.kill(_child(run.pid, "1/2"), signal.SIGKILL)
    out, err = run.communicate(timeout=300)
    # Not 247 (-9 as a status byte) with "0 errors" and nothing said: failed, and why.
    assert run.returncode == 1, (run.returncode, err)
    assert "ingest process 2/2 was killed (SIGKILL)" in err and "Run the same command again" in err
    again = subprocess.run([*command, "--config", str(tmp_path / "two.toml")], cwd=tmp_path, env=_env(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    done = subprocess.run([TRACKER, "--config", str(_config(tmp_path / "one.toml", one)), "ingest", *map(str, archives)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _provenance(two) == _provenance(one)

"""A daemon and an ingest writing one database at once find what a serial run finds.

Detection state lives in the database, so what the daemon stores is matched by the
ingest, and the other way round, whichever commits first.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.builders import Item, capture, rss, write_warc
from tests.ingest.test_concurrency import _provenance
from tests.feedserver import T_PUBLISHED, FeedServer, GrowingFeed
from tests.daemon.test_scheduler import TRACKER, DaemonProcess, Db, daemons, open_db, server, write_config  # noqa: F401

STORIES = 18
MIRROR = "https://mirror.example/feed.xml"


def _mirror_archive(path: Path, feed: GrowingFeed) -> Path:
    """An archive of a mirror that copies every story of `feed` an hour after it, with its
    own header lines; each capture shows the mirror's last two items."""
    shown: list[Item] = []
    captures = []
    for n in range(STORIES):
        original = feed.item(n)
        copy = Item(
            original.title, f"https://mirror.example/{n}.html",
            ["Mirror Daily", "Reposted", *original.paragraphs], original.published + timedelta(hours=1),
        )
        shown = [copy, *shown[:1]]
        captures.append(capture(MIRROR, copy.published + timedelta(minutes=5), rss("Mirror Daily", "https://mirror.example/", shown)))
    return write_warc(path, captures)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_an_ingest_while_the_daemon_runs_equals_a_serial_run(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest, server: FeedServer,
    daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db],
) -> None:
    together, serial = (
        (f"sqlite:///{tmp_path / 'together.sqlite3'}", f"sqlite:///{tmp_path / 'serial.sqlite3'}") if backend == "sqlite"
        else (request.getfixturevalue("pg_databases")(), request.getfixturevalue("pg_databases")())
    )
    feed = server.growing_feed("/alpha.xml", "Alpha", seed=7, initial=0)
    feed.publish(STORIES)  # known now, so the mirror's archive can copy them; served a few at a time below
    feed.reveal(3)
    mirror = _mirror_archive(tmp_path / "mirror.warc", feed)
    config = write_config(tmp_path / "run.toml", together, [feed, (MIRROR, "Mirror Daily")])
    config.write_text(config.read_text() + f'\n[archive]\ndir = "{tmp_path / "polled"}"\n')
    daemon = daemons(config)
    db = open_db(together)
    deadline = time.monotonic() + 60
    while not db.has_all(feed, feed.guids[:3]):
        assert daemon.alive() and time.monotonic() < deadline, daemon.tail()
        time.sleep(0.1)

    def reveal() -> None:  # the original keeps publishing while the mirror's archive is ingested
        for shown in range(4, STORIES + 1):
            feed.reveal(shown)
            time.sleep(0.15)

    publishing = threading.Thread(target=reveal)
    publishing.start()
    ingest = subprocess.run([TRACKER, "--config", str(config), "ingest", str(mirror)], capture_output=True, text=True, timeout=300)
    publishing.join()
    assert ingest.returncode == 0, ingest.stderr
    while not db.has_all(feed):
        assert daemon.alive() and time.monotonic() < deadline + 60, daemon.tail()
        time.sleep(0.1)
    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0, daemon.tail()

    # The same captures, one process after the other: the daemon's archive, then the mirror's.
    replay = write_config(tmp_path / "serial.toml", serial, [feed, (MIRROR, "Mirror Daily")])
    polled = sorted(str(p) for p in (tmp_path / "polled").rglob("*.warc*"))
    assert polled
    for archive in (*polled, str(mirror)):
        done = subprocess.run([TRACKER, "--config", str(replay), "ingest", archive], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    expected = _provenance(serial)
    assert len(expected) == 2 * STORIES
    assert sum(1 for _, parent, _ in expected.values() if parent) == STORIES  # every copy found its original
    assert _provenance(together) == expected

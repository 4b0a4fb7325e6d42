"""Benchmark: how long `status`, `stats` and `origin` take while an ingest writes.

    python bench/readers_bench.py /work/shared/worlds/dev/world.warc.gz [--feeds FEEDS.toml]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--before] [--rebuild]

Ingests the archive (its feeds: FEEDS.toml, default `feeds.toml` beside it) into a scratch
SQLite database (and, with --pg-url, a scratch PostgreSQL database) in a `tracker ingest`
process, and meanwhile runs the read-only commands in this process (click's runner: the
command's own work, without the interpreter's start) over and over, printing per command
the median and largest latency. It also times a daemon's dispatch write (its heartbeat,
one short write transaction), which must wait its turn behind each capture on SQLite.

--before also times each command opening the database as every command did before
readers were separated from writers (`open_database`: a migration check in a write
transaction), right after each: on SQLite each waits for the ingest's write lock.

--rebuild then ingests the archive again with other [detection] settings: the ingest
builds the detection state again (and matches every item again) in one long write
transaction before it reads a capture, the longest a writer holds SQLite's lock.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import sqlalchemy as sa
from click.testing import CliRunner

from tracker.cli import main as cli
from tracker.model import utcnow
from tracker.store import heartbeats
from tracker.store.database import open_database

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def opened_as_before() -> Iterator[None]:
    """Readers open the database the way every command did before: migrating it."""
    def before(url: str):  # type: ignore[no-untyped-def]
        return open_database(url, create=False)

    with mock.patch("tracker.store.database.open_reader", before), mock.patch("tracker.answers.status.open_reader", before):
        yield


def a_copy(url: str) -> str | None:
    """The URL of some copy stored so far (for `origin`)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT url FROM item_provenance WHERE parent_item_id IS NOT NULL ORDER BY item_id LIMIT 1")).scalar()
    finally:
        engine.dispose()


def measure(url: str, archive: Path, feeds: str, before: bool) -> None:
    """Run the ingest in a process and time the readers (and a heartbeat) until it ends."""
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "tracker.toml"
        config.write_text(f'[database]\nurl = "{url}"\n\n{feeds}')
        runner = CliRunner()
        assert runner.invoke(cli, ["--config", str(config), "upgrade"]).exit_code == 0
        sessions = open_database(url)
        ingest = subprocess.Popen([sys.executable, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", str(archive)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        started = time.monotonic()
        times: dict[str, list[float]] = defaultdict(list)
        failures: dict[str, int] = defaultdict(int)
        copy, rounds = None, 0

        def timed(name: str, action: Callable[[], bool]) -> None:
            start = time.perf_counter()
            ok = action()
            times[name].append(time.perf_counter() - start)
            failures[name] += not ok

        def command(*args: str) -> Callable[[], bool]:
            return lambda: runner.invoke(cli, ["--config", str(config), *args]).exit_code == 0

        def beat() -> bool:
            try:
                with sessions.begin() as session:
                    heartbeats.beat(session, heartbeats.Beat("bench", os.getpid(), socket.gethostname(), utcnow(), utcnow(), 5.0, "running"))
            except sa.exc.OperationalError:
                return False  # waited out the busy timeout (SQLite)
            return True

        while ingest.poll() is None:
            copy = copy or a_copy(url)
            readers = [("status", ["status", "--ignore-daemon"]), ("stats", ["stats"])] + ([("origin", ["origin", copy])] if copy else [])
            for name, args in readers:
                timed(name, command(*args))
                if before and ingest.poll() is None:
                    with opened_as_before():
                        timed(f"{name} (before)", command(*args))
            timed("daemon heartbeat (write)", beat)
            rounds += 1
            time.sleep(0.2)
        seconds = time.monotonic() - started
        _, err = ingest.communicate()
        if ingest.returncode != 0:
            sys.exit(f"ingest failed ({ingest.returncode}): {err.decode()[-2000:]}")
        sessions.kw["bind"].dispose()
        print(f"  ingest: {seconds:.0f} s; {rounds} rounds of readers during it (latency of each)")
        for name, values in times.items():
            note = f", {failures[name]} failed" if failures[name] else ""
            ordered = sorted(values)
            print(f"  {name:<26} n={len(values):<4} median {statistics.median(values) * 1000:6.0f} ms   "
                  f"p90 {ordered[int(len(ordered) * 0.9)] * 1000:6.0f} ms   max {ordered[-1] * 1000:6.0f} ms{note}")


@contextmanager
def scratch_pg(server: str) -> Iterator[str]:
    """A scratch PostgreSQL database on `server`, dropped afterwards."""
    name = f"readers_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, help="a WARC of feed captures, e.g. /work/shared/worlds/dev/world.warc.gz")
    parser.add_argument("--feeds", type=Path, help="its feeds (TOML [[feeds]]; default: feeds.toml beside it)")
    parser.add_argument("--pg-url", default="", help="a PostgreSQL server to run on as well (scratch database)")
    parser.add_argument("--before", action="store_true", help="also time the commands opening the database as before")
    parser.add_argument("--rebuild", action="store_true", help="then ingest again with other [detection] settings")
    args = parser.parse_args()
    archive = args.archive.resolve()
    feeds = (args.feeds or archive.parent / "feeds.toml").read_text()
    # Other detection settings than the first ingest's: the second builds the state again.
    rebuilt = "[detection]\nshingle_size = 4\n\n" + feeds
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'bench.sqlite3'}"
        print(f"SQLite (WAL), ingest of {archive.name}:")
        measure(url, archive, feeds, args.before)
        if args.rebuild:
            print(f"SQLite (WAL), ingest of {archive.name} again with other [detection] settings (a rebuild):")
            measure(url, archive, rebuilt, args.before)
    if args.pg_url:
        with scratch_pg(args.pg_url) as url:
            print(f"PostgreSQL, ingest of {archive.name}:")
            measure(url, archive, feeds, args.before)
            if args.rebuild:
                print(f"PostgreSQL, ingest of {archive.name} again with other [detection] settings (a rebuild):")
                measure(url, archive, rebuilt, args.before)


if __name__ == "__main__":
    main()

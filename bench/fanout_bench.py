"""Benchmark: one wire story copied by N publishers (issue 15's fan-out).

    .venv/bin/python bench/fanout_bench.py [--n 100,1000,5000] [--db sqlite|<postgresql URL>] [--shuffle]

Publisher i (of N) publishes the same six-paragraph story i minutes after the first, with
its own footer line; each copy arrives in its own capture of its publisher's feed,
ingested through the real pipeline (its N feeds configured, as a daemon's are) (`Pipeline.process`: parse, identity, fingerprints,
matching, provenance), one transaction per capture as the daemon does. `--shuffle`
ingests the captures in a random order (late originals and backdated copies).

For each N it prints the mean time per capture in each tenth of the run (wall clock, and
CPU time of this process plus its PostgreSQL backends: the machine may be shared), the last
tenth over the first (issue 15 wants at most 2 at N = 5,000), the stored match rows
(at most 10 N), and whether every copy names copy 0 as its story's original.

`--db sqlite` (the default) uses a fresh file per run; a PostgreSQL URL names a server on
which a scratch database is created for each run and dropped after it.
`--stop-after S` ends a run after S seconds (the tenths finished so far are printed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from tracker.config import parse_config
from tracker.model import Capture
from tracker.pipeline.capture import Pipeline
from tracker.store.database import open_database

T0 = datetime(2026, 3, 2, 8, 0)  # naive UTC, as the pipeline stores times
_WORDS = (
    "minister council border trade wheat harvest province school teachers road bridge river valley election court "
    "budget hospital doctors farmers market prices fuel electricity water village city officials police report agency "
    "talks delegation refugees aid winter snow flood drought exports imports customs transit highway airport railway"
).split()


def story(seed: int = 7) -> list[str]:
    """The wire story: six paragraphs of 50 words."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(50)).capitalize() + "." for _ in range(6)]


def feed(i: int, paragraphs: list[str]) -> bytes:
    """Publisher i's feed: its copy of the story, with its own footer."""
    site = f"https://pub{i}.example"
    body = "".join(f"<p>{p}</p>" for p in paragraphs) + f"<p>Copyright {i} Daily Courier number {i} all rights reserved.</p>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        # No channel title: a feed's first title renames its publisher and makes every process
        # read the directory again (O(feeds)); the run measures the story, not 5,000 feeds' first sight.
        f"<channel><link>{site}/</link><description>news</description><item>"
        f"<title>Wheat harvest talks at the border</title><link>{site}/story</link><guid>{site}/story</guid>"
        f"<pubDate>{format_datetime((T0 + timedelta(minutes=i)).replace(tzinfo=UTC))}</pubDate>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded></item></channel></rss>"
    ).encode()


def captures(n: int, shuffle: bool, seed: int) -> list[Capture]:
    """One capture per copy, in publication order unless shuffled."""
    paragraphs = story()
    found = [
        Capture(f"https://pub{i}.example/feed", T0 + timedelta(minutes=i, seconds=30), "response", feed(i, paragraphs),
                f"bench:fanout:{i}", "application/rss+xml")
        for i in range(n)
    ]
    if shuffle:
        random.Random(seed).shuffle(found)
    return found


class Scratch:
    """A database for one run: a fresh SQLite file, or a PostgreSQL database made and dropped."""

    def __init__(self, db: str, folder: Path, name: str) -> None:
        self.server = None
        if db == "sqlite":
            self.url = f"sqlite:///{folder / name}.sqlite3"
            return
        self.server = create_engine(db.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        self.name = f"fanout_bench_{name}"
        with self.server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = db.rsplit("/", 1)[0] + "/" + self.name

    def drop(self) -> None:
        """Remove a PostgreSQL scratch database."""
        if self.server is not None:
            with self.server.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.server.dispose()


def cpu_seconds(sessions: sessionmaker[Session], pids: set[int]) -> float:
    """CPU time of this process and of the PostgreSQL backends serving it (same machine): on a
    shared machine the wall clock measures the neighbours too."""
    own = time.process_time()
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            pids.add(int(session.execute(text("SELECT pg_backend_pid()")).scalar_one()))
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return own + ticks / os.sysconf("SC_CLK_TCK")


def run(n: int, db: str, shuffle: bool, seed: int, stop_after: float) -> None:
    """Ingest the N captures, printing each tenth's time per capture as it ends."""
    with tempfile.TemporaryDirectory() as folder:
        scratch = Scratch(db, Path(folder), f"n{n}_{int(time.time())}")
        try:
            sessions = open_database(scratch.url)
            # The publishers are configured, as a daemon's are: the run measures the story, not a directory growing.
            feeds = [{"url": f"https://pub{i}.example/feed", "publisher": f"Courier {i}"} for i in range(-1, n)]
            pipeline = Pipeline(sessions, parse_config({"database": {"url": scratch.url}, "feeds": feeds}))
            pipeline.register_feeds()
            todo = captures(n, shuffle, seed)
            # One unrelated story first, untimed: the first tenth is not the process warming up.
            pipeline.process(Capture("https://pub-1.example/feed", T0, "response", feed(-1, story(8)), "bench:warmup", "application/rss+xml"))
            tenth = max(1, n // 10)
            tenths: list[float] = []
            cpu_tenths: list[float] = []
            backends: set[int] = set()
            began = time.perf_counter()
            print(f"N={n} db={'sqlite' if scratch.server is None else 'postgresql'} order={'shuffled' if shuffle else 'time'}")
            for start in range(0, n, tenth):
                t, cpu = time.perf_counter(), cpu_seconds(sessions, backends)
                for capture in todo[start : start + tenth]:
                    pipeline.process(capture)
                count = len(todo[start : start + tenth])
                tenths.append((time.perf_counter() - t) / count * 1000)
                cpu_tenths.append((cpu_seconds(sessions, backends) - cpu) / count * 1000)
                print(f"  copies {start:>5}-{start + tenth:<5} {tenths[-1]:8.1f} ms/capture wall {cpu_tenths[-1]:8.1f} ms CPU", flush=True)
                if time.perf_counter() - began > stop_after:
                    print(f"  stopped after {time.perf_counter() - began:.0f} s")
                    break
            with sessions() as conn:
                matches = conn.execute(text("SELECT count(*) FROM matches")).scalar_one()
                originals = conn.execute(text(
                    "SELECT count(*) FROM provenance p JOIN items o ON o.id = p.original_item_id WHERE o.url = :u"
                ), {"u": "https://pub0.example/story"}).scalar_one()
                decided = conn.execute(text("SELECT count(*) FROM provenance")).scalar_one() - 1  # the warm-up's
            sessions.kw["bind"].dispose()
            print(f"  last/first tenth {tenths[-1] / tenths[0]:.2f}x wall, {cpu_tenths[-1] / cpu_tenths[0]:.2f}x CPU; match rows {matches} ({matches / max(1, decided):.1f} per item); "
                  f"{originals}/{decided} items name copy 0 as original; total {time.perf_counter() - began:.0f} s", flush=True)
        finally:
            scratch.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", default="100,1000,5000", help="copies per run, comma-separated")
    parser.add_argument("--db", default="sqlite", help="'sqlite', or a PostgreSQL URL (a scratch database is made on its server)")
    parser.add_argument("--shuffle", action="store_true", help="ingest the captures in a random order")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stop-after", type=float, default=float("inf"), help="seconds after which a run stops")
    args = parser.parse_args()
    for n in (int(x) for x in args.n.split(",")):
        run(n, args.db, args.shuffle, args.seed, args.stop_after)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

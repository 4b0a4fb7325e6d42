"""Benchmark: templated text that is not copied — false copies, match rows, cost per capture.

    .venv/bin/python bench/templated_bench.py [--items 2000] [--db sqlite,postgresql] [--before DIR]

Makes `--items` templated items (`templated_feeds`: weather bulletins, earnings lines,
football results, stock closes, road reports; each item's town, company, figures and
score drawn afresh, so none is a copy of another), deals them round-robin to
`--publishers` publishers (each publisher writes from every template) and ingests them
through the real pipeline (`Pipeline.process`), one capture of `--per-capture` new items
per publisher feed in turn. It prints, per database:

- false copies: provenance rows with a parent (every one is false: nothing was copied);
- match rows stored, and the largest story (items of the biggest provenance group);
- time per capture (median) in each tenth of the run, and last tenth ÷ first tenth.

`--before DIR` runs the same items with the tracker source in DIR as well (a checkout of
another revision), side by side in this run. A run that passes `--budget` seconds stops
after the capture that passed it and prints the tenths it reached. PostgreSQL databases
are scratch databases created and dropped on 127.0.0.1:5432 (`--pg-url`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from templated_feeds import Templated, templated_items  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2025, 3, 2, 6, 0)  # naive UTC, as captures carry it


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def feed_body(publisher: int, items: list[tuple[int, Templated]], when: datetime) -> bytes:
    """One publisher's RSS feed listing these items."""
    site = f"https://t{publisher}.example"
    parts = ['<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>',
             f"<title>Templated {publisher}</title><link>{site}/</link><description>d</description>"]
    for n, item in items:
        body = "".join(f"<p>{escape(p)}</p>" for p in item.paragraphs)
        parts.append(f"<item><title>{escape(item.title)}</title><link>{site}/{n}</link><guid>{site}/{n}</guid>"
                     f"<pubDate>{format_datetime((when - timedelta(minutes=5)).replace(tzinfo=UTC))}</pubDate>"
                     f"<description><![CDATA[{body}]]></description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def scratch_url(kind: str, folder: Path, pg_url: str) -> tuple[str, str | None]:
    """A fresh database's URL (and the PostgreSQL database's name, to drop)."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'templated.sqlite3'}", None
    from sqlalchemy import create_engine

    name = f"bench_templated_{os.getpid()}"
    engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + name, name


def drop(pg_url: str, name: str | None) -> None:
    """Remove a scratch PostgreSQL database."""
    if name:
        from sqlalchemy import create_engine

        engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    """False copies, match rows and the largest story of a database."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        found = {
            "false_copies": conn.exec_driver_sql("SELECT COUNT(*) FROM provenance WHERE parent_item_id IS NOT NULL").scalar_one(),
            "match_rows": conn.exec_driver_sql("SELECT COUNT(*) FROM matches").scalar_one(),
            "largest_story": conn.exec_driver_sql(
                "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM provenance GROUP BY story_id) s").scalar_one(),
            "items": conn.exec_driver_sql("SELECT COUNT(*) FROM items").scalar_one(),
        }
    engine.dispose()
    return {k: int(v) for k, v in found.items()}


def run(kind: str, args: argparse.Namespace) -> dict[str, object]:
    """Ingest the items into a fresh database of this kind; the figures, as a dict."""
    from tracker.config import parse_config
    from tracker.model import Capture
    from tracker.store.database import open_database

    try:
        from tracker.pipeline.capture import Pipeline
    except ImportError:  # a checkout from before the modules moved into packages (`--before`)
        from tracker.pipeline import Pipeline  # type: ignore[attr-defined,no-redef]

    items = list(enumerate(templated_items(args.items, args.seed)))
    with tempfile.TemporaryDirectory(prefix="templated-bench-") as folder:
        url, name = scratch_url(kind, Path(folder), args.pg_url)
        try:
            feeds = [{"url": f"https://t{p}.example/feed", "publisher": f"Templated {p}"} for p in range(args.publishers)]
            pipeline = Pipeline(open_database(url), parse_config({"database": {"url": url}, "feeds": feeds}))
            per_feed: list[list[tuple[int, Templated]]] = [items[p :: args.publishers] for p in range(args.publishers)]
            batches = []
            for start in range(0, max(len(f) for f in per_feed), args.per_capture):
                batches += [(p, f[start : start + args.per_capture]) for p, f in enumerate(per_feed) if f[start : start + args.per_capture]]
            times: list[float] = []
            cpu: list[float] = []
            began = time.perf_counter()
            for n, (publisher, batch) in enumerate(batches):
                when = T0 + timedelta(minutes=10 * n)
                capture = Capture(feeds[publisher]["url"], when, "response", feed_body(publisher, batch, when),
                                  f"bench:{n}", "application/rss+xml")
                started, started_cpu = time.perf_counter(), time.process_time()
                pipeline.process(capture)
                times.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
                if (n + 1) % max(1, len(batches) // 10) == 0:
                    say(f"{kind}: {n + 1}/{len(batches)} captures, last {times[-1] * 1000:.0f} ms")
                if time.perf_counter() - began > args.budget:
                    say(f"{kind}: past the budget of {args.budget:.0f} s after {n + 1} captures")
                    break
            tenth = max(1, len(batches) // 10)
            return {"db": kind, "captures": len(times), "of": len(batches), "tenths_ms": tenths(times, tenth),
                    "cpu_tenths_ms": tenths(cpu, tenth), **counts(url)}
        finally:
            drop(args.pg_url, name)


def tenths(times: list[float], size: int) -> list[float]:
    """The median of each whole tenth of the run, in milliseconds."""
    return [statistics.median(times[i : i + size]) * 1000 for i in range(0, len(times) - size + 1, size)]


def row(label: str, r: dict[str, object], key: str) -> str:
    """One line of the table: wall-clock (`tenths_ms`) or this process's CPU time (`cpu_tenths_ms`)."""
    found = [float(t) for t in r[key]]  # type: ignore[attr-defined]
    ratio = f"{found[-1] / found[0]:.2f}×" if found else "-"
    done = f"{r['captures']}/{r['of']}"
    return (f"{label:<7} {r['db']:<10} {done:>9} {r['items']:>6} {r['false_copies']:>12} {r['match_rows']:>10} "
            f"{r['largest_story']:>8}  {' '.join(f'{t:.0f}' for t in found):<52} {ratio:>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000, help="templated items in all (default 2000)")
    parser.add_argument("--publishers", type=int, default=10, help="publishers, one feed each (default 10)")
    parser.add_argument("--per-capture", type=int, default=20, help="new items per capture (default 20)")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both (default both)")
    parser.add_argument("--pg-url", default=os.environ.get("TRACKER_BENCH_PG_URL", PG_SERVER), help="PostgreSQL server URL")
    parser.add_argument("--before", type=Path, help="also run the tracker source in this checkout (e.g. an older revision)")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds one run may take before it stops (default 900)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one database, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run(args.one, args)))
        return
    sources = ([("before", args.before.resolve())] if args.before else []) + [("after", ROOT)]
    results = []
    for kind in args.db.split(","):
        for label, source in sources:
            say(f"{label}: {kind} ({source})")
            command = [sys.executable, __file__, "--one", kind] + [a for a in sys.argv[1:] if not a.startswith("--before")
                                                                   and a != str(args.before)]
            env = {**os.environ, "PYTHONPATH": str(source)}
            done = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True)
            results.append((label, json.loads(done.stdout)))
    print(f"templated items: {args.items}, publishers: {args.publishers}, items per capture: {args.per_capture}")
    for key, what in (("tenths_ms", "wall-clock"), ("cpu_tenths_ms", "CPU time of the ingesting process")):
        print(f"\n{'tracker':<7} {'database':<10} {'captures':>9} {'items':>6} {'false copies':>12} {'match rows':>10} "
              f"{'largest':>8}  {'median ms per capture, each tenth (' + what + ')':<52} {'last/1st':>7}")
        for label, r in results:
            print(row(label, r, key))


if __name__ == "__main__":
    main()

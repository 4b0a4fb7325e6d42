"""Benchmark: ingest speed, memory, start-up time and size as the corpus grows (10k → 1M items).

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--db sqlite,postgresql]

For each database and size N it generates a synthetic syndication network of N items
(`synthetic_network`: Zipf-vocabulary articles, mirrors with chrome lines and credits,
excerpts, rewrites; 20 publishers, one feed each), then:

1. stores the first N − 10k items with `bulk_load` (the rows and fingerprints the
   pipeline writes, computed by tracker's own functions on both cores, written in bulk),
   and records the detection settings so that no process rebuilds anything;
2. ingests the captures of the last 10k items (copies, excerpts and rewrites of items of
   the prefix and of each other; captures listing prefix items again) with `tracker
   ingest` of a WARC in a fresh process: start-up to its first stored capture, items/s
   from there to its exit, its peak RSS (VmHWM);
3. times `tracker run` and `tracker poll --all` to their first request to a local feed
   server, and `tracker ingest` of one small feed file;
4. measures the LSH index (`lsh_buckets`: SQLite dbstat, PostgreSQL
   pg_total_relation_size) and the whole database (less a freshly migrated empty one) per item.

It prints one table (sizes × databases) and the issue's goals, met or missed. PostgreSQL
databases are scratch databases created and dropped on 127.0.0.1:5432 (`--pg-url`).
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_network import FeedCapture, Network, WarcOut  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TAIL = 10_000
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_bytes() -> int:
    """This process's resident set now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- databases ---------------------------------------------------------------------------------
class Database:
    """A scratch database: its URL, its size, and removal."""

    def __init__(self, kind: str, folder: Path, name: str, pg_server: str) -> None:
        self.kind = kind
        self.pg_server = pg_server
        if kind == "sqlite":
            self.path = folder / f"{name}.sqlite3"
            self.url = f"sqlite:///{self.path}"
        else:
            self.name = f"bench_scale_{os.getpid()}_{name}"
            self.url = pg_server.rsplit("/", 1)[0] + "/" + self.name
            with self._admin() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}"')
                conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')

    @contextlib.contextmanager
    def _admin(self) -> Iterator:  # type: ignore[type-arg]
        from sqlalchemy import create_engine

        engine = create_engine(self.pg_server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def scalar(self, sql: str) -> object:
        """One value of a query."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql(sql).scalar_one()
        finally:
            engine.dispose()

    def index_bytes(self) -> int:
        """Bytes of the LSH bucket table and its index."""
        if self.kind == "postgresql":
            return int(self.scalar("SELECT pg_total_relation_size('lsh_buckets')"))  # type: ignore[arg-type]
        try:
            # Page by page: the aggregated form ('main', 1) wraps its sum at 2^32 in SQLite 3.40.
            return int(self.scalar("SELECT SUM(pgsize) FROM dbstat WHERE name = 'lsh_buckets'"))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 (SQLite built without dbstat: the whole file's pages, an upper bound)
            return int(self.scalar("PRAGMA page_count")) * int(self.scalar("PRAGMA page_size"))  # type: ignore[arg-type]

    def size(self) -> int:
        """Bytes the database takes on disk now."""
        if self.kind == "sqlite":
            with contextlib.suppress(Exception):
                self.scalar("PRAGMA wal_checkpoint(TRUNCATE)")
            return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        with self._admin() as conn:
            return int(conn.exec_driver_sql(f"SELECT pg_database_size('{self.name}')").scalar_one())

    def drop(self) -> None:
        """Remove the database."""
        if self.kind == "sqlite":
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                p.unlink(missing_ok=True)
        else:
            with self._admin() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- a local feed for run and poll ---------------------------------------------------------------
class FeedServer:
    """One small RSS feed on 127.0.0.1, noting when it is first requested."""

    BODY = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Bench Local</title><link>http://bench.local/</link>'
        "<description>d</description><item><title>Bench item</title><link>http://bench.local/1</link>"
        "<guid>http://bench.local/1</guid><description>A bench item body of a few words only.</description></item>"
        "</channel></rss>"
    ).encode()

    def __init__(self) -> None:
        self.first_request: float | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if server.first_request is None:
                    server.first_request = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(FeedServer.BODY)))
                self.end_headers()
                self.wfile.write(FeedServer.BODY)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/feed.xml"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- steps ---------------------------------------------------------------------------------------
class StepTimeout(Exception):
    pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a child this benchmark started: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_logged(command: list[str], timeout: float, label: str) -> tuple[float, str]:
    """Run a command, relaying its stderr as progress; return (wall seconds, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def relay() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            say(f"  {label}: {line.rstrip()[:200]}")

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise StepTimeout(f"{label}: over {timeout:.0f} s") from None
    thread.join(5)
    if process.returncode != 0:
        raise RuntimeError(f"{label} exited {process.returncode}: {''.join(lines[-5:])}")
    return time.perf_counter() - started, stdout


def time_run_until_poll(config: Path, server: FeedServer, timeout: float) -> float:
    """Seconds from starting `tracker run` to its first request to the local feed."""
    server.first_request = None
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tracker", "--config", str(config), "run"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while server.first_request is None:
            if process.poll() is not None:
                raise RuntimeError(f"tracker run exited {process.returncode} before polling")
            if time.perf_counter() - started > timeout:
                raise StepTimeout(f"run: no poll within {timeout:.0f} s")
            time.sleep(0.02)
        return server.first_request - started
    finally:
        _stop(process)


def time_poll_all(config: Path, server: FeedServer, timeout: float) -> float:
    """Seconds from starting `tracker poll --all` to its request to the local feed (it then finishes)."""
    server.first_request = None
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tracker", "--config", str(config), "poll", "--all"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        raise StepTimeout(f"poll --all: over {timeout:.0f} s") from None
    finally:
        _stop(process)
    if server.first_request is None:
        raise RuntimeError(f"tracker poll --all exited {process.returncode} without polling")
    return server.first_request - started


def time_ingest_one(config: Path, feed_file: Path, timeout: float) -> float:
    """Seconds `tracker ingest` of one small feed file takes, start to exit."""
    return run_logged([sys.executable, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", "--url",
                       "http://bench.local/file.xml", "--captured-at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       str(feed_file)], timeout, "ingest-one")[0]


def _peak_rss(pid: int) -> int:
    """The largest VmHWM of a process and its children (0 once gone).

    Not wait4's ru_maxrss: a child started by vfork + exec inherits the high-water mark of
    the parent's memory (here, the bulk loader's), so it reports the benchmark, not tracker."""
    peak = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
    return peak


def ingest_tail(config: Path, db: Database, warc: Path, timeout: float) -> dict[str, float]:
    """`tracker ingest` of the tail's WARC in a fresh process: start-up to its first stored
    capture, items/s from then to its exit, and its peak RSS (VmHWM, sampled until it exits)."""
    items_before = int(db.scalar("SELECT COUNT(*) FROM items"))
    last_capture = int(db.scalar("SELECT COALESCE(MAX(id), 0) FROM captures"))
    log = warc.with_suffix(".log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", str(warc)],
                               cwd=ROOT, stdout=log, stderr=log)
    first: list[float] = []
    done = threading.Event()

    def watch() -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(db.url, poolclass=NullPool)
        try:
            while not done.is_set():
                with engine.connect() as conn:
                    if int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM captures").scalar_one()) > last_capture:
                        first.append(time.perf_counter())
                        return
                time.sleep(0.01)
        finally:
            engine.dispose()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    peak = 0
    while True:
        peak = max(peak, _peak_rss(process.pid))  # a zombie has no memory left: sampled before reaping
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.perf_counter() - started > timeout:
            _stop(process)
            raise StepTimeout(f"tail ingest: over {timeout:.0f} s")
        time.sleep(0.05)
    ended = time.perf_counter()
    done.set()
    watcher.join(5)
    log.close()
    if process.returncode != 0:
        raise RuntimeError(f"tail ingest exited {process.returncode}: {warc.with_suffix('.log').read_text()[-400:]}")
    new_items = int(db.scalar("SELECT COUNT(*) FROM items")) - items_before
    begun = first[0] if first else started
    return {"tail items": new_items, "tail startup s": begun - started, "tail items/s": new_items / (ended - begun),
            "tail wall s": ended - started, "peak_rss": peak}


@dataclass
class Row:
    db: str
    items: int
    figures: dict[str, float | str | None] = field(default_factory=dict)


def write_config(path: Path, url: str, feed: str | None = None) -> Path:
    text = f'[database]\nurl = "{url}"\n'
    if feed:
        text += f'\n[polling]\nallow_private_addresses = true\n\n[[feeds]]\nurl = "{feed}"\npublisher = "Bench Local"\n'
    path.write_text(text)
    return path


def build(db: Database, items: int, tail: int, tail_warc: Path, seed: int, workers: int | None) -> tuple[int, int]:
    """Generate the network: the first `items - tail` items through the bulk loader, the rest
    as a WARC for `tracker ingest`. Returns (items bulk-loaded, items in the WARC)."""
    from bulk_load import bulk_load

    from tracker.config import DetectionConfig

    stream = Network(seed).captures(items)
    loaded = 0

    def prefix() -> Iterator[FeedCapture]:
        nonlocal loaded
        if items - tail <= 0:
            return
        for capture in stream:
            yield capture
            loaded += capture.new_items
            if loaded >= items - tail:
                return

    if items > tail:
        bulk_load(db.url, prefix(), DetectionConfig(), say, workers)
    out = WarcOut(tail_warc)
    try:
        for capture in stream:
            out.write(capture)
    finally:
        out.close()
    return loaded, out.items


def measure(kind: str, items: int, scratch: Path, args: argparse.Namespace, server: FeedServer) -> Row:
    """Build a database of `items` items on `kind` and take every figure."""
    from tracker.store.database import open_database

    row = Row(kind, items)
    size_started = time.perf_counter()
    db = Database(kind, scratch, f"n{items}", args.pg_url)
    try:
        config = write_config(scratch / f"{kind}-{items}.toml", db.url)
        polled = write_config(scratch / f"{kind}-{items}-poll.toml", db.url, server.url)
        open_database(db.url).kw["bind"].dispose()
        floor = db.size()
        tail_warc = scratch / f"tail-{kind}-{items}.warc.gz"
        say(f"{kind} {items:,}: generating; bulk load of the first {max(0, items - args.tail):,} items")
        started = time.perf_counter()
        loaded, rest = build(db, items, min(args.tail, items), tail_warc, args.seed, args.workers)
        row.figures["bulk s"] = time.perf_counter() - started
        say(f"{kind} {items:,}: {loaded:,} items loaded in {row.figures['bulk s']:.0f} s; ingest of the last {rest:,} (tracker ingest)")
        row.figures.update(ingest_tail(config, db, tail_warc, args.step_timeout))
        say(f"{kind} {items:,}: {row.figures['tail items/s']:.0f} items/s, peak RSS {row.figures['peak_rss'] / 1e6:.0f} MB")
        stored = int(db.scalar("SELECT COUNT(*) FROM items"))
        row.figures["stored"] = stored
        row.figures["index bytes/item"] = db.index_bytes() / stored
        size = db.size()
        row.figures["db bytes/item"] = (size - floor) / stored
        say(f"{kind} {items:,}: start-up of run, poll --all, ingest of one file")
        limit = args.startup_timeout
        for label, action in (
            ("run→poll s", lambda: time_run_until_poll(polled, server, limit)),
            ("poll --all s", lambda: time_poll_all(polled, server, limit)),
            ("ingest 1 file s", lambda: time_ingest_one(config, scratch / "one.xml", limit)),
        ):
            try:
                row.figures[label] = action()
            except StepTimeout as error:
                row.figures[label] = f"> {limit:.0f}"
                say(str(error))
    except StepTimeout as error:
        say(str(error))
        row.figures["error"] = "timeout"
    except Exception as error:  # noqa: BLE001 (a benchmark reports and goes on to the next size)
        say(f"{kind} {items:,}: failed: {error!r}")
        row.figures["error"] = str(error)[:80]
    finally:
        row.figures["wall s"] = time.perf_counter() - size_started
        if not args.keep:
            with contextlib.suppress(Exception):
                db.drop()
    return row


COLUMNS = [
    ("db", "db"), ("items", "items"), ("wall s", "wall s"), ("bulk s", "bulk prefix s"), ("tail items/s", "ingest last 10k items/s"),
    ("tail startup s", "ingest start→1st capture s"), ("peak_rss", "peak RSS MB"), ("run→poll s", "run→1st poll s"),
    ("poll --all s", "poll --all→1st poll s"), ("ingest 1 file s", "ingest 1 file s"), ("index bytes/item", "index bytes/item"),
    ("db bytes/item", "DB bytes/item"),
]


def cell(key: str, row: Row) -> str:
    if key == "db":
        return row.db
    if key == "items":
        return f"{row.items:,}"
    value = row.figures.get(key)
    if value is None:
        return "error" if "error" in row.figures else "—"
    if isinstance(value, str):
        return value
    if key == "peak_rss":
        return f"{value / 1e6:,.0f}"
    if key.endswith("/item") or key.endswith("items/s") or key in ("wall s", "bulk s"):
        return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table."""
    heads = [title for _, title in COLUMNS]
    body = [[cell(key, row) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(heads)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths)) + " |", "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |" for r in body]
    return "\n".join(lines)


def _number(row: Row, key: str) -> float | None:
    value = row.figures.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def goals(rows: list[Row]) -> list[str]:
    """The issue's goals, judged per database on its smallest and largest size."""
    lines = []
    for kind in dict.fromkeys(r.db for r in rows):
        mine = sorted((r for r in rows if r.db == kind), key=lambda r: r.items)
        small, large = mine[0], mine[-1]
        at = f"{kind} at {large.items:,}"

        def judged(ok: bool | None, text: str) -> str:
            return f"- [{'met' if ok else 'MISSED' if ok is not None else 'n/a'}] {at}: {text}"

        base, rate = _number(small, "tail items/s"), _number(large, "tail items/s")
        ok = None if base is None or rate is None else rate * 1.5 >= base
        lines.append(judged(ok, f"ingest of the last 10k within 1.5× of the {small.items:,} figure ({rate or 0:,.0f} vs {base or 0:,.0f} items/s)"))
        base, peak = _number(small, "peak_rss"), _number(large, "peak_rss")
        ok = None if base is None or peak is None else peak <= 300e6 and peak <= base * 1.2
        lines.append(judged(ok, f"peak RSS ≤ 300 MB and flat (≤ 1.2× the {small.items:,} figure): {(peak or 0) / 1e6:,.0f} vs {(base or 0) / 1e6:,.0f} MB"))
        for key, label in (("run→poll s", "tracker run"), ("poll --all s", "tracker poll --all"), ("ingest 1 file s", "tracker ingest of one file")):
            value = _number(large, key)
            lines.append(judged(None if value is None else value <= 1.0, f"{label} start-up to the first poll ≤ 1 s ({value if value is not None else '—'} s)"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated item counts (default 10000,100000,1000000)")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both (default both)")
    parser.add_argument("--pg-url", default=os.environ.get("TRACKER_BENCH_PG_URL", PG_SERVER),
                        help="a PostgreSQL server's maintenance database, where scratch databases are created")
    parser.add_argument("--step-timeout", type=float, default=3600.0, help="seconds the measured ingest may take (default 3600)")
    parser.add_argument("--startup-timeout", type=float, default=120.0,
                        help="seconds a start-up measurement may take before it is reported as '> N' (default 120)")
    parser.add_argument("--tail", type=int, default=TAIL, help="items measured at the end of each size (default 10000)")
    parser.add_argument("--workers", type=int, default=None, help="fingerprinting processes of the bulk prefix (default: cores)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases (in --scratch)")
    parser.add_argument("--scratch", type=Path, help="folder for scratch files and SQLite databases (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if any(k not in ("sqlite", "postgresql") for k in kinds):
        parser.error("--db takes sqlite and/or postgresql")
    rows: list[Row] = []
    server = FeedServer()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.scratch) as folder:
            scratch = Path(folder)
            (scratch / "one.xml").write_bytes(FeedServer.BODY.replace(b"bench.local/1", b"bench.local/file-1"))
            for kind in kinds:
                for items in sizes:
                    rows.append(measure(kind, items, scratch, args, server))
                    print(table(rows[-1:]), file=sys.stderr, flush=True)
                    if args.json:
                        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    finally:
        server.close()
    print(table(rows))
    print()
    print("\n".join(goals(rows)))
    print("\nbulk prefix: the first N−10k items stored by bench/bulk_load.py (the pipeline's rows and fingerprints, written in "
          "bulk); ingest last 10k: `tracker ingest` of a WARC in a fresh process, items/s from its first stored capture to its "
          "exit; peak RSS: that process and its parser processes (largest VmHWM, sampled); start-ups: process start to the first request to a local feed (run, poll --all), "
          "to exit (ingest of one small file); index: lsh_buckets (SQLite dbstat, PostgreSQL pg_total_relation_size); DB: less a "
          "freshly migrated empty database.")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))


if __name__ == "__main__":
    main()

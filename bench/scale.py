"""Benchmark: how ingest speed, memory and start-up time grow with the corpus.

    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--db sqlite,postgresql]

For each database and size N it generates a synthetic syndication network of N items
(`synthetic_network`: Zipf-vocabulary articles, mirrors with chrome lines and credits,
excerpts, rewrites; 20 publishers, one feed each), then, through the real code paths:

1. ingests the captures holding the first N - 10k items with `tracker ingest` (one
   process, parse-ahead worker as usual — the same code path, just not timed in detail);
2. ingests the captures of the last 10k items in a fresh process that does what
   `tracker ingest` does (`Pipeline` + `ingest_paths`), timing the start-up rebuild and
   the ingest apart: items/s of the last 10k, the process's peak RSS (getrusage), its
   RSS after the rebuild, and the RSS an in-memory LSH of the corpus takes on its own;
3. times `tracker run` until its first poll reaches a local feed server, `tracker poll
   --all` (that one feed), and `tracker ingest` of one small feed file;
4. measures the database: SQLite file size or PostgreSQL `pg_database_size`, less the
   size of a freshly migrated empty database, per item.

A row for the empty database (N = 0) gives the baseline the per-item memory figures are
counted from. PostgreSQL databases are scratch databases created and dropped on
127.0.0.1:5432 (`--pg-url` names the server). Progress goes to stderr; each step is
bounded by `--step-timeout` seconds (a step that overruns is reported as such).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
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

from synthetic_network import write_network  # noqa: E402

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


# -- the measuring worker (a separate process, as `tracker ingest` is) ----------------------
def worker(config_path: str, warc: str | None) -> None:
    """Open the database as `tracker ingest` does, rebuild, ingest `warc`; print JSON figures."""
    from tracker.config import load_config
    from tracker.index import CandidateIndex
    from tracker.ingest import ingest_paths
    from tracker.pipeline import Pipeline
    from tracker.store.database import open_database

    config = load_config(config_path)
    sessions = open_database(config.database.url)
    gc.collect()
    rss_opened = rss_bytes()
    started = time.perf_counter()
    pipeline = Pipeline(sessions, config)
    pipeline.register_feeds()
    rebuild = time.perf_counter() - started
    gc.collect()
    out: dict[str, float | int | None] = {"rebuild_s": rebuild, "rss_opened": rss_opened, "rss_loaded": rss_bytes(),
                                          "items_loaded": len(pipeline.corpus.items)}
    if warc:
        started = time.perf_counter()

        def progress(p: object) -> None:
            print(f"{p.captures} captures, {p.new_items} new items, {p.rate:.1f} captures/s", file=sys.stderr, flush=True)  # type: ignore[attr-defined]

        report = ingest_paths(pipeline, [Path(warc)], progress=False, on_progress=progress, progress_every=15)
        out["ingest_s"] = time.perf_counter() - started
        out["new_items"] = report.new_items
        out["republications"] = report.republications
        out["errors"] = report.errors
    out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    gc.collect()
    out["rss_after"] = rss_bytes()
    # The LSH alone: index every stored version again (story and lead) into a fresh one.
    d = config.detection
    gc.collect()
    before = rss_bytes()
    index = CandidateIndex(d.num_perm, d.lsh_bands, d.lsh_rows)
    for item_id, item in pipeline.corpus.items.items():
        for version in item.versions:
            index.add((item_id, version.number, "story"), version.story)
            index.add((item_id, version.number, "lead"), version.lead)
    gc.collect()
    out["lsh_rss"] = rss_bytes() - before
    out["items_total"] = len(pipeline.corpus.items)
    print(json.dumps(out))


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

    def size(self) -> int:
        """Bytes the database takes on disk now."""
        if self.kind == "sqlite":
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


def measure(kind: str, items: int, scratch: Path, args: argparse.Namespace, server: FeedServer, empty: Row | None) -> Row:
    """Build a database of `items` items on `kind` and take every figure."""
    row = Row(kind, items)
    python = sys.executable
    db = Database(kind, scratch, f"n{items}", args.pg_url)
    try:
        config = write_config(scratch / f"{kind}-{items}.toml", db.url)
        polled = write_config(scratch / f"{kind}-{items}-poll.toml", db.url, server.url)
        tail = min(args.tail, items)
        bulk_warc, tail_warc = scratch / f"bulk-{items}.warc.gz", scratch / f"tail-{items}.warc.gz"
        if items:
            if not tail_warc.exists():
                say(f"{kind} {items:,}: generating the network")
                bulk, rest = write_network(items, tail, bulk_warc, tail_warc, seed=args.seed)
                say(f"{kind} {items:,}: {bulk.captures:,} + {rest.captures:,} captures, {bulk.items:,} + {rest.items:,} items")
        # A freshly migrated empty database: its size is the floor per-item sizes are counted from.
        run_logged([python, str(Path(__file__).resolve()), "--worker", str(config)], args.step_timeout, "migrate")
        floor = db.size()
        if items > tail:
            say(f"{kind} {items:,}: bulk ingest of the first {items - tail:,} items (tracker ingest)")
            seconds, _ = run_logged([python, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", str(bulk_warc)],
                                    args.step_timeout, "bulk")
            row.figures["bulk items/s"] = (items - tail) / seconds
        if items:
            say(f"{kind} {items:,}: ingest of the last {tail:,} items, measured")
            _, out = run_logged([python, str(Path(__file__).resolve()), "--worker", str(config), str(tail_warc)], args.step_timeout, "tail")
        else:
            _, out = run_logged([python, str(Path(__file__).resolve()), "--worker", str(config)], args.step_timeout, "load")
        w = json.loads(out.strip().splitlines()[-1])
        row.figures.update(w)
        if items:
            row.figures["tail items/s"] = w["new_items"] / w["ingest_s"]
        stored = int(w["items_total"])
        row.figures["stored"] = stored
        size = db.size()
        row.figures["db bytes/item"] = (size - floor) / stored if stored else None
        row.figures["db MB"] = size / 1e6
        if empty is not None and stored:
            # The caches of all N items as the ingest left them (after the rebuild of the
            # first N - 10k and the ingest of the rest), over an empty database's process.
            row.figures["cache bytes/item"] = (w["rss_after"] - empty.figures["rss_after"]) / stored
            row.figures["lsh bytes/item"] = w["lsh_rss"] / stored
        say(f"{kind} {items:,}: start-up of run, poll --all, ingest of one file")
        limit = args.startup_timeout or args.step_timeout
        for label, action in (
            ("run→poll s", lambda: time_run_until_poll(polled, server, limit)),
            ("poll --all s", lambda: run_logged([python, "-m", "tracker", "--config", str(polled), "poll", "--all"], limit, "poll")[0]),
            ("ingest 1 file s", lambda: run_logged(
                [python, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", "--url", "http://bench.local/file.xml",
                 "--captured-at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), str(scratch / "one.xml")], limit, "ingest-one")[0]),
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
        say(f"{kind} {items:,}: failed: {error}")
        row.figures["error"] = str(error)[:80]
    finally:
        with contextlib.suppress(Exception):
            db.drop()
    return row


COLUMNS = [
    ("db", "db"), ("items", "items"), ("tail items/s", "ingest last 10k items/s"), ("bulk items/s", "bulk items/s"),
    ("peak_rss", "peak RSS MB"), ("rebuild_s", "rebuild s"), ("run→poll s", "run→1st poll s"), ("poll --all s", "poll --all s"),
    ("ingest 1 file s", "ingest 1 file s"), ("db bytes/item", "DB bytes/item"), ("cache bytes/item", "cache RSS bytes/item"),
    ("lsh bytes/item", "LSH RSS bytes/item"),
]


def cell(key: str, row: Row) -> str:
    if key == "db":
        return row.db
    if key == "items":
        return f"{row.items:,}"
    value = row.figures.get(key)
    if value is None:
        return "error" if "error" in row.figures and key != "bulk items/s" else "—"
    if isinstance(value, str):
        return value
    if key == "peak_rss":
        return f"{value / 1e6:,.0f}"
    if key.endswith("/item") or key.endswith("items/s"):
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


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated item counts (default 10000,100000)")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both (default both)")
    parser.add_argument("--pg-url", default=os.environ.get("TRACKER_BENCH_PG_URL", PG_SERVER),
                        help="a PostgreSQL server's maintenance database, where scratch databases are created")
    parser.add_argument("--step-timeout", type=float, default=3600.0, help="seconds any one step may take (default 3600)")
    parser.add_argument("--startup-timeout", type=float, default=None,
                        help="seconds a start-up measurement may take before it is reported as '> N' (default: --step-timeout)")
    parser.add_argument("--tail", type=int, default=TAIL, help="items measured at the end of each size (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if any(k not in ("sqlite", "postgresql") for k in kinds):
        parser.error("--db takes sqlite and/or postgresql")
    rows: list[Row] = []
    server = FeedServer()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
            scratch = Path(folder)
            (scratch / "one.xml").write_bytes(FeedServer.BODY.replace(b"bench.local/1", b"bench.local/file-1"))
            for kind in kinds:
                say(f"{kind}: empty database")
                empty = measure(kind, 0, scratch, args, server, None)
                rows.append(empty)
                for items in sizes:
                    rows.append(measure(kind, items, scratch, args, server, empty if "rss_loaded" in empty.figures else None))
                    print(table(rows[-1:]), file=sys.stderr, flush=True)
                    if args.json:
                        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    finally:
        server.close()
    print(table(rows))
    print("\nbulk: the first N-10k items ingested by one `tracker ingest`; ingest last 10k: a fresh process doing what "
          "`tracker ingest` does, ingest time only (rebuild apart); cache RSS: RSS of the measuring process after its ingest less the "
          "empty database's, per item; LSH RSS: an in-memory LSH of every version (story + lead) on its own, per item; DB bytes: "
          "less a freshly migrated empty database.")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))


if __name__ == "__main__":
    main()

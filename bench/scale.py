"""Benchmark: ingest speed, memory, start-up time and size as the corpus grows (10k → 1M items).

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--db sqlite,postgresql]
        [--prefix-cache DIR [--rebuild-prefix | --prefix-only]] [--tail-workers 1,2] [--tail-only]

For each database and size N it generates a synthetic syndication network of N items
(`synthetic_network`: Zipf-vocabulary articles, mirrors with chrome lines and credits,
excerpts, rewrites; 20 publishers, one feed each), then:

1. stores the first N − 10k items with `bulk_load` (the rows and fingerprints the
   pipeline writes, computed by tracker's own functions on both cores, written in bulk),
   and records the detection settings so that no process rebuilds anything (PostgreSQL:
   then VACUUMs and ANALYZEs it, so that neither autovacuum nor hint-bit writes run during the tail, and
   its planner has the statistics a grown database has);
2. ingests the captures of the last 10k items (copies, excerpts and rewrites of items of
   the prefix and of each other; captures listing prefix items again) with `tracker
   ingest [--workers N]` of a WARC in a fresh process, once per count of `--tail-workers`,
   each on its own copy of the same prefix: start-up to its first stored capture, items/s
   from there to its exit, its peak RSS (VmHWM, the largest process of its tree);
3. times `tracker run` and `tracker poll --all` to their first request to a local feed
   server, and `tracker ingest` of one small feed file (unless `--tail-only`);
4. measures the LSH index (`lsh_buckets` and its recent log `lsh_recent`: SQLite dbstat, PostgreSQL
   pg_total_relation_size) and the whole database (less a freshly migrated empty one) per
   item (unless `--tail-only`).

The prefix of 1M items takes 20-40 minutes: `--prefix-cache DIR` keeps it, with the tail
WARC and a manifest, under DIR/<db>-<items>-<tail>-<seed>/ (SQLite: the database file;
PostgreSQL: a database bench_scale_prefix_<items>_<tail>_<seed>, a template nobody may
connect to), and later runs restore copies of it rather than build it again (the cache
itself is never written to). `--rebuild-prefix` builds it afresh; `--prefix-only` builds
and caches without measuring (e.g. in the background: `nice -n 19 ionice -c 3 ...`; a
niced run renices its PostgreSQL backends too).

It prints one table (sizes × databases) and the issue's goals, met or missed. PostgreSQL
databases are scratch databases created and dropped on 127.0.0.1:5432 (`--pg-url`).
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
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

from bulk_load import share_niceness  # noqa: E402
from synthetic_network import FeedCapture, Network, WarcOut  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TAIL = 10_000
GOAL_ITEMS = 1_000_000  # the size the tail's items/s goal is set for
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_bytes() -> int:
    """This process's resident set now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- databases ---------------------------------------------------------------------------------
@contextlib.contextmanager
def pg_admin(pg_server: str) -> Iterator:  # type: ignore[type-arg]
    """An autocommit connection to the server's maintenance database."""
    from sqlalchemy import create_engine

    engine = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    share_niceness(engine)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def pg_copy(conn: object, name: str, template: str) -> None:
    """CREATE DATABASE `name` as a copy of `template` (on which no connection may be open).

    FILE_COPY (PostgreSQL 15+) copies the files as they are rather than writing them all
    through the WAL: gigabytes at 1M items."""
    strategy = " STRATEGY FILE_COPY" if conn.dialect.server_version_info >= (15,) else ""  # type: ignore[attr-defined]
    conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')  # type: ignore[attr-defined]


def pg_exists(conn: object, name: str) -> bool:
    """Whether the server has a database `name`."""
    return conn.exec_driver_sql(f"SELECT COUNT(*) FROM pg_database WHERE datname = '{name}'").scalar_one() > 0  # type: ignore[attr-defined]


class Database:
    """A scratch database: its URL, its size, and removal.

    `source`, when given, is what it starts as a copy of: a SQLite file, or a PostgreSQL
    database used as a template."""

    def __init__(self, kind: str, folder: Path, name: str, pg_server: str, source: str | None = None) -> None:
        self.kind = kind
        self.pg_server = pg_server
        if kind == "sqlite":
            self.path = folder / f"{name}.sqlite3"
            self.url = f"sqlite:///{self.path}"
            self._remove_files()
            if source is not None:
                shutil.copyfile(source, self.path)
                # On disk before anything is measured: else the measured process pays for
                # writing back the copy (12 GB at 1M items) beside its own writes.
                with self.path.open("rb+") as copy:
                    os.fsync(copy.fileno())
        else:
            self.name = f"bench_scale_{os.getpid()}_{name}"
            self.url = pg_server.rsplit("/", 1)[0] + "/" + self.name
            with self._admin() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}"')
                if source is None:
                    conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
                else:
                    pg_copy(conn, self.name, source)

    def _admin(self) -> contextlib.AbstractContextManager:  # type: ignore[type-arg]
        return pg_admin(self.pg_server)

    def _remove_files(self) -> None:
        for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            p.unlink(missing_ok=True)

    def scalar(self, sql: str) -> object:
        """One value of a query."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        share_niceness(engine)
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql(sql).scalar_one()
        finally:
            engine.dispose()

    def settle(self) -> None:
        """Leave the database as a long-running one would be, and nothing pending.

        SQLite: the WAL checkpointed into the file. PostgreSQL: VACUUMed, so that the freshly
        bulk-loaded tables are not vacuumed, nor their hint bits written, while the tail is
        timed (in the backend itself, PARALLEL 0: a niced run renices that backend only), and
        analysed, as autovacuum leaves a database that grew to this size: without statistics
        the planner takes a lookup of a few rows for thousands."""
        if self.kind == "sqlite":
            self.scalar("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        share_niceness(engine)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE, PARALLEL 0)")
        finally:
            engine.dispose()

    def fill_log(self, rows: int, seed: int) -> int:
        """SQLite: give the LSH index's recent log (`tracker.store.recent`) `rows` rows, as a
        running tracker's log holds between two merges; returns how many it holds.

        A prefix is bulk-loaded into `lsh_buckets` alone, so a tail on it would start with an
        empty log and, at 10k items, never reach a merge. The rows are random keys (as band
        hashes are) of items -1, -2, ... that do not exist: no lookup finds them, and the merge
        that writes them into `lsh_buckets` costs what one of real rows costs."""
        import random
        import sqlite3

        from tracker.store.recent import pack

        rng, per_item = random.Random(seed), 115
        with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:
            conn.executemany("INSERT INTO lsh_recent (item_id, added, buckets) VALUES (?, 1, ?)", [
                (-n, pack(rng.getrandbits(64) - 2**63 for _ in range(per_item))) for n in range(1, rows // per_item + 1)
            ])
            return int(conn.execute("SELECT COALESCE(SUM(length(buckets)), 0) / 8 FROM lsh_recent").fetchone()[0])

    def revision(self) -> str | None:
        """The schema revision the database is at."""
        try:
            return str(self.scalar("SELECT version_num FROM alembic_version"))
        except Exception:  # noqa: BLE001 (not migrated)
            return None

    def index_bytes(self) -> int:
        """Bytes of the LSH bucket table and its index."""
        if self.kind == "postgresql":
            return int(self.scalar("SELECT pg_total_relation_size('lsh_buckets') + pg_total_relation_size('lsh_recent')"))  # type: ignore[arg-type]
        try:
            # Page by page: the aggregated form ('main', 1) wraps its sum at 2^32 in SQLite 3.40.
            return int(self.scalar("SELECT SUM(pgsize) FROM dbstat WHERE name IN ('lsh_buckets', 'lsh_recent')"))  # type: ignore[arg-type]
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
            self._remove_files()
        else:
            with self._admin() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- the prefix cache ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """What a bulk prefix is made of: the same key, the same rows and the same tail WARC."""

    kind: str
    items: int
    tail: int
    seed: int

    @property
    def label(self) -> str:
        """The cache folder's name."""
        return f"{self.kind}-{self.items}-{self.tail}-{self.seed}"

    @property
    def pg_name(self) -> str:
        """The cached PostgreSQL database's name."""
        return f"bench_scale_prefix_{self.items}_{self.tail}_{self.seed}"


def git_commit() -> tuple[str, bool]:
    """This checkout's commit, and whether files differ from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return git("rev-parse", "HEAD") or "unknown", bool(git("status", "--porcelain", "--untracked-files=no"))


class PrefixCache:
    """Bulk prefixes kept between runs, one folder each: the database (SQLite: prefix.sqlite3;
    PostgreSQL: the database the manifest names, a template nobody may connect to), the
    tail WARC (tail.warc.gz) and manifest.json. Written once; measurements run on copies."""

    def __init__(self, folder: Path, pg_server: str) -> None:
        self.folder = folder
        self.pg_server = pg_server
        folder.mkdir(parents=True, exist_ok=True)

    def entry(self, key: Key) -> Path:
        """The folder of `key`'s prefix."""
        return self.folder / key.label

    def find(self, key: Key) -> dict[str, object] | None:
        """The manifest of a complete cached prefix for `key`, or None."""
        manifest = self.entry(key) / "manifest.json"
        if not manifest.exists() or not self.warc(key).exists():
            return None
        found = json.loads(manifest.read_text())
        if key.kind == "sqlite":
            return found if (self.entry(key) / "prefix.sqlite3").exists() else None
        with pg_admin(self.pg_server) as conn:
            return found if pg_exists(conn, str(found["database"])) else None

    def source(self, key: Key) -> str:
        """What a copy is made from: the SQLite file, or the PostgreSQL template's name."""
        return str(self.entry(key) / "prefix.sqlite3") if key.kind == "sqlite" else key.pg_name

    def warc(self, key: Key) -> Path:
        """The tail WARC of `key`'s prefix."""
        return self.entry(key) / "tail.warc.gz"

    def save(self, key: Key, db: Database, tail_warc: Path, manifest: dict[str, object], move: bool) -> dict[str, object]:
        """Keep `db` (settled, no connection open) and its tail WARC as the prefix of `key`,
        replacing any older one; `move` takes `db` itself rather than a copy (it is gone then).
        Returns the manifest as written."""
        partial = self.folder / f"{key.label}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        self.remove(key)
        if key.kind == "sqlite":
            (shutil.move if move else shutil.copyfile)(str(db.path), str(partial / "prefix.sqlite3"))
            if move:
                db.drop()  # its empty -wal and -shm
        else:
            with pg_admin(self.pg_server) as conn:
                if move:
                    conn.exec_driver_sql(f'ALTER DATABASE "{db.name}" RENAME TO "{key.pg_name}"')
                else:
                    pg_copy(conn, key.pg_name, db.name)
                # Nobody connects to it (so nothing writes to it) and it can always serve as a template.
                conn.exec_driver_sql(f'ALTER DATABASE "{key.pg_name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
            manifest = {**manifest, "database": key.pg_name}
        shutil.copyfile(tail_warc, partial / "tail.warc.gz")
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        partial.rename(self.entry(key))
        return manifest

    def remove(self, key: Key) -> None:
        """Forget the cached prefix of `key` (files and PostgreSQL database)."""
        shutil.rmtree(self.entry(key), ignore_errors=True)
        if key.kind == "postgresql":
            with pg_admin(self.pg_server) as conn:
                if pg_exists(conn, key.pg_name):
                    conn.exec_driver_sql(f'ALTER DATABASE "{key.pg_name}" WITH IS_TEMPLATE false')
                    conn.exec_driver_sql(f'DROP DATABASE "{key.pg_name}" WITH (FORCE)')


class Prefix:
    """A bulk prefix and its tail WARC, from which each tail measurement takes its own copy.

    `first`: the database just built, handed out to the first measurement (it equals the
    source); `source`: what later copies are made from (the cache, or `temporary`, a
    snapshot of `first` dropped at the end)."""

    def __init__(self, key: Key, scratch: Path, pg_server: str, warc: Path, first: Database | None, source: str | None,
                 temporary: Database | None = None) -> None:
        self.key, self.scratch, self.pg_server, self.warc = key, scratch, pg_server, warc
        self.first, self.source, self.temporary = first, source, temporary

    def checkout(self, name: str) -> Database:
        """A database holding the prefix, for one measurement (the caller drops it)."""
        if self.first is not None:
            db, self.first = self.first, None
            return db
        assert self.source is not None, "one measurement per prefix without a cache or a snapshot"
        started = time.perf_counter()
        db = Database(self.key.kind, self.scratch, name, self.pg_server, source=self.source)
        say(f"{self.key.kind} {self.key.items:,}: prefix copied for this measurement in {time.perf_counter() - started:.0f} s")
        return db

    def close(self) -> None:
        """Drop what is left: an unused first database, the temporary snapshot."""
        for db in (self.first, self.temporary):
            if db is not None:
                with contextlib.suppress(Exception):
                    db.drop()


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
    """The largest VmHWM of a process and its descendants (0 once gone): `ingest --workers N`
    has N share processes, and each ingest its parser processes.

    Not wait4's ru_maxrss: a child started by vfork + exec inherits the high-water mark of
    the parent's memory (here, the bulk loader's), so it reports the benchmark, not tracker."""
    peak = 0
    pids = [pid]
    for one in pids:  # grows while walked: the whole tree
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{one}/task").iterdir():
                with contextlib.suppress(OSError):
                    pids += [int(c) for c in (task / "children").read_text().split()]
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
    return peak


def _first_capture(db: Database, after: int, first: list[float], done: threading.Event) -> None:
    """Note in `first` when a capture beyond id `after` is stored (polled every 10 ms)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(db.url, poolclass=NullPool)
    try:
        while not done.is_set():
            with engine.connect() as conn:
                if int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM captures").scalar_one()) > after:
                    first.append(time.perf_counter())
                    return
            time.sleep(0.01)
    finally:
        engine.dispose()


def _busy_ticks() -> tuple[int, int]:
    """The machine's CPU time so far in clock ticks (/proc/stat): busy (every state but idle
    and waiting for the disk), and all."""
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def ingest_tail(config: Path, db: Database, warc: Path, log_path: Path, workers: int, timeout: float) -> dict[str, float]:
    """`tracker ingest [--workers N]` of the tail's WARC in a fresh process: start-up to its
    first stored capture, items/s from then to its exit, and its peak RSS (VmHWM, sampled
    until it exits), with the machine's load average when it started and how many of its
    cores were busy while it ran (its processes, the database server's, and anything else:
    on a quiet machine, what one ingest can use of the cores, which bounds what N can gain)."""
    items_before = int(db.scalar("SELECT COUNT(*) FROM items"))  # type: ignore[call-overload]
    last_capture = int(db.scalar("SELECT COALESCE(MAX(id), 0) FROM captures"))  # type: ignore[call-overload]
    load = os.getloadavg()[0]
    log = log_path.open("w")
    busy_before, all_before = _busy_ticks()
    started = time.perf_counter()
    command = [sys.executable, "-m", "tracker", "--config", str(config), "ingest", "--no-progress"]
    command += ["--workers", str(workers)] if workers > 1 else []
    process = subprocess.Popen([*command, str(warc)], cwd=ROOT, stdout=log, stderr=log)
    first: list[float] = []
    done = threading.Event()
    watcher = threading.Thread(target=_first_capture, args=(db, last_capture, first, done), daemon=True)
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
    busy_after, all_after = _busy_ticks()
    done.set()
    watcher.join(5)
    log.close()
    if process.returncode != 0:
        raise RuntimeError(f"tail ingest exited {process.returncode}: {log_path.read_text()[-400:]}")
    new_items = int(db.scalar("SELECT COUNT(*) FROM items")) - items_before  # type: ignore[call-overload]
    begun = first[0] if first else started
    return {"tail items": new_items, "tail startup s": begun - started, "tail items/s": new_items / (ended - begun),
            "tail wall s": ended - started, "peak_rss": peak, "load": load,
            "cores busy": (os.cpu_count() or 1) * (busy_after - busy_before) / max(1, all_after - all_before)}


@dataclass
class Row:
    db: str
    items: int
    figures: dict[str, float | str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


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


def detection_settings() -> str:
    """The detection settings this tracker records (what a prefix's fingerprints were made with)."""
    from types import SimpleNamespace

    from tracker.config import DetectionConfig
    from tracker.pipeline.rebuild import settings_of

    return settings_of(SimpleNamespace(detection=DetectionConfig()))  # type: ignore[arg-type]


def build_prefix(key: Key, scratch: Path, args: argparse.Namespace) -> tuple[Database, Path, dict[str, object]]:
    """A fresh database holding the bulk prefix of `key` (settled), its tail WARC, and the manifest describing them."""
    from tracker.store.database import open_database

    commit, dirty = git_commit()  # the code that builds it: taken before, not after, the half hour it may take
    db = Database(key.kind, scratch, f"n{key.items}", args.pg_url)
    open_database(db.url).kw["bind"].dispose()
    tail_warc = scratch / f"tail-{key.label}.warc.gz"
    say(f"{key.kind} {key.items:,}: generating; bulk load of the first {max(0, key.items - key.tail):,} items")
    started = time.perf_counter()
    loaded, rest = build(db, key.items, key.tail, tail_warc, key.seed, args.workers)
    seconds = time.perf_counter() - started
    say(f"{key.kind} {key.items:,}: {loaded:,} items loaded in {seconds:.0f} s; the last {rest:,} written to {tail_warc.name}")
    started = time.perf_counter()
    db.settle()
    say(f"{key.kind} {key.items:,}: {'checkpointed' if key.kind == 'sqlite' else 'VACUUMed'} in {time.perf_counter() - started:.0f} s")
    manifest: dict[str, object] = {
        "db": key.kind, "items": key.items, "tail": key.tail, "seed": key.seed, "items loaded": loaded, "tail items": rest,
        "bulk s": round(seconds, 1), "bulk workers": args.workers or os.cpu_count(), "schema revision": db.revision(),
        "detection settings": detection_settings(), "git commit": commit, "git dirty": dirty,
        "built at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "bytes": db.size(),
    }
    return db, tail_warc, manifest


def restored_prefix(key: Key, scratch: Path, args: argparse.Namespace, cache: PrefixCache, manifest: dict[str, object],
                    row: Row) -> Prefix:
    """The cached prefix of `key`, said so, with what differs from this checkout noted."""
    from tracker.store.database import HEAD_REVISION

    where = cache.entry(key)
    built = f"built {manifest['built at']} at commit {str(manifest['git commit'])[:10]}{' (dirty)' if manifest.get('git dirty') else ''}"
    say(f"{key.kind} {key.items:,}: bulk prefix restored from the cache {where} ({int(manifest['items loaded']):,} items "  # type: ignore[call-overload]
        f"{built}, schema {manifest['schema revision']}; its build took {float(manifest['bulk s']):.0f} s); "  # type: ignore[arg-type]
        f"the tail WARC holds {int(manifest['tail items']):,} items")  # type: ignore[call-overload]
    row.figures["bulk s"] = manifest["bulk s"]  # type: ignore[assignment]
    row.figures["prefix"] = "cached"
    row.notes.append(f"{key.kind} {key.items:,}: bulk prefix from the cache {where}, {built}; 'bulk prefix s' is that build's time")
    if manifest["schema revision"] != HEAD_REVISION:
        text = (f"the cached prefix is at schema {manifest['schema revision']}, this tracker at {HEAD_REVISION}: each copy is "
                "migrated before its tail is timed (--rebuild-prefix to build it afresh)")
        say(f"{key.kind} {key.items:,}: {text}")
        row.notes.append(f"{key.kind} {key.items:,}: {text}")
    built, wanted = str(manifest["detection settings"]), detection_settings()
    if built.split("|")[0] != wanted.split("|")[0]:
        text = (f"the cached prefix was fingerprinted with detection settings {built}, this tracker "
                f"records {wanted}: tracker ingest will rebuild the detection state (--rebuild-prefix)")
        say(f"{key.kind} {key.items:,}: WARNING: {text}")
        row.notes.append(f"{key.kind} {key.items:,}: WARNING: {text}")
    elif built != wanted:
        text = (f"the cached prefix records settings {built}, this tracker {wanted}: the tail's ingest first reads the "
                "stored texts once or decides the stories again (its start-up, not its rate)")
        say(f"{key.kind} {key.items:,}: {text}")
        row.notes.append(f"{key.kind} {key.items:,}: {text}")
    return Prefix(key, scratch, args.pg_url, cache.warc(key), None, cache.source(key))


def obtain_prefix(key: Key, scratch: Path, args: argparse.Namespace, cache: PrefixCache | None, row: Row, copies: int) -> Prefix:
    """The bulk prefix of `key` for `copies` measurements: restored from the cache, or built
    (and then cached, or snapshotted when more than one measurement needs it)."""
    if cache is not None and not args.rebuild_prefix:
        manifest = cache.find(key)
        if manifest is not None:
            return restored_prefix(key, scratch, args, cache, manifest, row)
        say(f"{key.kind} {key.items:,}: no cached prefix in {cache.entry(key)}: building it")
    db, tail_warc, manifest = build_prefix(key, scratch, args)
    row.figures["bulk s"] = manifest["bulk s"]  # type: ignore[assignment]
    if cache is not None:
        started = time.perf_counter()
        cache.save(key, db, tail_warc, manifest, move=False)
        say(f"{key.kind} {key.items:,}: bulk prefix cached in {cache.entry(key)} in {time.perf_counter() - started:.0f} s")
        return Prefix(key, scratch, args.pg_url, cache.warc(key), db, cache.source(key))
    if copies > 1:
        source = str(db.path) if key.kind == "sqlite" else db.name
        snapshot = Database(key.kind, scratch, f"n{key.items}_prefix", args.pg_url, source=source)
        origin = str(snapshot.path) if key.kind == "sqlite" else snapshot.name
        return Prefix(key, scratch, args.pg_url, tail_warc, db, origin, temporary=snapshot)
    return Prefix(key, scratch, args.pg_url, tail_warc, db, None)


def log_fill(key: Key, asked: int | None) -> int:
    """Rows to put in the recent log before a tail (`Database.fill_log`). A running tracker
    merges it every `MERGE_ROWS` rows (~26k items): by default the log is 500k rows short of
    that, so that a tail of 10k items (~1.15M rows) pays for one merge, more than its share."""
    from tracker.store.recent import MERGE_ROWS

    if key.kind != "sqlite":
        return 0
    if asked is not None:
        return asked
    return MERGE_ROWS - 500_000 if key.items - key.tail >= 200_000 else 0


def measure_tail(prefix: Prefix, count: int, scratch: Path, args: argparse.Namespace, row: Row) -> Database:
    """The tail ingested with `count` processes on a fresh copy of the prefix; the figures go to
    `row` (suffixed " ×N" for N > 1); returns the database, for the caller to measure further and drop."""
    from tracker.store.database import HEAD_REVISION, open_database

    key, suffix = prefix.key, "" if count == 1 else f" ×{count}"
    db = prefix.checkout(f"n{key.items}" + ("" if count == 1 else f"_w{count}"))
    try:
        if db.revision() != HEAD_REVISION:
            started = time.perf_counter()
            open_database(db.url).kw["bind"].dispose()
            say(f"{key.kind} {key.items:,}: copy migrated to schema {db.revision()} in {time.perf_counter() - started:.0f} s")
        fill = log_fill(key, args.log_fill)
        if fill:
            held = db.fill_log(fill, key.seed)
            say(f"{key.kind} {key.items:,}: the recent log holds {held:,} rows before the tail (--log-fill)")
            row.notes.append(f"{key.kind} {key.items:,}: the LSH index's recent log held {held:,} rows (of items that do not exist) "
                             "before the tail, so that a merge falls in it")
        config = write_config(scratch / f"{key.label}-w{count}.toml", db.url)
        say(f"{key.kind} {key.items:,}: ingest of the tail (tracker ingest{' --workers ' + str(count) if count > 1 else ''}; "
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
        tail = ingest_tail(config, db, prefix.warc, scratch / f"tail-{key.label}-w{count}.log", count, args.step_timeout)
        row.figures.update({name + suffix: value for name, value in tail.items()})
        row.figures["stored" + suffix] = int(db.scalar("SELECT COUNT(*) FROM items"))  # type: ignore[call-overload]
        say(f"{key.kind} {key.items:,}: {count} process{'es' if count > 1 else ''}: {tail['tail items/s']:.0f} items/s, "
            f"start-up {tail['tail startup s']:.1f} s, peak RSS {tail['peak_rss'] / 1e6:.0f} MB, "
            f"{tail['cores busy']:.2f} of {os.cpu_count()} cores busy, {row.figures['stored' + suffix]:,} items stored")
    except BaseException:
        if not args.keep:
            with contextlib.suppress(Exception):
                db.drop()
        raise
    return db


def measure_rest(db: Database, floor: int, scratch: Path, args: argparse.Namespace, server: FeedServer, row: Row) -> None:
    """After the first tail: the sizes per item, and the start-ups of run, poll --all and ingest of one file."""
    kind, items = row.db, row.items
    stored = int(row.figures.get("stored") or db.scalar("SELECT COUNT(*) FROM items"))  # type: ignore[call-overload, arg-type]
    row.figures["index bytes/item"] = db.index_bytes() / stored
    row.figures["db bytes/item"] = (db.size() - floor) / stored
    say(f"{kind} {items:,}: start-up of run, poll --all, ingest of one file")
    config = write_config(scratch / f"{kind}-{items}.toml", db.url)
    polled = write_config(scratch / f"{kind}-{items}-poll.toml", db.url, server.url)
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


_FLOORS: dict[str, int] = {}


def empty_size(kind: str, scratch: Path, pg_server: str) -> int:
    """Bytes of a freshly migrated empty database (once per kind)."""
    from tracker.store.database import open_database

    if kind not in _FLOORS:
        db = Database(kind, scratch, "empty", pg_server)
        try:
            open_database(db.url).kw["bind"].dispose()
            _FLOORS[kind] = db.size()
        finally:
            db.drop()
    return _FLOORS[kind]


def measure(kind: str, items: int, scratch: Path, args: argparse.Namespace, server: FeedServer, cache: PrefixCache | None) -> Row:
    """Take every figure of `items` items on `kind`: the prefix (built or restored), then the tail
    once per count of --tail-workers, each on its own copy of the prefix."""
    row = Row(kind, items)
    size_started = time.perf_counter()
    key = Key(kind, items, min(args.tail, items), args.seed)
    counts = [n for n in args.tail_workers if n == 1 or kind == "postgresql"]
    for n in sorted(set(args.tail_workers) - set(counts)):
        say(f"{kind} {items:,}: tracker ingest --workers {n} needs PostgreSQL (SQLite has one writer): skipped")
        row.notes.append(f"{kind}: --workers {n} skipped (SQLite refuses it: one writer)")
    prefix: Prefix | None = None
    try:
        floor = empty_size(kind, scratch, args.pg_url) if not args.tail_only else 0
        prefix = obtain_prefix(key, scratch, args, cache, row, len(counts))
        for index, count in enumerate(counts):
            db = measure_tail(prefix, count, scratch, args, row)
            try:
                if index == 0 and not args.tail_only:
                    measure_rest(db, floor, scratch, args, server, row)
            finally:
                if not args.keep:
                    db.drop()
        stored = {n: row.figures.get("stored" + ("" if n == 1 else f" ×{n}")) for n in counts}
        if len(set(stored.values())) > 1:
            row.notes.append(f"{kind} {items:,}: WARNING: the tails stored different item counts: " +
                             ", ".join(f"{n} process(es) {v:,}" for n, v in stored.items()))  # type: ignore[str-format]
    except StepTimeout as error:
        say(str(error))
        row.figures["error"] = "timeout"
    except Exception as error:  # noqa: BLE001 (a benchmark reports and goes on to the next size)
        say(f"{kind} {items:,}: failed: {error!r}")
        row.figures["error"] = str(error)[:80]
    finally:
        if prefix is not None and not args.keep:
            prefix.close()
        row.figures["wall s"] = time.perf_counter() - size_started
    return row


def cache_only(kind: str, items: int, scratch: Path, args: argparse.Namespace, cache: PrefixCache) -> str:
    """--prefix-only: build and cache the prefix of `items` on `kind` unless it is cached already; a line saying which."""
    key = Key(kind, items, min(args.tail, items), args.seed)
    manifest = None if args.rebuild_prefix else cache.find(key)
    if manifest is None:
        db, tail_warc, manifest = build_prefix(key, scratch, args)
        try:
            started = time.perf_counter()
            manifest = cache.save(key, db, tail_warc, manifest, move=True)
            say(f"{kind} {items:,}: bulk prefix cached in {cache.entry(key)} in {time.perf_counter() - started:.0f} s")
        finally:
            db.drop()  # gone already when it was moved into the cache
        state = "built"
    else:
        state = "cached already"
    where = cache.entry(key) if kind == "sqlite" else f"{cache.entry(key)} + database {manifest['database']}"
    return (f"{kind} {items:,}: {state}: {int(manifest['items loaded']):,} items in {float(manifest['bulk s']):.0f} s "  # type: ignore[call-overload, arg-type]
            f"({manifest['built at']}, commit {str(manifest['git commit'])[:10]}, schema {manifest['schema revision']}), "
            f"tail {int(manifest['tail items']):,} items: {where}")  # type: ignore[call-overload]


COLUMNS = [
    ("db", "db"), ("items", "items"), ("wall s", "wall s"), ("bulk s", "bulk prefix s"), ("tail items/s", "ingest last 10k items/s"),
    ("tail startup s", "ingest start→1st capture s"), ("cores busy", "cores busy"), ("peak_rss", "peak RSS MB"), ("run→poll s", "run→1st poll s"),
    ("poll --all s", "poll --all→1st poll s"), ("ingest 1 file s", "ingest 1 file s"), ("index bytes/item", "index bytes/item"),
    ("db bytes/item", "DB bytes/item"),
]


def columns(rows: list[Row]) -> list[tuple[str, str]]:
    """COLUMNS, with the tails of more than one process after the one-process tail's."""
    counts = sorted({int(k.rsplit("×", 1)[1]) for r in rows for k in r.figures if k.startswith("tail items/s ×")})
    extra = [column for n in counts for column in ((f"tail items/s ×{n}", f"ingest last 10k, {n} processes items/s"),
                                                   (f"cores busy ×{n}", f"cores busy, {n} processes"),
                                                   (f"peak_rss ×{n}", f"peak RSS {n} processes MB"))]
    at = next(i for i, (key, _) in enumerate(COLUMNS) if key == "peak_rss") + 1
    return COLUMNS[:at] + extra + COLUMNS[at:]


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
    key = key.split(" ×")[0]
    if key == "peak_rss":
        return f"{value / 1e6:,.0f}"
    if key.endswith("/item") or key.endswith("items/s") or key in ("wall s", "bulk s"):
        text = f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
        return f"{text} (cached)" if key == "bulk s" and row.figures.get("prefix") == "cached" else text
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table."""
    chosen = columns(rows)
    heads = [title for _, title in chosen]
    body = [[cell(key, row) for key, _ in chosen] for row in rows]
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
            shown = f"{value:.2f}" if value is not None else "—"
            lines.append(judged(None if value is None else value <= 1.0, f"{label} start-up to the first poll ≤ 1 s ({shown} s)"))
        ok = None if rate is None or large.items < GOAL_ITEMS else rate >= 300
        judged_at = "" if large.items >= GOAL_ITEMS else f"; judged at {GOAL_ITEMS:,} items only"
        lines.append(judged(ok, f"ingest of the last 10k ≥ 300 items/s in one process ({rate or 0:,.0f} items/s{judged_at})"))
        if "tail items/s ×2" in large.figures:
            two = _number(large, "tail items/s ×2")
            ok = None if two is None or not rate else two >= 1.8 * rate
            ratio = f"{two / rate:.2f}×" if two is not None and rate else "—"
            # One ingest keeping c of the machine's cores busy (itself, its parser, the
            # server) leaves two at most cores / c times its speed, however well they share.
            busy, cores = _number(large, "cores busy"), os.cpu_count() or 1
            ceiling = f"; one process kept {busy:.2f} of {cores} cores busy: two can gain at most {cores / busy:.2f}× here" if busy else ""
            lines.append(judged(ok, f"ingest of the last 10k with 2 workers ≥ 1.8× one ({two or 0:,.0f} vs {rate or 0:,.0f} items/s: {ratio}{ceiling})"))
    return lines


LEGEND = (
    "bulk prefix: the first N−10k items stored by bench/bulk_load.py (the pipeline's rows and fingerprints, written in bulk; "
    "PostgreSQL: then VACUUMed), '(cached)': restored from --prefix-cache, the time is that build's; ingest last 10k: "
    "`tracker ingest [--workers N]` of a WARC in a fresh process on its own copy of the prefix, items/s from its first stored "
    "capture to its exit; cores busy: of the machine's, during the ingest (/proc/stat: it, its parser, the database server, "
    "anything else); peak RSS: the largest process of its tree (VmHWM, sampled); start-ups: process start to the first "
    "request to a local feed (run, poll --all), to exit (ingest of one small file); index: lsh_buckets and lsh_recent (SQLite dbstat, "
    "PostgreSQL pg_total_relation_size); DB: less a freshly migrated empty database."
)


def parse_args() -> argparse.Namespace:
    """The command line, checked: sizes, kinds and tail worker counts as lists."""
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
    parser.add_argument("--tail-workers", default="1",
                        help="comma-separated process counts for the tail's `tracker ingest --workers N`, each on a fresh copy "
                             "of the same prefix (default 1; above 1 on PostgreSQL only)")
    parser.add_argument("--tail-only", action="store_true", help="only the tail's figures: no start-ups, no sizes")
    parser.add_argument("--prefix-cache", type=Path, help="folder keeping bulk prefixes between runs (restored rather than built)")
    parser.add_argument("--rebuild-prefix", action="store_true", help="build the prefix afresh even when it is cached")
    parser.add_argument("--prefix-only", action="store_true", help="build and cache the prefixes only (needs --prefix-cache)")
    parser.add_argument("--log-fill", type=int, default=None,
                        help="SQLite: rows put in the LSH index's recent log before each tail (default: 500k short of a merge "
                             "for a prefix of 200k items or more, so that one merge falls in the tail; 0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases (in --scratch)")
    parser.add_argument("--scratch", type=Path, help="folder for scratch files and SQLite databases (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if any(k not in ("sqlite", "postgresql") for k in args.kinds):
        parser.error("--db takes sqlite and/or postgresql")
    try:
        args.tail_workers = sorted({int(n) for n in args.tail_workers.split(",") if n.strip()})
    except ValueError:
        parser.error("--tail-workers takes comma-separated counts, e.g. 1,2")
    if not args.tail_workers or min(args.tail_workers) < 1:
        parser.error("--tail-workers takes counts of 1 or more")
    if args.prefix_only and args.prefix_cache is None:
        parser.error("--prefix-only needs --prefix-cache DIR")
    return args


def main() -> None:
    args = parse_args()
    cache = PrefixCache(args.prefix_cache.resolve(), args.pg_url) if args.prefix_cache else None
    if args.prefix_only:
        assert cache is not None
        with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.scratch) as folder:
            done = [cache_only(kind, items, Path(folder), args, cache) for kind in args.kinds for items in args.sizes]
        print("\n".join(done))
        return
    rows: list[Row] = []
    server = FeedServer()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.scratch) as folder:
            scratch = Path(folder)
            (scratch / "one.xml").write_bytes(FeedServer.BODY.replace(b"bench.local/1", b"bench.local/file-1"))
            for kind in args.kinds:
                for items in args.sizes:
                    rows.append(measure(kind, items, scratch, args, server, cache))
                    print(table(rows[-1:]), file=sys.stderr, flush=True)
                    if args.json:
                        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    finally:
        server.close()
    print(table(rows))
    print()
    print("\n".join(goals(rows)))
    notes = [note for row in rows for note in row.notes]
    print("\n" + LEGEND + ("\n\n" + "\n".join(f"- {note}" for note in notes) if notes else ""))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))


if __name__ == "__main__":
    main()

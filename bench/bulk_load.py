"""Bulk prefix for the scale benchmark: the first N − 10k items of a synthetic network,
stored as `tracker ingest` would store them, in minutes rather than hours.

The rows are those the pipeline writes (publishers, feeds, captures, items, item_feeds,
item_keys, item_raws, item_attributions, item_versions, paragraph_counts, lsh_buckets)
and their values come from tracker's own functions: `to_document`, `story_paragraphs`,
`Fingerprinter`, `shingles`, `buckets_of`, `entry_keys`, `raw_hash`, `text_hash`,
`version_columns`. What differs is only how they are written: fingerprints are made by
worker processes, rows go in with executemany (PostgreSQL: binary COPY for the bucket
table) in big transactions, and the tables keyed by hash (buckets, keys, paragraph
counts) are written once, sorted, at the end.

Boilerplate follows the pipeline exactly: an item is fingerprinted without the
paragraphs its publisher repeats on `boilerplate_min_items` items counting itself, and
the earlier holders of a paragraph that becomes boilerplate are fingerprinted again
(`_reclean`). Not written: matches and provenance of the prefix (the last 10k items
find and decide them for the groups they join), and entries are not read back from the
RSS bodies with feedparser: `parsed_entry` builds the `ParsedEntry` that parsing gives
(checked against `parse_feed` on the first capture of every run, and in the tests).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_network import Entry, FeedCapture  # noqa: E402
from tracker.config import DetectionConfig  # noqa: E402
from tracker.detection.fingerprint import Fingerprinter, Fingerprints, pack_keys, shingles  # noqa: E402
from tracker.detection.identity import content_digest, entry_keys, host_of, key_hash, lookup_hash, raw_hash, text_hash  # noqa: E402
from tracker.detection.lsh import buckets_of  # noqa: E402
from tracker.model import Document, ParsedEntry  # noqa: E402
from tracker.detection.normalise import document_from_paragraphs, story_paragraphs, to_document, words_without_urls  # noqa: E402
from tracker.reader.parse import parse_feed  # noqa: E402
from tracker.pipeline.entries import LEAD_TOKENS  # noqa: E402
from tracker.pipeline.rebuild import SETTINGS, settings_of  # noqa: E402
from tracker.store import publishers as directory_store  # noqa: E402
from tracker.store import items as item_store  # noqa: E402
from tracker.store import schema, state  # noqa: E402
from tracker.store.publishers import load_directory  # noqa: E402
from tracker.store.evidence import as_signed, reposted  # noqa: E402

CHUNK = 400  # new items per task sent to a worker
IN_FLIGHT = 6  # tasks queued ahead of the writer
COMMIT_EVERY = 50_000  # items per transaction


def parsed_entry(entry: Entry) -> ParsedEntry:
    """The `ParsedEntry` that `tracker.reader.parse` reads from the network's RSS for `entry`."""
    body = "".join(f"<p>{p}</p>" for p in entry.paragraphs)
    if entry.origin:
        name, link = entry.origin
        body += f'<p>The post <a href="{link}">{entry.title}</a> appeared first on {name}.</p>'
    return ParsedEntry(
        guid=entry.link, link=entry.link, title=" ".join(entry.title.split()), author=None,
        claimed_at=entry.published.replace(tzinfo=None), content=body, content_is_html=True,
        summary=f"<p>{entry.paragraphs[0][:200]}</p>", content_chars=len(body),
    )


def check_parsing(capture: FeedCapture) -> None:
    """Refuse to go on if `parsed_entry` and the real parser disagree on a capture."""
    real = parse_feed(capture.body, "application/rss+xml").entries
    built = tuple(parsed_entry(e) for e in capture.entries)
    if real != built:
        for a, b in zip(real, built):
            if a != b:
                raise AssertionError(f"parsed_entry differs from parse_feed:\n{a}\n{b}")
        raise AssertionError("parsed_entry differs from parse_feed")
    # The escaping the generator applies never changes its texts (made-up words, plain punctuation).
    assert all(unescape(p) == p for e in capture.entries for p in e.paragraphs)


def fingerprints(fingerprinter: Fingerprinter, shingle_size: int, document: Document, title: str, boilerplate: set[int],
                 names: list[str]) -> Fingerprints:
    """`Pipeline.fingerprints` with the publisher's boilerplate given rather than queried."""
    indices = story_paragraphs(document, title, boilerplate, names)
    words = document.words(indices)
    return Fingerprints(
        story_text="\n".join(document.paragraphs[i] for i in indices),
        story=fingerprinter.fingerprint(words),
        lead=fingerprinter.fingerprint(words[:LEAD_TOKENS]),
        full=shingles(words_without_urls(document), shingle_size),
    )


# -- the worker processes ----------------------------------------------------------------------
_W: dict[str, Any] = {}


def _init_worker(detection: DetectionConfig) -> None:
    _W["d"] = detection
    _W["fp"] = Fingerprinter(detection.num_perm, detection.shingle_size)


@dataclass
class Made:
    """One new item, fingerprinted: what the writer stores of it."""

    entry: ParsedEntry
    document: Document  # without its tokens, which cost more to send back than to make again
    used: frozenset[int]  # the boilerplate it was fingerprinted without
    columns: dict[str, object]
    buckets: np.ndarray


def make(entry: ParsedEntry, publisher_id: int, boilerplate: set[int], d: DetectionConfig, fp: Fingerprinter,
         names: list[str]) -> Made:
    """Read, fingerprint and bucket one new item."""
    document = to_document(entry)
    return made_from(entry, document, publisher_id, boilerplate, d, fp, names)


def made_from(entry: ParsedEntry, document: Document, publisher_id: int, boilerplate: set[int], d: DetectionConfig,
              fp: Fingerprinter, names: list[str]) -> Made:
    used = frozenset(k for k in document.keys if k in boilerplate)
    prints = fingerprints(fp, d.shingle_size, document, entry.title, set(used), names)
    signatures = [prints.story.signature, prints.lead.signature]
    buckets = np.fromiter(buckets_of(signatures, d.lsh_bands, d.lsh_rows), dtype=np.int64)
    light = Document(document.paragraphs, (), document.keys, document.attributions)
    return Made(entry, light, used, state.version_columns(prints), buckets)


def _work(task: list[tuple[ParsedEntry, int]], boilerplate: dict[int, set[int]], names: dict[int, list[str]]) -> list[Made]:
    d, fp = _W["d"], _W["fp"]
    return [make(entry, pid, boilerplate.get(pid, set()), d, fp, names[pid]) for entry, pid in task]


# -- the writer ------------------------------------------------------------------------------
class Loader:
    """Stores captures of the prefix; `finish` writes the hash-keyed tables and the settings."""

    def __init__(self, engine: Engine, detection: DetectionConfig, workers: int, say: Callable[[str], None]) -> None:
        self.engine = engine
        self.d = detection
        self.say = say
        self.postgres = engine.dialect.name == "postgresql"
        if not self.postgres:
            event.listen(engine, "connect", _fast_sqlite)
        self.fp = Fingerprinter(detection.num_perm, detection.shingle_size)
        # Forked before any connection is opened: the workers hold none.
        ctx = multiprocessing.get_context("fork")
        self.pool = ctx.Pool(workers, initializer=_init_worker, initargs=(detection,)) if workers else None
        self.session = Session(engine)
        self.next_item = int(self.conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM items").scalar_one()) + 1
        self.next_version = int(self.conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM item_versions").scalar_one()) + 1
        self._ids: dict[str, int] = {}
        self.feed_ids: dict[str, int] = {}
        self.publisher_of_feed: dict[int, int] = {}
        self.names: dict[int, list[str]] = {}
        self.counts: dict[tuple[int, int], list[int]] = {}  # (publisher, key) -> holders, or [-count] once boilerplate
        self.boilerplate: dict[int, set[int]] = {}
        self.bucket_parts: list[np.ndarray] = []
        self.item_parts: list[np.ndarray] = []
        self.recleaned: dict[int, np.ndarray] = {}
        self.keys: list[tuple[int, str, int]] = []
        self.sightings: dict[int, list[Any]] = {}
        self.items = 0
        self.since_commit = 0
        self.checked = False

    @property
    def conn(self) -> Any:
        """The session's connection (a new transaction after each commit)."""
        return self.session.connection()

    # -- directory -------------------------------------------------------------------------
    def _feed(self, capture: FeedCapture) -> None:
        """A feed's row and its publisher's, as the pipeline makes them for an archive's feed (named by its title)."""
        if capture.url not in self.feed_ids:
            p = capture.publisher
            assert p is not None
            site = f"https://{p.host}/"
            pid = directory_store.insert_publisher(self.session, p.name, host_of(site), "feed_title")
            fid = directory_store.insert_feed(self.session, capture.url, pid, p.name, site, False, capture.captured_at.replace(tzinfo=None))
            self.feed_ids[capture.url] = fid
            self.publisher_of_feed[fid] = pid
            directory = load_directory(self.session)
            self.names = {pid: directory.names_of(pid) for pid in set(self.publisher_of_feed.values())}

    # -- the stream ------------------------------------------------------------------------------
    def load(self, captures: Iterator[FeedCapture]) -> None:
        """Store every capture of `captures` (all of them: the caller stops the stream)."""
        pending: deque[tuple[list[FeedCapture], Any]] = deque()
        batch: list[FeedCapture] = []
        fresh = 0
        try:
            for capture in captures:
                if not self.checked:
                    check_parsing(capture)
                    self.checked = True
                batch.append(capture)
                fresh += capture.new_items
                if fresh >= CHUNK:
                    pending.append((batch, self._submit(batch)))
                    batch, fresh = [], 0
                    while len(pending) > IN_FLIGHT:
                        self._store(*pending.popleft())
            if batch:
                pending.append((batch, self._submit(batch)))
            while pending:
                self._store(*pending.popleft())
        finally:
            if self.pool is not None:
                self.pool.close()
                self.pool.join()

    def _submit(self, batch: list[FeedCapture]) -> Any:
        task = []
        for capture in batch:
            self._feed(capture)
            pid = self.publisher_of_feed[self.feed_ids[capture.url]]
            task.extend((parsed_entry(e), pid) for e in capture.entries[: capture.new_items])
        publishers = {pid for _, pid in task}
        snapshot = {pid: set(self.boilerplate.get(pid, ())) for pid in publishers}
        names = {pid: self.names[pid] for pid in publishers}
        if self.pool is None:
            _init_worker(self.d)
            return SimpleNamespace(get=lambda: _work(task, snapshot, names))
        return self.pool.apply_async(_work, (task, snapshot, names))

    def _store(self, batch: list[FeedCapture], result: Any) -> None:
        made = iter(result.get())
        items, feeds, raws, versions, credits, captures = [], [], [], [], [], []
        fresh_holders: set[int] = set()
        for capture in batch:
            fid = self.feed_ids[capture.url]
            pid = self.publisher_of_feed[fid]
            when = capture.captured_at.replace(tzinfo=None)
            captures.append({
                "feed_id": fid, "captured_at": when, "kind": "response", "body_digest": content_digest(capture.body),
                "source": "bench/bulk_load", "status": 200, "payload_digest": None, "bytes": len(capture.body),
                "entries": len(capture.entries), "new_items": capture.new_items, "updates": 0, "error": None,
                "error_kind": None, "duration_ms": None,
            })
            for listed in capture.entries[capture.new_items :]:
                self.sightings[self._ids[listed.link]][2] = when
            for _ in range(capture.new_items):
                m = next(made)
                entry, document = m.entry, m.document
                item_id = self.next_item
                self.next_item += 1
                self._ids[entry.link] = item_id
                keys = entry_keys(entry)
                items.append({
                    "id": item_id, "publisher_id": pid, "identity": keys[0], "identity_hash": key_hash(keys[0]), "url": entry.link,
                    "url_hash": lookup_hash(entry.link), "title": entry.title, "author": entry.author,
                    "claimed_at": entry.claimed_at, "first_seen_at": when,
                })
                self.sightings[item_id] = [fid, when, when]
                raws.append({"item_id": item_id, "raw_hash": raw_hash(entry)})
                self.keys.extend((pid, h, item_id) for h in dict.fromkeys(key_hash(k) for k in keys))
                for credit in document.attributions:
                    credits.append({"item_id": item_id, "kind": credit.kind, "name": credit.name, "url": credit.url,
                                    "url_hash": lookup_hash(credit.url) if credit.url else None})
                fresh_holders |= self._count(pid, item_id, document.keys)
                now = frozenset(k for k in document.keys if k in self.boilerplate.get(pid, ()))
                if now != m.used:
                    full = document_from_paragraphs(document.paragraphs, document.attributions)
                    m = made_from(entry, full, pid, set(now), self.d, self.fp, self.names[pid])
                versions.append({
                    "id": self.next_version, "item_id": item_id, "version": 1, "content_hash": text_hash(entry.title, document.paragraphs),
                    "seen_at": when, "raw_hash": raw_hash(entry), "title": entry.title, "text": document.text,
                    **m.columns, "paragraph_keys": pack_keys(document.keys),
                })
                self.next_version += 1
                self.bucket_parts.append(m.buckets)
                self.item_parts.append(np.full(m.buckets.size, item_id, dtype=np.int32))
        s = schema
        conn = self.conn
        conn.execute(insert(s.Capture.__table__), captures)
        for table, rows in ((s.Item, items), (s.ItemRaw, raws), (s.ItemAttribution, credits), (s.ItemVersion, versions)):
            if rows:
                conn.execute(insert(table.__table__), rows)
        if fresh_holders:
            self._reclean(fresh_holders)
        self.items += len(items)
        self.since_commit += len(items)
        if self.since_commit >= COMMIT_EVERY:
            self.session.commit()
            self.since_commit = 0
            self.say(f"  bulk: {self.items:,} items stored")

    def _count(self, pid: int, item_id: int, keys: tuple[int, ...]) -> set[int]:
        """`evidence.ParagraphCounter` over a whole run: the earlier holders of paragraphs that became boilerplate."""
        fresh: set[int] = set()
        new = set(keys)
        new -= reposted(new, lambda key: [i for i in self.counts.get((pid, key), []) if i >= 0])  # as the counter does
        for key in new:
            held = self.counts.setdefault((pid, key), [])
            if held and held[0] < 0:
                held[0] -= 1
                continue
            if len(held) + 1 >= self.d.boilerplate_min_items:
                fresh.update(held)
                self.counts[(pid, key)] = [-(len(held) + 1)]
                self.boilerplate.setdefault(pid, set()).add(key)
            else:
                held.append(item_id)
        fresh.discard(item_id)
        return fresh

    def _reclean(self, holders: set[int]) -> None:
        """`Pipeline._reclean` of items already written: new fingerprints, new buckets."""
        pids = dict(self.conn.execute(text("SELECT id, publisher_id FROM items WHERE id IN (" + ",".join(map(str, holders)) + ")")).all())
        for item_id in sorted(holders):
            pid = pids[item_id]
            found: set[int] = set()
            for version_id, body, title in item_store.texts_of_item(self.session, item_id):
                document = document_from_paragraphs(body.split("\n") if body else [])
                used = {k for k in document.keys if k in self.boilerplate.get(pid, ())}
                prints = fingerprints(self.fp, self.d.shingle_size, document, title, used, self.names[pid])
                item_store.update_version(self.session, version_id, state.version_columns(prints))
                found |= buckets_of([prints.story.signature, prints.lead.signature], self.d.lsh_bands, self.d.lsh_rows)
            self.recleaned[item_id] = np.fromiter(found, dtype=np.int64)

    # -- the end ---------------------------------------------------------------------------------
    def finish(self) -> None:
        """Sightings, identity keys, paragraph counts and buckets, sorted; the detection settings."""
        conn = self.conn
        self.say("  bulk: sightings, keys, paragraph counts")
        rows = [{"item_id": i, "feed_id": f, "first_seen_at": a, "last_seen_at": b} for i, (f, a, b) in sorted(self.sightings.items())]
        for start in range(0, len(rows), 100_000):
            conn.execute(insert(schema.ItemFeed.__table__), rows[start : start + 100_000])
        self.keys.sort()
        for start in range(0, len(self.keys), 100_000):
            conn.execute(insert(schema.ItemKey.__table__),
                         [{"publisher_id": p, "key_hash": h, "item_id": i} for p, h, i in self.keys[start : start + 100_000]])
        ordered = sorted(self.counts)
        for start in range(0, len(ordered), 100_000):
            conn.execute(insert(schema.ParagraphCount.__table__), [_count_row(pid, key, self.counts[(pid, key)]) for pid, key in ordered[start : start + 100_000]])
        del ordered
        self.counts = {}
        self.say("  bulk: LSH buckets")
        buckets = np.concatenate(self.bucket_parts) if self.bucket_parts else np.empty(0, np.int64)
        owners = np.concatenate(self.item_parts) if self.item_parts else np.empty(0, np.int32)
        self.bucket_parts, self.item_parts = [], []
        if self.recleaned:
            keep = ~np.isin(owners, np.fromiter(self.recleaned, dtype=np.int32))
            buckets = np.concatenate([buckets[keep], *self.recleaned.values()])
            owners = np.concatenate([owners[keep], *(np.full(b.size, i, np.int32) for i, b in self.recleaned.items())])
        order = np.lexsort((owners, buckets))
        buckets, owners = buckets[order], owners[order]
        if self.postgres:
            _copy_buckets(conn, buckets, owners)
        else:
            raw = conn.connection.driver_connection
            for start in range(0, buckets.size, 1_000_000):
                raw.executemany("INSERT INTO lsh_buckets (bucket, item_id) VALUES (?, ?)",
                                zip(buckets[start : start + 1_000_000].tolist(), owners[start : start + 1_000_000].tolist()))
        state.set_meta(self.session, SETTINGS, settings_of(SimpleNamespace(detection=self.d)))  # type: ignore[arg-type]
        if self.postgres:
            for table in ("items", "item_versions"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        self.session.commit()
        self.session.close()
        with self.engine.connect() as conn:
            if self.postgres:
                for table in ("items", "item_versions", "item_keys", "lsh_buckets", "paragraph_counts", "item_feeds", "captures"):
                    conn.exec_driver_sql(f"ANALYZE {table}")
                conn.commit()
            else:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _count_row(pid: int, key: int, held: list[int]) -> dict[str, object]:
    boilerplate = bool(held) and held[0] < 0
    return {"publisher_id": pid, "key": as_signed(key), "item_count": -held[0] if boilerplate else len(held),
            "holders": "" if boilerplate else " ".join(map(str, held))}


def share_niceness(engine: Engine) -> None:
    """Give the PostgreSQL backends of a niced process (`nice -n 19 bench/scale.py ...`) its
    niceness, so the server's share of the work (inserts, COPY, VACUUM, CREATE DATABASE)
    also runs on idle CPU only. Needs the right to renice them (root, or the server's
    user); without it the backends keep their priority."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    if mine <= 0 or engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _renice(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = int(cursor.fetchone()[0])
        dbapi_connection.rollback()  # no transaction left open before SQLAlchemy sets the isolation level
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, backend, mine)


def _fast_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Scratch database, written once: durability is not the point here.
    dbapi_connection.execute("PRAGMA synchronous=OFF")
    dbapi_connection.execute("PRAGMA cache_size=-1000000")


def _copy_buckets(conn: Any, buckets: np.ndarray, owners: np.ndarray) -> None:
    """Bucket rows by PostgreSQL's binary COPY, built with numpy (a Python loop of 128 M rows is not)."""
    row = np.dtype([("n", ">i2"), ("l1", ">i4"), ("b", ">i8"), ("l2", ">i4"), ("i", ">i4")])
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy("COPY lsh_buckets (bucket, item_id) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        for start in range(0, buckets.size, 2_000_000):
            part = np.empty(min(2_000_000, buckets.size - start), dtype=row)
            part["n"], part["l1"], part["l2"] = 2, 8, 4
            part["b"] = buckets[start : start + part.size]
            part["i"] = owners[start : start + part.size]
            copy.write(part.tobytes())
        copy.write((-1).to_bytes(2, "big", signed=True))


def bulk_load(url: str, captures: Iterator[FeedCapture], detection: DetectionConfig,
              say: Callable[[str], None], workers: int | None = None) -> int:
    """Store `captures` (an already-migrated database at `url`); return the items stored."""
    from tracker.store.database import create_db_engine

    engine = create_db_engine(url)
    share_niceness(engine)
    try:
        loader = Loader(engine, detection, os.cpu_count() or 2 if workers is None else workers, say)
        started = time.perf_counter()
        loader.load(captures)
        loader.finish()
        say(f"  bulk: {loader.items:,} items in {time.perf_counter() - started:.0f} s")
        return loader.items
    finally:
        engine.dispose()

"""The scale benchmark's pieces: the synthetic network, the band-table measurement, the table."""

from __future__ import annotations

import json
import urllib.request
import os
from collections import Counter
from pathlib import Path

import feedparser
import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.band_tables import band_hashes, postgresql_sizes, sqlite_sizes
import subprocess
import sys

from bench.bulk_load import bulk_load, check_parsing
from bench.scale import FeedServer, Row, goals, table
from bench.synthetic_network import Network, WarcOut, write_network
from tracker.config import DetectionConfig
from tracker.store import buckets
from tracker.store.database import open_database
from tests.conftest import make_pipeline
from tracker.ingest.archives import ingest_paths


def test_network_holds_exactly_the_items_asked_for_each_distinct() -> None:
    links: Counter[str] = Counter()
    new = 0
    times = []
    for capture in Network(seed=3).captures(700):
        new += capture.new_items
        times.append(capture.captured_at)
        feed = feedparser.parse(capture.body)
        assert not feed.bozo
        links.update(entry.link for entry in feed.entries)
    assert new == 700
    assert len(links) == 700
    assert times == sorted(times)
    # Feeds list some items again, as real feeds do.
    assert max(links.values()) > 1


def test_network_is_deterministic() -> None:
    first = [c.body for c in Network(seed=5).captures(200)]
    again = [c.body for c in Network(seed=5).captures(200)]
    other = [c.body for c in Network(seed=6).captures(200)]
    assert first == again
    assert first != other


def test_tracker_finds_copies_excerpts_and_rewrites_and_no_copy_between_originals(tmp_path: Path) -> None:
    bulk, tail = write_network(800, 300, tmp_path / "bulk.warc.gz", tmp_path / "tail.warc.gz", seed=2)
    assert bulk.items + tail.items == 800
    assert 250 <= tail.items <= 320
    url = f"sqlite:///{tmp_path / 'net.sqlite3'}"
    pipeline = make_pipeline(url)
    report = ingest_paths(pipeline, [bulk.path, tail.path], workers=0)
    assert report.new_items == 800
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT url, relation FROM item_provenance")).all()
    engine.dispose()
    relations = Counter(relation for _, relation in rows)
    assert relations["copy"] >= 100 and relations["excerpt"] >= 40 and relations["rewrite"] >= 20
    originators = ("northwindherald", "lakesidecourier", "capitalledger", "harbourpost", "valleytribune", "summitdaily",
                   "riversidegazette", "frontierobserver", "meridiantimes", "coastalchronicle")
    originals = [relation for link, relation in rows if link.split("/")[2].split(".")[0] in originators]
    assert len(originals) > 400
    # Distinct articles are never taken for copies of each other.
    assert set(originals) == {"original"}


def test_band_hashes_are_bigints_that_agree_exactly_when_a_band_agrees() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2**32, size=128, dtype=np.uint32)
    b = a.copy()
    b[2:] = rng.integers(0, 2**32, size=126, dtype=np.uint32)  # only band 0 (rows 0-1) is shared
    ha, hb = band_hashes(a, 64, 2), band_hashes(b, 64, 2)
    assert all(-(2**63) <= h < 2**63 for h in ha)
    assert ha[0] == hb[0]
    assert sum(x == y for x, y in zip(ha, hb)) == 1
    # The same rows in another band hash differently: bands never collide with each other.
    c = np.concatenate([a[2:4], a[0:2], a[4:]])
    assert band_hashes(c, 64, 2)[1] != ha[0]


def test_sqlite_band_table_grows_with_bands() -> None:
    wide = {s.layout: s for s in sqlite_sizes(400, 64, 2)}
    narrow = {s.layout: s for s in sqlite_sizes(400, 16, 8)}
    plain = wide["table + btree"]
    # 128 rows per version of 12+ bytes each, in table and index alike.
    assert plain.table > 128 * 12 and plain.index > 128 * 10
    assert narrow["table + btree"].total < plain.total / 2
    assert wide["WITHOUT ROWID pk"].total < plain.total


@pytest.mark.postgres
def test_postgresql_band_table_sizes(pg_server: str) -> None:
    sizes = {s.layout: s for s in postgresql_sizes(pg_server, 300, 32, 4)}
    assert sizes["table + btree"].table > 64 * 12 and sizes["table + btree"].index > 64 * 8
    assert sizes["BIGINT[] + GIN"].index > 0


def test_feed_server_notes_the_first_request() -> None:
    server = FeedServer()
    try:
        assert server.first_request is None
        with urllib.request.urlopen(server.url, timeout=5) as answer:
            body = answer.read()
        assert feedparser.parse(body).entries[0].title == "Bench item"
        assert server.first_request is not None
    finally:
        server.close()


def test_table_shows_figures_timeouts_and_failures() -> None:
    done = Row("sqlite", 10_000, {"tail items/s": 123.4, "peak_rss": 456e6, "run→poll s": 1.234, "poll --all s": "> 60",
                                  "db bytes/item": 7890.0})
    failed = Row("postgresql", 100_000, {"error": "timeout"})
    lines = table([done, failed]).splitlines()
    assert "ingest last 10k items/s" in lines[0]
    assert "10,000" in lines[2] and "123" in lines[2] and "456" in lines[2] and "1.23" in lines[2] and "> 60" in lines[2]
    assert "7,890" in lines[2]
    assert "error" in lines[3]


def test_goals_compare_the_largest_size_with_the_smallest() -> None:
    small = Row("sqlite", 10_000, {"tail items/s": 100.0, "peak_rss": 200e6, "run→poll s": 0.5})
    large = Row("sqlite", 1_000_000, {"tail items/s": 60.0, "peak_rss": 210e6, "run→poll s": 1.5})
    judged = goals([small, large])
    assert judged[0].startswith("- [MISSED]") and "60 vs 100" in judged[0]
    assert judged[1].startswith("- [met]")
    assert judged[2].startswith("- [MISSED]") and "tracker run" in judged[2]
    assert judged[3].startswith("- [n/a]")


def test_two_workers_are_judged_against_what_the_cores_left_them() -> None:
    small = Row("postgresql", 10_000, {"tail items/s": 100.0, "peak_rss": 200e6})
    large = Row("postgresql", 1_000_000, {"tail items/s": 100.0, "peak_rss": 200e6, "cores busy": 1.25, "tail items/s ×2": 150.0})
    line = goals([small, large])[-1]
    assert line.startswith("- [MISSED]") and "1.50×" in line
    cores = os.cpu_count() or 1
    assert f"one process kept 1.25 of {cores} cores busy: two can gain at most {cores / 1.25:.2f}× here" in line


# The checks the bulk prefix answers for: the same rows as `tracker ingest`.
_SAME = {
    "items": "SELECT id, publisher_id, identity, identity_hash, url, url_hash, title, author, claimed_at, first_seen_at FROM items ORDER BY id",
    "item_feeds": "SELECT * FROM item_feeds ORDER BY item_id, feed_id",
    "item_keys": "SELECT * FROM item_keys ORDER BY 1, 2, 3",
    "item_raws": "SELECT * FROM item_raws ORDER BY 1, 2",
    "credits": "SELECT item_id, kind, name, url, url_hash FROM item_attributions ORDER BY id",
    "versions": "SELECT id, item_id, version, content_hash, seen_at, title, text, story_text, signature, shingle_count, full_count, "
                "story_shingles, full_shingles, lead_signature, paragraph_keys, raw_hash FROM item_versions ORDER BY id",
    "paragraph_counts": "SELECT * FROM paragraph_counts ORDER BY 1, 2",
    "settings": "SELECT * FROM tracker_meta WHERE name = 'detection_settings'",
    "captures": "SELECT feed_id, captured_at, kind, entries, new_items FROM captures ORDER BY id",
    "feeds": "SELECT f.id, f.url, f.title, f.site_url, f.active, p.name, p.site_host, p.name_source FROM feeds f "
             "JOIN publishers p ON p.id = f.publisher_id ORDER BY f.id",
}


def test_bulk_prefix_stores_exactly_what_tracker_ingest_stores(tmp_path: Path) -> None:
    captures = list(Network(seed=2).captures(500))
    warc = WarcOut(tmp_path / "all.warc.gz")
    for capture in captures:
        warc.write(capture)
    warc.close()
    real, bulk = f"sqlite:///{tmp_path / 'real.sqlite3'}", f"sqlite:///{tmp_path / 'bulk.sqlite3'}"
    ingest_paths(make_pipeline(real), [warc.path], workers=0)
    open_database(bulk).kw["bind"].dispose()
    assert bulk_load(bulk, iter(captures), DetectionConfig(), lambda _: None, workers=1) == 500
    engines = sa.create_engine(real), sa.create_engine(bulk)
    try:
        with engines[0].connect() as a, engines[1].connect() as b:
            for name, query in _SAME.items():
                assert a.execute(sa.text(query)).all() == b.execute(sa.text(query)).all(), name
            # The LSH index, whichever of its tables holds each row (the ingest's are in its recent log).
            assert buckets.index_rows(Session(a)) == buckets.index_rows(Session(b))
            # Mirrors' chrome became boilerplate, and its earlier holders were fingerprinted again.
            assert b.execute(sa.text("SELECT COUNT(*) FROM paragraph_counts WHERE holders = ''")).scalar_one() > 0
    finally:
        for engine in engines:
            engine.dispose()


def test_built_entries_are_what_the_parser_reads() -> None:
    for capture in list(Network(seed=4).captures(300))[:40]:
        check_parsing(capture)


def test_bench_runs_at_a_tiny_size_on_sqlite(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "bench/scale.py", "--sizes", "160", "--tail", "60", "--db", "sqlite", "--startup-timeout", "60",
         "--workers", "1", "--scratch", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    row = next(line for line in lines if line.startswith("| sqlite"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "160" and "error" not in cells and "—" not in cells
    assert sum(line.startswith("- [") for line in lines) == 6
    assert any(line.startswith("- [n/a]") and "≥ 300 items/s" in line for line in lines)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "bench/scale.py", "--sizes", "160", "--tail", "60", "--workers", "1", *args],
                         cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_cached_prefix_is_restored_not_built_and_never_written_to(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    common = ["--db", "sqlite", "--prefix-cache", str(cache), "--scratch", str(tmp_path)]
    built = _bench(*common, "--prefix-only")
    assert "bulk load of the first 100 items" in built.stderr and built.stdout.startswith("sqlite 160: built")
    manifest = json.loads((cache / "sqlite-160-60-1" / "manifest.json").read_text())
    assert manifest["items loaded"] + manifest["tail items"] == 160 and manifest["schema revision"]
    kept = _files(cache)
    again = _bench(*common, "--tail-only", "--tail-workers", "1,2", "--json", str(tmp_path / "again.json"))
    assert "bulk load" not in again.stderr and "restored from the cache" in again.stderr
    assert "needs PostgreSQL" in again.stderr
    figures = json.loads((tmp_path / "again.json").read_text())[0]["figures"]
    # The prefix's items and the tail's: every item the network holds, none twice.
    assert figures["tail items"] == manifest["tail items"] and figures["stored"] == 160
    assert figures["bulk s"] == manifest["bulk s"]
    assert "(cached)" in next(line for line in again.stdout.splitlines() if line.startswith("| sqlite"))
    assert _files(cache) == kept

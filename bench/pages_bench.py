"""What article pages cost and whether the result depends on archive order.

    python bench/pages_bench.py /work/shared/worlds/summary-dev [--score /work/shared/eval/score.py]

Ingests the world's archive three ways into fresh SQLite databases: as it is, with every
record shuffled (pages before their feed entries, and after), and with `pages = "never"`
on every feed. Prints the time and database size of each, the cost per page (seconds,
bytes), whether the shuffled archive gave the same provenance rows, and the scores.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter


def shuffled_copy(source: Path, target: Path, seed: int = 14) -> int:
    """The archive's records in a random order (each record copied byte for byte)."""
    records: list[bytes] = []
    with source.open("rb") as stream:
        for record in ArchiveIterator(stream):
            out = io.BytesIO()
            WARCWriter(out, gzip=True).write_record(record)
            records.append(out.getvalue())
    random.Random(seed).shuffle(records)
    with target.open("wb") as stream:
        for raw in records:
            stream.write(raw)
    return len(records)


def ingest(world: Path, archive: Path, db: Path, never: bool) -> tuple[float, float]:
    """Ingest into a fresh database with the world's feeds; (wall seconds, CPU seconds) taken.
    CPU time is the figure to compare on a shared machine: wall time varies with the load."""
    feeds = (world / "feeds.toml").read_text()
    if never:
        feeds = feeds.replace("[[feeds]]\n", '[[feeds]]\npages = "never"\n')
    config = db.with_suffix(".toml")
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n\n{feeds}')
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", str(archive)],
                   check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - started, cpu


def extraction_ms(archive: Path) -> tuple[int, float]:
    """(pages, CPU milliseconds per page) of extracting the archive's HTML pages' articles."""
    from tracker.reader.pages import extract_article, is_html

    pages, spent = 0, 0.0
    with archive.open("rb") as stream:
        for record in ArchiveIterator(stream):
            kind = record.http_headers.get_header("Content-Type") if record.http_headers else None
            if record.rec_type != "response" or not kind or not is_html(kind, b""):
                continue
            body = record.content_stream().read()
            started = time.process_time()
            extract_article(body, record.rec_headers.get_header("WARC-Target-URI"), kind)
            spent += time.process_time() - started
            pages += 1
    return pages, spent / max(1, pages) * 1000


def rows(db: Path) -> set[tuple[object, ...]]:
    """Provenance as URLs: (item, original, parent, relation)."""
    with sqlite3.connect(db) as conn:
        return set(conn.execute(
            "SELECT p.url, o.url, par.url, p.relation FROM item_provenance p JOIN items o ON o.id = p.original_item_id "
            "LEFT JOIN items par ON par.id = p.parent_item_id"
        ))


def page_figures(db: Path) -> dict[str, float]:
    """Pages stored, the bytes their rows and their items' page versions take."""
    with sqlite3.connect(db) as conn:
        pages, used = conn.execute("SELECT count(*), (SELECT count(*) FROM item_pages WHERE state = 'used') FROM pages").fetchone()
        text = conn.execute("SELECT coalesce(sum(length(text)), 0) FROM pages").fetchone()[0]
        versions = conn.execute(
            "SELECT coalesce(sum(length(text) + length(story_text) + length(story_shingles) + length(full_shingles) "
            "+ length(signature) + length(lead_signature) + length(paragraph_keys)), 0) FROM item_versions WHERE from_page"
        ).fetchone()[0]
    return {"pages": pages, "used": used, "page_text_bytes": text, "page_version_bytes": versions}


def score(script: Path, world: Path, db: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, str(script), str(world / "truth.jsonl"), "--db", f"sqlite:///{db}"],
                         check=True, capture_output=True, text=True).stdout
    found = json.loads(out)
    return {k: found[k] for k in ("pair_f1", "origin_accuracy", "parent_accuracy")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("world", type=Path)
    parser.add_argument("--score", type=Path, default=Path("/work/shared/eval/score.py"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pages-bench-") as scratch:
        folder = Path(scratch)
        archive = args.world / "world.warc.gz"
        shuffled = folder / "shuffled.warc.gz"
        shuffled_copy(archive, shuffled)
        runs = {}
        for name, source, never in (("in order", archive, False), ("shuffled", shuffled, False), ("pages never", archive, True)):
            db = folder / f"{name.replace(' ', '_')}.sqlite3"
            wall, cpu = ingest(args.world, source, db, never)
            runs[name] = (db, cpu, db.stat().st_size)
            line = f"{name:12} {wall:6.1f} s wall {cpu:6.1f} s CPU  {db.stat().st_size / 1e6:6.1f} MB"
            if args.score.exists():
                line += f"  {score(args.score, args.world, db)}"
            print(line)
        same = rows(runs["in order"][0]) == rows(runs["shuffled"][0])
        extracted, per_page = extraction_ms(archive)
        print(f"extracting {extracted} pages' articles: {per_page:.1f} ms of CPU each (done in every run: pages are stored whatever the setting)")
        print(f"shuffled archive gives the same provenance rows: {same}")
        figures = page_figures(runs["in order"][0])
        pages = max(1, int(figures["pages"]))
        extra_seconds = runs["in order"][1] - runs["pages never"][1]
        extra_bytes = runs["in order"][2] - runs["pages never"][2]
        print(f"{int(figures['pages'])} pages, {int(figures['used'])} used as item text; per page: "
              f"{extra_seconds / pages * 1000:.1f} ms of CPU beyond extraction (its version fingerprinted, matched, decided), {extra_bytes / pages / 1024:.1f} KiB of database "
              f"(article text {figures['page_text_bytes'] / pages / 1024:.1f} KiB, "
              f"page version {figures['page_version_bytes'] / max(1, figures['used']) / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()

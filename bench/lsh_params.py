"""Benchmark: LSH bands × rows — candidate recall, candidates per item, band-table bytes.

    .venv/bin/python bench/lsh_params.py --world ../shared/worlds/dev

Ingests the world once with `tracker ingest` (or reads `--config FILE`'s database, an
already ingested one), reads the stored story and lead signatures of every version
(128 permutations) and, for each candidate (bands, rows) setting, buckets them as
`tracker.detection.lsh` does for the `lsh_buckets` table (story and lead of every version) and reports:

- candidate recall of the truth's copy, excerpt and rewrite pairs: a pair is found when
  a query with either item's story or lead returns the other (the pipeline queries with
  whichever of the two it stores second);
- candidates per item: other items a query returns, to be verified exactly (the cost);
- the bytes per item of an SQL band table (band_hash BIGINT, version_id INT) with a
  btree index on band_hash, measured by building one for `--versions` synthetic versions
  on SQLite and on PostgreSQL (`band_tables`), table and index apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from band_tables import Size, postgresql_sizes, sqlite_sizes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [(64, 2), (42, 3), (32, 4), (25, 5), (21, 6), (16, 8)]
KINDS = ("copy", "excerpt", "rewrite")


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ingest_world(world: Path, folder: Path) -> tuple[str, Path]:
    """Ingest the world into a new SQLite database with the tracker; return its URL and config."""
    db = folder / "world.sqlite3"
    config = folder / "world.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n\n' + (world / "feeds.toml").read_text())
    say(f"ingesting {world / 'world.warc.gz'} (tracker ingest)")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tracker", "--config", str(config), "ingest", "--no-progress", str(world / "world.warc.gz")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    say(f"ingested in {time.perf_counter() - started:.0f} s")
    return f"sqlite:///{db}", config


def truth_pairs(world: Path) -> list[tuple[str, str, str]]:
    """(copy link, parent link, kind) of every copy, excerpt and rewrite in the truth."""
    pairs = []
    for line in (world / "truth.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("kind") in KINDS and row.get("parent"):
            pairs.append((row["link"], row["parent"], row["kind"]))
    return pairs


@dataclass
class Corpus:
    """The stored versions of every item: story shingles, story and lead signatures."""

    urls: dict[int, str]
    versions: dict[int, list[tuple[np.ndarray, bytes, bytes]]]


def load_corpus(config_path: Path) -> tuple[Corpus, int]:
    """Every item's stored fingerprints, as the tracker wrote them."""
    import sqlalchemy as sa

    from tracker.config import load_config
    from tracker.detection.fingerprint import unpack_shingles

    config = load_config(config_path)
    engine = sa.create_engine(config.database.url)
    corpus = Corpus({}, defaultdict(list))
    with engine.connect() as conn:
        for item_id, url, identity in conn.execute(sa.text("SELECT id, url, identity FROM items")):
            corpus.urls[item_id] = url or identity
        for item_id, story, signature, lead in conn.execute(sa.text(
            "SELECT item_id, story_shingles, signature, lead_signature FROM item_versions ORDER BY item_id, version"
        )):
            corpus.versions[item_id].append((unpack_shingles(story), signature, lead))
    engine.dispose()
    return corpus, config.detection.num_perm


def candidates(corpus: Corpus, num_perm: int, bands: int, rows: int) -> dict[int, set[int]]:
    """Every item's candidates (other items) under an LSH of `bands` × `rows`: items sharing a
    bucket of any story or lead signature, as the `lsh_buckets` table finds them."""
    from tracker.detection.lsh import buckets_of

    buckets = {i: buckets_of([sig for _, story, lead in vs for sig in (story, lead) if sig], bands, rows)
               for i, vs in corpus.versions.items()}
    members: dict[int, set[int]] = defaultdict(set)
    for item_id, found in buckets.items():
        for bucket in found:
            members[bucket].add(item_id)
    return {i: set().union(*(members[b] for b in found)) - {i} if found else set() for i, found in buckets.items()}


def closest(corpus: Corpus, a: int, b: int) -> tuple[float, float]:
    """The best exact (Jaccard, containment of the smaller) between two items' stories."""
    from tracker.detection.fingerprint import similarity

    best = (0.0, 0.0)
    for x, _, _ in corpus.versions[a]:
        for y, _, _ in corpus.versions[b]:
            sim = similarity(x, y)
            best = max(best, (sim.jaccard, max(sim.a_in_b, sim.b_in_a)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, default=ROOT.parent / "shared" / "worlds" / "dev")
    parser.add_argument("--config", type=Path, help="a config whose database already holds the world (skips the ingest)")
    parser.add_argument("--settings", default=",".join(f"{b}x{r}" for b, r in SETTINGS), help="bands×rows list (default %(default)s)")
    parser.add_argument("--versions", type=int, default=20_000, help="synthetic versions in each measured band table (default 20000; 0: skip)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL maintenance database for the band-table measurement ('' to skip)")
    args = parser.parse_args()
    settings = [tuple(int(x) for x in s.split("x")) for s in args.settings.split(",")]
    world = args.world.resolve()
    pairs = truth_pairs(world)
    with tempfile.TemporaryDirectory(prefix="bench-lsh-") as folder:
        config = args.config or ingest_world(world, Path(folder))[1]
        say("reading the stored fingerprints of every version")
        corpus, num_perm = load_corpus(config)
    by_url: dict[str, list[int]] = defaultdict(list)
    for item_id, url in corpus.urls.items():
        by_url[url].append(item_id)
    mapped = [(by_url[c], by_url[p], kind) for c, p, kind in pairs if by_url.get(c) and by_url.get(p)]
    say(f"{len(corpus.urls)} items; {len(mapped)} of {len(pairs)} truth pairs found among them")
    results = []
    for bands, rows in settings:
        if bands * rows > num_perm:
            say(f"{bands}x{rows}: more than {num_perm} permutations, skipped")
            continue
        cands = candidates(corpus, num_perm, bands, rows)
        recall = {}
        missed = []
        for kind in KINDS:
            of_kind = [(c, p) for c, p, k in mapped if k == kind]
            hit = 0
            for cs, ps in of_kind:
                if any(pid in cands[cid] or cid in cands[pid] for cid in cs for pid in ps):
                    hit += 1
                else:
                    missed.append((kind, cs[0], ps[0]))
            recall[kind] = (hit, len(of_kind))
        counts = [len(c) for c in cands.values()]
        threshold = (1 / bands) ** (1 / rows)
        results.append({"bands": bands, "rows": rows, "threshold": threshold, "recall": recall,
                        "mean": statistics.fmean(counts), "max": max(counts),
                        "missed": [(kind, corpus.urls[c], *closest(corpus, c, p)) for kind, c, p in missed]})
        say(f"{bands}x{rows}: recall {recall}, {statistics.fmean(counts):.1f} candidates per item")
    sizes: dict[tuple[int, int], list[Size]] = defaultdict(list)
    for bands, rows in settings if args.versions > 0 else []:
        say(f"{bands}x{rows}: band tables for {args.versions:,} versions (SQLite)")
        sizes[(bands, rows)] += sqlite_sizes(args.versions, bands, rows)
        if args.pg_url:
            say(f"{bands}x{rows}: band tables for {args.versions:,} versions (PostgreSQL)")
            try:
                sizes[(bands, rows)] += postgresql_sizes(args.pg_url, args.versions, bands, rows)
            except Exception as error:  # noqa: BLE001 (no server: report SQLite alone)
                say(f"PostgreSQL skipped: {error}")
                args.pg_url = ""
    print(f"Candidate recall on {world.name} ({len(corpus.urls)} items; story and lead indexed; 128 permutations)\n")
    heads = ["bands×rows", "J at P=½"] + [f"{k} recall" for k in KINDS] + ["candidates/item (mean)", "max"]
    print("| " + " | ".join(heads) + " |")
    print("|" + "|".join("---" for _ in heads) + "|")
    for r in results:
        cells = [f"{r['bands']}×{r['rows']}", f"{r['threshold']:.2f}"]
        cells += [f"{r['recall'][k][0] / r['recall'][k][1]:.3f} ({r['recall'][k][0]}/{r['recall'][k][1]})" if r["recall"][k][1] else "—" for k in KINDS]
        cells += [f"{r['mean']:.1f}", str(r["max"])]
        print("| " + " | ".join(cells) + " |")
    for r in results:
        for kind, url, jaccard, containment in r["missed"][:3]:
            print(f"  missed at {r['bands']}×{r['rows']}: {kind} {url} (best exact Jaccard {jaccard:.2f}, containment {containment:.2f})")
        if len(r["missed"]) > 3:
            print(f"  … and {len(r['missed']) - 3} more at {r['bands']}×{r['rows']}")
    if not sizes:
        return
    print(f"\nBand-table bytes per item (one version: story + lead signatures), measured on {args.versions:,} synthetic versions\n")
    heads = ["bands×rows", "engine", "layout", "table B/item", "index B/item", "total B/item"]
    print("| " + " | ".join(heads) + " |")
    print("|" + "|".join("---" for _ in heads) + "|")
    for (bands, rows), measured in sizes.items():
        for s in measured:
            print(f"| {bands}×{rows} | {s.engine} | {s.layout} | {s.table:,.0f} | {s.index:,.0f} | {s.total:,.0f} |")


if __name__ == "__main__":
    main()

"""Benchmark: the templated-text rule (`tracker.detection.template`) on copies and on templated non-copies.

    .venv/bin/python bench/template_rule.py --world DB TRUTH [--world DB TRUTH ...] [--realfeeds DIR]

Two populations, and what the rule calls each pair:

- real copies, excerpts and rewrites: every (item, parent) and (item, original) pair of
  a world's truth (`truth.jsonl`), the texts as the tracker stored them in DB (a world
  already ingested with `tracker ingest`); the closest versions of the two items, as
  detection compares them. A pair called templated here is recall lost.
- templated non-copies that pass verification: pairs of `templated_feeds` items of one
  template, and pairs of entries of one real feed in DIR (release notes, episode
  listings, bulletins), that detection's verification step accepts today. A pair not
  called templated here stays a false copy.

It prints counts and the distribution of the rule's features (slots, substitutions) per
population, so that the constants of `tracker.detection.template` can be read off the margin.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from templated_feeds import TEMPLATES, templated_items  # noqa: E402

from tracker.config import DetectionConfig  # noqa: E402
from tracker.pipeline.detect import Detector  # noqa: E402
from tracker.detection.fingerprint import shingles, similarity, unpack_shingles  # noqa: E402
from tracker.detection.normalise import story_paragraphs, to_document, tokens  # noqa: E402
from tracker.detection.template import Differences, differences, is_templated  # noqa: E402

VERIFIER = Detector(DetectionConfig())


def world_pairs(db: str, truth: Path) -> list[tuple[str, Differences | None, float]]:
    """(kind, differences, jaccard) of every truth pair of a world, the closest versions' texts."""
    from sqlalchemy import create_engine

    engine = create_engine(db)
    versions: dict[str, list[tuple[str, str, object]]] = collections.defaultdict(list)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT i.url, v.title, v.story_text, v.story_shingles FROM items i JOIN item_versions v ON v.item_id = i.id")
        for url, title, text, packed in rows:
            versions[url].append((title or "", text or "", unpack_shingles(packed)))
    engine.dispose()
    out = []
    for line in truth.read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "original" or row["link"] not in versions:
            continue
        for other in {row["parent"], row["story"]} - {None, row["link"]}:
            if other not in versions:
                continue
            best = max(itertools.product(versions[row["link"]], versions[other]), key=lambda p: similarity(p[0][2], p[1][2]).jaccard)
            (ta, xa, sa), (tb, xb, sb) = best
            out.append((row["kind"], differences(xa, xb, ta, tb), similarity(sa, sb).jaccard))
    return out


def verified_pairs(texts: list[tuple[str, str, str]]) -> list[tuple[str, Differences | None, float]]:
    """(group, differences, jaccard) of the pairs within each group that verification accepts."""
    out = []
    prints = [(g, t, x, shingles(tokens(x), 5)) for g, t, x in texts]
    by_group = collections.defaultdict(list)
    for p in prints:
        by_group[p[0]].append(p)
    for group, members in by_group.items():
        for (_, ta, xa, sa), (_, tb, xb, sb) in itertools.combinations(members, 2):
            sim = similarity(sa, sb)
            if xa != xb and VERIFIER._verified(sim):
                out.append((group, differences(xa, xb, ta, tb), sim.jaccard))
    return out


def realfeed_texts(folder: Path) -> list[tuple[str, str, str]]:
    """(feed, title, story text) of every entry of every feed in the folder."""
    from tracker.reader.parse import parse_feed

    out = []
    for path in sorted(folder.iterdir()):
        try:
            feed = parse_feed(path.read_bytes())
        except Exception:  # noqa: BLE001 (a feed the parser refuses has no entries to measure)
            continue
        for entry in feed.entries:
            document = to_document(entry)
            kept = story_paragraphs(document, entry.title)
            out.append((path.name, entry.title, "\n".join(document.paragraphs[i] for i in kept)))
    return out


def report(label: str, pairs: list[tuple[str, Differences | None, float]], want: bool) -> None:
    """One population: pairs per group, how many the rule calls templated, feature histograms."""
    print(f"\n{label}: {len(pairs)} pairs; the rule should call them {'templated' if want else 'copies'}")
    by = collections.defaultdict(list)
    for group, diff, jac in pairs:
        by[group].append((diff, jac))
    for group, found in sorted(by.items()):
        called = sum(is_templated(d) for d, _ in found)
        slots = collections.Counter(min(d.slots, 5) if d else -1 for d, _ in found)
        ratio = collections.Counter(
            "none" if not d or not d.substitutions else f"{d.slots / d.substitutions:.1f}" for d, _ in found)
        wrong = len(found) - called if want else called
        dense = [100 * d.slots / d.words for d, _ in found if d and d.slots]
        density = f"{min(dense):.1f}–{max(dense):.1f}" if dense else "-"
        print(f"  {group:<44} {len(found):>6} pairs, templated {called:>6}, wrong {wrong:>5}"
              f"  slots {dict(sorted(slots.items()))}  slots/substitutions {dict(sorted(ratio.items()))}"
              f"  slots per 100 words {density}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", nargs=2, action="append", default=[], metavar=("DB", "TRUTH"))
    parser.add_argument("--realfeeds", type=Path)
    parser.add_argument("--generated", type=int, default=400, help="templated_feeds items (default 400)")
    args = parser.parse_args()
    for db, truth in args.world:
        report(f"copies of {truth}", world_pairs(db, Path(truth)), want=False)
    generated = [(item.template, item.title, "\n".join(item.paragraphs)) for item in templated_items(args.generated)]
    report(f"templated_feeds ({', '.join(TEMPLATES)})", verified_pairs(generated), want=True)
    if args.realfeeds:
        report(f"real feeds in {args.realfeeds}", verified_pairs(realfeed_texts(args.realfeeds)), want=True)


if __name__ == "__main__":
    main()

"""Detection: which items match which, and deciding the provenance of their groups.

Works from SQL alone (through `tracker.store`), so that any number of processes share one
truth: an item's candidates come from the LSH buckets its versions share with others,
are verified on exact shingles, and the group of every item whose facts changed is
decided again by `tracker.provenance.decide.decide`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import timedelta

from sqlalchemy.orm import Session

from tracker.config import DetectionConfig
from tracker.provenance.publishers import Directory
from tracker.provenance.facts import item_facts
from tracker.detection.fingerprint import overlap, similarity
from tracker.detection.identity import lookup_hash
from tracker.detection.lsh import HUB_CAP, buckets_of, strongest
from tracker.detection.template import differences, is_templated
from tracker.model import IngestReport, Similarity, Sizes, VersionPrints, utcnow
from tracker.provenance.decide import Edge, decide
from tracker.store import evidence, hubs, items, locks, matching, texts

# A group is locked, then read again: it may have grown meanwhile. Past this many rounds
# the group is decided as it stands (its newcomers' own captures decide it again).
_LOCK_ROUNDS = 5


class Detector:
    """Matches items and decides their groups, inside the caller's write transaction."""

    def __init__(self, detection: DetectionConfig) -> None:
        self.detection = detection
        self.tolerance = timedelta(seconds=detection.claim_tolerance_seconds)

    def buckets(self, versions: list[VersionPrints]) -> set[int]:
        """The LSH buckets of an item's stories and leads."""
        signatures = [v.signature for v in versions] + [v.lead_signature for v in versions if v.lead_signature]
        return buckets_of(signatures, self.detection.lsh_bands, self.detection.lsh_rows)

    def _verified(self, sim: Similarity) -> bool:
        d = self.detection
        if sim.shared < d.min_shared_shingles:
            return False
        if sim.jaccard >= d.min_jaccard or sim.containment >= d.min_containment:
            return True
        # A rewrite (synonyms, a paragraph dropped) keeps much of its source in both senses.
        return sim.jaccard >= d.rewrite_min_jaccard and sim.containment >= d.rewrite_min_containment

    def match(self, session: Session, ids: Collection[int]) -> set[int]:
        """Recompute the verified matches of these items; return the items whose matches changed.

        The buckets and URLs of all of them are locked first, in one sorted batch: a text
        stored meanwhile by another process that shares a bucket is then committed, and found.
        Every fact is read for the whole batch at once; a pair is judged the same from either side.
        """
        ids = set(ids)
        versions = matching.versions_of(session, ids)
        stored = items.load_items(session, ids, raws=False)
        credits = items.credits_of(session, ids)
        buckets = {i: self.buckets(versions[i]) for i in ids}
        credit_urls = {i: [c.url for c in credits.get(i, ()) if c.url] for i in ids}
        locks.lock(session, locks.BUCKET, {b for found in buckets.values() for b in found})
        urls = {stored[i].url for i in ids} | {u for found in credit_urls.values() for u in found}
        locks.lock(session, locks.URL, {int(lookup_hash(u), 16) for u in urls})
        old = matching.neighbours(session, ids)
        members = hubs.bucket_members(session, {b for found in buckets.values() for b in found}, HUB_CAP)
        crediting = items.items_crediting(session, [stored[i].url for i in ids])
        targets = items.items_at(session, [u for found in credit_urls.values() for u in found])
        # "Read the full story at X: <url>" names its source exactly: linked whatever the text.
        credited = {
            i: (crediting.get(stored[i].url, set()) | {targets[u] for u in credit_urls[i] if u in targets}) - {i} for i in ids
        }
        candidates = {
            i: (old[i] | credited[i] | strongest(buckets[i], members, i)) - {i} for i in ids
        }
        everyone = set().union(*candidates.values()) if candidates else set()
        publishers = matching.publishers_of(session, everyone | ids)
        theirs = {**matching.versions_of(session, everyone - ids), **versions}
        edges: dict[tuple[int, int], Edge] = {}
        for item_id in sorted(ids):
            mine = stored[item_id]
            for other_id in sorted(candidates[item_id]):
                if publishers.get(other_id) in (None, mine.publisher_id):
                    continue
                edge = self._edge(item_id, versions[item_id], other_id, theirs[other_id], other_id in credited[item_id])
                if edge is not None:
                    edges[(edge.a, edge.b)] = edge
        edges = _without_templated(session, edges, theirs, credited)
        matching.replace_edges(session, ids, edges.values(), utcnow())
        touched = set(ids)
        for item_id in ids:
            touched |= old[item_id]
        for a, b in edges:
            touched.update((a, b))
        return touched

    def _edge(
        self, item_id: int, mine: list[VersionPrints], other_id: int, theirs: list[VersionPrints], credited: bool,
    ) -> Edge | None:
        """The verified match of two items (their closest versions), or None."""
        best: tuple[tuple[float, float], Similarity, VersionPrints, VersionPrints] | None = None
        for a in mine:
            for b in theirs:
                sim = similarity(a.story, b.story)
                if (self._verified(sim) or credited) and (best is None or (sim.jaccard, sim.containment) > best[0]):
                    best = ((sim.jaccard, sim.containment), sim, a, b)
        if best is None:
            return None
        _, sim, a, b = best
        shared_full = overlap(a.full, b.full)
        full_mine, full_theirs = shared_full / max(1, a.full.size), shared_full / max(1, b.full.size)
        if item_id < other_id:
            return Edge(item_id, other_id, sim, full_mine, full_theirs)
        return Edge(other_id, item_id, sim.flipped(), full_theirs, full_mine)

    def decide(
        self, session: Session, dirty: Collection[int], current: Callable[[], Directory], report: IngestReport,
    ) -> None:
        """Decide again the provenance of every group of matches holding a dirty item.

        Each group is locked item by item before it is read: another process deciding an
        overlapping group waits, then reads it whole, with what this one wrote. `current`
        gives the directory as it is now: a group may hold items of a publisher another
        process added since this transaction began, and credits name publishers by it.
        """
        if not dirty:
            return
        done: set[int] = set()
        for seed in sorted(dirty):
            if seed in done:
                continue
            group = matching.component(session, [seed])
            for _ in range(_LOCK_ROUNDS):
                if not locks.lock(session, locks.ITEM, group):
                    break  # nobody else writes (SQLite): the group read is the group
                grown = matching.component(session, group)
                if grown == group:
                    break
                group = grown
            done |= group
            self._decide_group(session, group, current(), report)

    def _decide_group(self, session: Session, group: set[int], directory: Directory, report: IngestReport) -> None:
        stored = items.load_items(session, group, raws=False)
        credits = items.credits_of(session, group)
        sizes = matching.sizes_of(session, group)
        previous = evidence.captured_before(session, [(s.first_feed_id, s.first_seen_at) for s in stored.values()])
        targets = items.items_at(session, [c.url for found in credits.values() for c in found if c.url])
        publisher_of = matching.publishers_of(session, set(targets.values()))
        facts = [
            item_facts(
                stored[i], credits.get(i, []), sizes.get(i, Sizes(0, 0)),
                previous.get((stored[i].first_feed_id, stored[i].first_seen_at)), self.tolerance, directory, targets, publisher_of,
            )
            for i in sorted(group)
        ]
        edges = matching.edges_of(session, group)
        decided = matching.stored_decisions(session, group)
        now = utcnow()
        for decision in decide(facts, edges):
            before = decided.get(decision.item_id)
            if before == decision.key:
                continue
            if decision.parent_item_id is not None and (before is None or before[1] is None):
                report.republications += 1
                report.new_copies.append(decision.item_id)
            matching.write_decision(session, decision, before is not None, now)


def _without_templated(
    session: Session, edges: dict[tuple[int, int], Edge], prints: dict[int, list[VersionPrints]], credited: dict[int, set[int]],
) -> dict[tuple[int, int], Edge]:
    """The matches less those of two texts written from one template (`tracker.detection.template`).

    The closest versions of the two items are compared, as `_edge` chose them; a pair one
    credits the other, or of identical shingles, is a copy whatever its words.
    """
    closest: dict[tuple[int, int], tuple[VersionPrints, VersionPrints]] = {}
    for (a, b), edge in edges.items():
        if edge.similarity.jaccard < 1.0 and b not in credited.get(a, ()) and a not in credited.get(b, ()):
            pairs = [(x, y) for x in prints[a] for y in prints[b]]
            closest[(a, b)] = max(pairs, key=lambda p: similarity(p[0].story, p[1].story).jaccard)
    if not closest:
        return edges
    stored = texts.story_texts(session, {v.version_id for pair in closest.values() for v in pair})
    templated = set()
    for key, (x, y) in closest.items():
        (title_x, text_x), (title_y, text_y) = stored.get(x.version_id, ("", "")), stored.get(y.version_id, ("", ""))
        if is_templated(differences(text_x, text_y, title_x, title_y)):
            templated.add(key)
    return {key: edge for key, edge in edges.items() if key not in templated}

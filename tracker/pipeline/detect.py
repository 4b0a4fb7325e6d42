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
from tracker.detection.fingerprint import overlap, similarity
from tracker.detection.identity import lookup_hash
from tracker.detection.lsh import HUB_CAP, buckets_of, strongest
from tracker.detection.template import differences, is_templated, name_words
from tracker.model import Attribution, IngestReport, Known, Similarity, StoredItem, VersionPrints, utcnow
from tracker.pipeline.newcomers import NewcomersMixin
from tracker.provenance.decide import Decision, DecisionKey, Edge, ItemFacts, decide_group
from tracker.provenance.facts import any_resolves, item_facts
from tracker.provenance.publishers import Directory
from tracker.store import groups, hubs, itemfacts, items, locks, matching, texts
from tracker.store import publishers as publisher_store

# A group is locked, then read again: it may have grown meanwhile. Past this many rounds
# the group is decided as it stands (its newcomers' own captures decide it again).
_LOCK_ROUNDS = 5
# An item with at most this many verified matches keeps them all. Past it, it keeps those
# that can decide it or its candidates (`kept`): a wire story's n copies store O(n)
# matches, not n²/2, while every group that fits under it is decided from all its pairs.
KEEP_ALL = 16
# ... the best few candidate parents of the item, and of the candidates it could be parent of.
KEEP_PARENTS = 4
KEEP_CHILDREN = 3


def kept(item_id: int, found: list[Edge], always: Collection[int], positions: dict[int, int]) -> list[Edge]:
    """The matches an item keeps: all of them when few; else those with the items in
    `always` (its earlier matches, what it credits, its candidates' originals), its best
    candidate parents (most of its full text in theirs, then the most similar, the
    earliest placed) and the candidates it explains best."""
    if len(found) <= KEEP_ALL:
        return found
    far = 1 << 62  # an item not yet placed comes after every placed one

    def other(edge: Edge) -> int:
        return edge.b if edge.a == item_id else edge.a

    def as_parent(edge: Edge) -> tuple[float, float, int, int]:
        _, sim, coverage = edge.seen_from(item_id)
        return (round(coverage, 3), sim.jaccard, -positions.get(other(edge), far), -other(edge))

    def as_child(edge: Edge) -> tuple[float, float, int]:
        _, sim, _ = edge.seen_from(item_id)
        theirs = edge.full_b_in_a if edge.a == item_id else edge.full_a_in_b
        return (round(theirs, 3), sim.jaccard, -other(edge))

    keep = {other(e): e for e in found if other(e) in always}
    keep.update((other(e), e) for e in sorted(found, key=as_parent, reverse=True)[:KEEP_PARENTS])
    keep.update((other(e), e) for e in sorted(found, key=as_child, reverse=True)[:KEEP_CHILDREN])
    return list(keep.values())


class Detector(NewcomersMixin):
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

    def match(self, session: Session, ids: Collection[int], known: Known | None = None) -> set[int]:
        """Recompute the verified matches of these items; return the items whose decisions
        may have changed (`known`: what the caller knows of them, and learns here).

        The buckets and URLs of all of them are locked first, in one sorted batch: a text
        stored meanwhile by another process that shares a bucket is then committed, and found.
        Every fact is read for the whole batch at once; a pair is judged the same from either side.
        A new item's matches change nobody else's decision when it is placed last in its
        group (`decide` sees whether it is): its partners are not returned.
        """
        ids = set(ids)
        known = known or Known()
        versions, stored, credits = _read(session, ids, known)
        buckets = {i: self.buckets(versions[i]) for i in ids}
        credit_urls = {i: [c.url for c in credits.get(i, ()) if c.url] for i in ids}
        locks.lock(session, locks.BUCKET, {b for found in buckets.values() for b in found})
        urls = {stored[i].url for i in ids} | {u for found in credit_urls.values() for u in found}
        locks.lock(session, locks.URL, {int(lookup_hash(u), 16) for u in urls})
        old = {**matching.neighbours(session, ids - known.unmatched), **{i: set() for i in ids & known.unmatched}}
        crediting = items.items_crediting(session, [stored[i].url for i in ids])
        targets = items.items_at(session, [u for found in credit_urls.values() for u in found])
        # "Read the full story at X: <url>" names its source exactly: linked whatever the text.
        credited = {
            i: (crediting.get(stored[i].url, set()) | {targets[u] for u in credit_urls[i] if u in targets}) - {i} for i in ids
        }
        # A crowded (hub) bucket is read to its first members only, and an item keeps the
        # candidates sharing most buckets with it (tracker.store.hubs, tracker.detection.lsh).
        members = hubs.bucket_members(session, {b for found in buckets.values() for b in found}, HUB_CAP)
        candidates = {i: (old[i] | credited[i] | strongest(buckets[i], members, i)) - {i} for i in ids}
        everyone = set().union(*candidates.values()) if candidates else set()
        # A candidate without versions matches nothing: its publisher need not be known.
        others, publishers = matching.versions_and_publishers(session, everyone - ids)
        publishers.update({i: stored[i].publisher_id for i in ids})
        theirs = {**others, **versions}
        edges = self._kept_edges(session, ids, stored, versions, candidates, theirs, publishers, old, credited)
        matching.replace_edges(session, ids - known.unmatched, edges.values(), utcnow())
        paired = {i for pair in edges for i in pair}
        known.alone = (known.alone | (ids & known.unmatched)) - paired
        known.unmatched.clear()  # matches are written: whoever is matched next may have some
        fresh = {i for i in ids if not old[i]} - _decided_among(session, ids, known)
        touched = set(ids)
        for item_id in ids:
            touched |= old[item_id]
        for a, b in edges:
            touched.update(x for x, y in ((a, b), (b, a)) if y not in fresh)
        return touched

    def _kept_edges(
        self, session: Session, ids: set[int], stored: dict[int, StoredItem], versions: dict[int, list[VersionPrints]],
        candidates: dict[int, set[int]], theirs: dict[int, list[VersionPrints]], publishers: dict[int, int],
        old: dict[int, set[int]], credited: dict[int, set[int]],
    ) -> dict[tuple[int, int], Edge]:
        """The verified matches of these items that they keep (`kept`), each pair once."""
        found: dict[int, list[Edge]] = {}
        for item_id in sorted(ids):
            mine = stored[item_id]
            found[item_id] = []
            for other_id in sorted(candidates[item_id]):
                if publishers.get(other_id) in (None, mine.publisher_id):
                    continue
                edge = self._edge(item_id, versions[item_id], other_id, theirs[other_id], other_id in credited[item_id])
                if edge is not None:
                    found[item_id].append(edge)
        # Two texts written from one template are no copy (tracker.detection.template).
        verified = {(e.a, e.b): e for edges in found.values() for e in edges}
        allowed = _without_templated(session, verified, theirs, credited, publishers)
        found = {i: [e for e in edges if (e.a, e.b) in allowed] for i, edges in found.items()}
        crowded = [i for i in ids if len(found[i]) > KEEP_ALL]
        partners = {e.a if e.b == i else e.b for i in crowded for e in found[i]}
        originals = set(matching.decided_originals(session, partners).values())
        positions = {i: p for i, (_, p) in groups.groups_of(session, partners).items()}
        edges: dict[tuple[int, int], Edge] = {}
        for item_id in sorted(ids):
            for edge in kept(item_id, found[item_id], old[item_id] | credited[item_id] | originals, positions):
                edges[(edge.a, edge.b)] = edge
        return edges

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
        known: Known | None = None,
    ) -> None:
        """Decide again the provenance of every group of matches holding a dirty item.

        A new item is placed last in its group when it goes there (`provenance.append`),
        reading only its own matches and the group's summary; any other change decides its
        group whole. Each group is locked item by item before it is read: another process
        deciding an overlapping group waits, then reads it whole, with what this one wrote.
        `current` gives the directory as it is now: a group may hold items of a publisher
        another process added since this transaction began, and credits name publishers by it.
        `known`: which items have a decision, when the caller knows it already.
        """
        if not dirty:
            return
        fresh = set(dirty) - _decided_among(session, dirty, known or Known())
        # Groups with changed facts first: a newcomer they hold is decided with them, so that it
        # is never placed from a summary about to change (and alerted as a copy it is not).
        done = self._decide_whole(session, set(dirty) - fresh, current, report, set())
        fresh -= done
        if not fresh:
            return
        directory = current()
        again: set[int] = set()
        facts = self._facts(session, fresh, directory, known)
        alone = fresh & known.alone & facts.keys() if known else set()
        again |= self._start_groups(session, [facts[i] for i in sorted(alone)], report)
        again |= self._append_all(session, sorted((f for i, f in facts.items() if i not in alone), key=lambda f: f.order_key), directory, report)
        self._decide_whole(session, again, current, report, done)

    def _decide_whole(
        self, session: Session, seeds: set[int], current: Callable[[], Directory], report: IngestReport, done: set[int],
    ) -> set[int]:
        """Decide whole the groups holding these items (but not those `done`); return their items."""
        for seed in sorted(seeds):
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
        return done

    def _facts(self, session: Session, ids: Collection[int], directory: Directory, known: Known | None = None) -> dict[int, ItemFacts]:
        """What provenance knows of these items now (`known`: of those a capture stored, when it knows them)."""
        cached = {i: known.items[i] for i in ids if i in known.items} if known else {}
        loaded = itemfacts.load_facts(session, set(ids) - cached.keys())
        credits, targets, publisher_of = itemfacts.credits_and_targets(session, set(ids) - cached.keys())
        loaded.update({i: (new.stored, new.sizes, new.previous) for i, new in cached.items()})
        credits.update({i: new.credits for i, new in cached.items()})
        unknown = {c.url for new in cached.values() for c in new.credits if c.url and c.url not in targets}
        if unknown:
            found = items.items_at(session, unknown)
            targets.update(found)
            publisher_of.update(matching.publishers_of(session, set(found.values()) - publisher_of.keys()))
        return {
            i: item_facts(stored, credits.get(i, []), sizes, previous, self.tolerance, directory, targets, publisher_of)
            for i, (stored, sizes, previous) in sorted(loaded.items())
        }

    @staticmethod
    def _resolves(session: Session, credits: groups.Unresolved, directory: Directory) -> bool:
        """Whether any of these credits that named nobody known names an item or publisher now."""
        targets = items.items_at(session, [url for _, url in credits if url])
        return any_resolves(credits, directory, targets, matching.publishers_of(session, set(targets.values())))

    def _decide_group(self, session: Session, group: set[int], directory: Directory, report: IngestReport) -> None:
        facts = self._facts(session, group, directory)
        edges = matching.edges_of(session, group)
        decided = matching.stored_decisions(session, group)
        decisions, placed, summary = decide_group([facts[i] for i in sorted(group)], edges)
        for decision in decisions:
            self._write(session, decision, decided.get(decision.item_id), report)
        replaced = {g for g, _ in groups.groups_of(session, group).values()}
        last = summary.last.item_id if summary.last is not None else min(group)
        groups.write_group(
            session, min(group), [(p.facts.item_id, p.position) for p in placed],
            (summary.size, last, summary.credited, summary.tangled, summary.unresolved), replaced,
        )

    @staticmethod
    def _write(session: Session, decision: Decision, before: DecisionKey | None, report: IngestReport) -> None:
        """Store a decision that is news (alerting a new copy)."""
        if before == decision.key:
            return
        if before is not None and before[1] is not None and before[1] != decision.parent_item_id:
            report.changed_copies.append(decision.item_id)  # its chain is another: what alerts said may no longer hold
        if decision.parent_item_id is not None and (before is None or before[1] is None):
            report.republications += 1
            report.new_copies.append(decision.item_id)
        elif decision.parent_item_id is None and before is not None and before[1] is not None:
            report.withdrawn += 1
        matching.write_decision(session, decision, before is not None, utcnow())


def _decided_among(session: Session, ids: Collection[int], known: Known) -> set[int]:
    """Which of these items have a decision (SQL asked only of those `known` does not know)."""
    unknown = set(ids) - known.decided.keys()
    have = {i for i in ids if known.decided.get(i)} | matching.decided_among(session, unknown)
    if known.remember:
        known.decided.update({i: i in have for i in unknown})
    return have


def _read(
    session: Session, ids: set[int], known: Known,
) -> tuple[dict[int, list[VersionPrints]], dict[int, StoredItem], dict[int, list[Attribution]]]:
    """The versions, rows and credits of these items: from SQL, but those a capture knows it stored."""
    cached = {i: known.items[i] for i in ids if i in known.items}
    rest = ids - cached.keys()
    versions = {**matching.versions_of(session, rest), **{i: new.versions for i, new in cached.items()}}
    stored = {**items.load_items(session, rest), **{i: new.stored for i, new in cached.items()}}
    credits = {**items.credits_of(session, rest), **{i: new.credits for i, new in cached.items() if new.credits}}
    return versions, stored, credits


def _without_templated(
    session: Session, edges: dict[tuple[int, int], Edge], prints: dict[int, list[VersionPrints]], credited: dict[int, set[int]],
    publishers: dict[int, int],
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
    names = {p: name_words(n) for p, n in publisher_store.names_of(session, {publishers[i] for pair in closest for i in pair}).items()}
    templated = set()
    for (a, b), (x, y) in closest.items():
        (title_x, text_x), (title_y, text_y) = stored.get(x.version_id, ("", "")), stored.get(y.version_id, ("", ""))
        if is_templated(differences(text_x, text_y, title_x, title_y, names[publishers[a]], names[publishers[b]])):
            templated.add((a, b))
    return {key: edge for key, edge in edges.items() if key not in templated}

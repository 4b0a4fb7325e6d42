"""Provenance stage: for a group of matching items, who is the original and who copied whom.

Everything here is a pure function of facts (items, their credible times, their credits,
the verified matches between them), so the answer cannot depend on the order in which
captures arrived: an earlier original seen late simply re-roots the story when its
group is decided again.

The decision, for one connected group of matches:
1. Order the items by credible publication time, except that an item that credits
   another ("appeared first on X", `<source>`, "originally published by X") comes after
   what it credits — explicit attribution outweighs a claimed date — and what it credits
   is as early as it (the credit proves the article existed then).
2. Walk that order. An item with no earlier match starts a story (it is an original).
   Otherwise its parent is the earlier match that explains most of its full text — a copy
   of a mirror carries the mirror's additions, so it is explained best by the mirror —
   then the one it credits, then the most similar, then the earliest.
Stories are therefore trees of verified copy → parent edges: two stories never merge
merely because a third text resembles both.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tracker.model import Similarity
from tracker.timefmt import iso

# The version of the rules below (and of `tracker.provenance.facts`' credible time). Raise it with any
# change to how the original, the parents or the relations are chosen: the database records
# the version its decisions were made by, and the next start decides every stored group
# again by the new rules (tracker.pipeline.rebuild), as a fresh database would.
# 2: a name credit means a feed titled so on a site of that name; what an item credits is as early as it.
# 3: excerpts judged by the two versions compared. 4-6: an entry's link or GUID on another publisher's
# page, or a link to its mobile or AMP page, credits it. 7: names with or without "The". 8: authors.
PROVENANCE_RULES_VERSION = 9  # 9: a post holding its parent's whole text and more is a copy, not a rewrite.

# Coverage values closer than this are a tie: shingle sets differ by a word or two.
_COVERAGE_TIE = 0.002
EXCERPT_MAX_SIZE_RATIO = 0.67
COPY_MIN_JACCARD = 0.8
WHOLE_PARENT_CONTAINED = 0.95


@dataclass(frozen=True)
class ItemFacts:
    """What provenance knows of one item."""

    item_id: int
    url: str
    publisher_id: int
    estimated_at: datetime
    first_seen_at: datetime
    time_evidence: str
    credited_items: frozenset[int] = frozenset()
    credited_publishers: frozenset[int] = frozenset()
    credit_labels: tuple[str, ...] = ()
    credited_names: tuple[tuple[int, str], ...] = ()
    unresolved_credit: str | None = None
    # (name, url) of each credit that names nobody known yet: a publisher added later may be it.
    unresolved_credits: tuple[tuple[str | None, str | None], ...] = ()
    story_size: int = 0
    full_size: int = 0
    claimed_date_rejected: str | None = None  # why the item's date string was no claim
    # Its text for matching is the article of its page (tracker.reader.pages), not its feed entry.
    text_from_page: bool = False

    @property
    def order_key(self) -> tuple[datetime, int, int, datetime, str, int]:
        """Credible time first. Items claiming the very same time (a scraper copying the
        original's date) are told apart by text: the fuller story first, then the one with
        less around it (a mirror adds its header), then sighting, then URL."""
        return (self.estimated_at, -(self.story_size // 25), self.full_size, self.first_seen_at, self.url, self.item_id)


@dataclass(frozen=True)
class Edge:
    """A verified match between items `a` and `b`: story-text similarity and full-text coverage."""

    a: int
    b: int
    similarity: Similarity
    full_a_in_b: float
    full_b_in_a: float

    def seen_from(self, item: int) -> tuple[int, Similarity, float]:
        """(other item, similarity oriented as item→other, share of item's full text in the other)."""
        if item == self.a:
            return self.b, self.similarity, self.full_a_in_b
        return self.a, self.similarity.flipped(), self.full_b_in_a


DecisionKey = tuple[object, ...]


def decision_key(
    story_id: int, parent_item_id: int | None, relation: str, attributed_origin: str | None,
    estimated_at: datetime, similarity: float | None, coverage: float | None, lag_seconds: int | None,
) -> DecisionKey:
    """The part of a decision whose change must be written (a stored row is compared by it):
    a parent's time moved by a late capture changes its copies' lags, and nothing else."""
    return (story_id, parent_item_id, relation, attributed_origin, estimated_at, similarity, coverage, lag_seconds)


@dataclass(frozen=True)
class Decision:
    """The provenance of one item."""

    item_id: int
    story_id: int
    original_item_id: int
    parent_item_id: int | None
    relation: str
    similarity: float | None
    containment: float | None
    coverage: float | None
    estimated_at: datetime
    lag_seconds: int | None
    attributed_origin: str | None
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> DecisionKey:
        """What, if unchanged, means the stored row need not be written again."""
        return decision_key(self.story_id, self.parent_item_id, self.relation, self.attributed_origin,
                            self.estimated_at, self.similarity, self.coverage, self.lag_seconds)

    def evidence_json(self) -> str:
        """The evidence as a JSON document, for the `evidence` column."""
        return json.dumps(self.evidence, sort_keys=True, default=str)


def _credits(item: ItemFacts, other: ItemFacts) -> int:
    """2 when `item` credits `other` by URL, 1 when it credits its publisher, else 0."""
    if other.item_id in item.credited_items:
        return 2
    if other.publisher_id in item.credited_publishers and other.publisher_id != item.publisher_id:
        return 1
    return 0


def _credit_pairs(items: Sequence[ItemFacts]) -> Iterable[tuple[ItemFacts, ItemFacts]]:
    """Every (item, other) where `item` credits `other`, found through indexes: linear in the
    credits given, not quadratic in the group."""
    by_id = {i.item_id: i for i in items}
    by_publisher: dict[int, list[ItemFacts]] = {}
    for item in items:
        by_publisher.setdefault(item.publisher_id, []).append(item)
    for item in items:
        others = {by_id[i].item_id: by_id[i] for i in item.credited_items if i in by_id}
        for publisher in item.credited_publishers:
            others.update((o.item_id, o) for o in by_publisher.get(publisher, ()))
        for other in others.values():
            if other.item_id != item.item_id and _credits(item, other):
                yield item, other


def ordered(items: Sequence[ItemFacts]) -> tuple[list[ItemFacts], bool]:
    """Items in credible publication order, credited items before the items crediting them;
    and whether a cycle of credits had to be broken.

    A topological sort (Kahn) whose ready set is taken by `order_key`, where an item that
    others credit is as early as the earliest of them (`_credited_times`): a credit proves
    its target existed when the crediting item did, so a scraper that came between them
    does not go first. A cycle of credits, which only contradictory feeds can make, falls
    back to time order.
    """
    by_id = {i.item_id: i for i in items}
    after: dict[int, set[int]] = {i.item_id: set() for i in items}
    blockers: dict[int, int] = {i.item_id: 0 for i in items}
    for item, other in _credit_pairs(items):
        if not _credits(other, item) and item.item_id not in after[other.item_id]:
            after[other.item_id].add(item.item_id)
            blockers[item.item_id] += 1
    key = _credited_times(by_id, after)
    ready = [(key[i.item_id], i.item_id) for i in items if blockers[i.item_id] == 0]
    heapq.heapify(ready)
    done: list[ItemFacts] = []
    placed: set[int] = set()
    tangled = False
    while len(done) < len(items):
        if not ready:  # a cycle: release the earliest remaining item
            tangled = True
            rest = min((by_id[i].order_key, i) for i in by_id if i not in placed)
            blockers[rest[1]] = 0
            ready.append((key[rest[1]], rest[1]))
        _, item_id = heapq.heappop(ready)
        if item_id in placed:
            continue
        placed.add(item_id)
        done.append(by_id[item_id])
        for follower in after[item_id]:
            blockers[follower] -= 1
            if blockers[follower] == 0 and follower not in placed:
                heapq.heappush(ready, (key[follower], follower))
    return done, tangled


_OrderKey = tuple[datetime, int, int, datetime, str, int]


def _credited_times(by_id: Mapping[int, ItemFacts], after: Mapping[int, set[int]]) -> dict[int, _OrderKey]:
    """Each item's order key, its time taken back to the earliest time of the items that
    credit it, directly or through others (`after`: credited → crediting)."""
    key = {i: item.order_key for i, item in by_id.items()}
    earliest = {i: item.estimated_at for i, item in by_id.items()}
    # Relaxed along the credits until nothing moves: credits form short chains, and a cycle
    # settles too (every item of it takes the earliest time among them).
    changed = True
    while changed:
        changed = False
        for credited, crediting in after.items():
            for follower in crediting:
                if earliest[follower] < earliest[credited]:
                    earliest[credited] = earliest[follower]
                    changed = True
    for i, when in earliest.items():
        if when < key[i][0]:
            key[i] = (when, *key[i][1:])
    return key


def order(items: Sequence[ItemFacts]) -> list[ItemFacts]:
    """Items in credible publication order, credited items before the items crediting them."""
    return ordered(items)[0]


def _relation(sim: Similarity, item: ItemFacts, parent: ItemFacts, credited_by_url: bool) -> str:
    # Sizes of the versions compared (|item| / |parent| = b_in_a / a_in_b): a copy of an article's first
    # version is no excerpt of what it grew into. Where a side's text is its page's, its feed's text is a
    # summary of an article whole from the start (and a credit alone shares no text): the largest versions.
    pages = item.text_from_page or parent.text_from_page
    if pages or not (sim.a_in_b > 0 and sim.b_in_a > 0):
        ratio = item.story_size / max(1, parent.story_size)
    else:
        ratio = sim.b_in_a / sim.a_in_b
    if (sim.a_in_b >= 0.8 or credited_by_url) and ratio <= EXCERPT_MAX_SIZE_RATIO:
        return "excerpt"
    # The parent's whole text verbatim inside a longer post (a preface, a note of its own): copied, not rewritten.
    if sim.jaccard >= COPY_MIN_JACCARD or (not pages and sim.b_in_a >= WHOLE_PARENT_CONTAINED):
        return "copy"
    return "rewrite"


def _page_sides(item: ItemFacts, parent: ItemFacts) -> dict[str, list[str]]:
    """Which side of a match was compared by its page's article (the match came from the page)."""
    sides = [side for side, page in (("item", item.text_from_page), ("parent", parent.text_from_page)) if page]
    return {"from_page": sides} if sides else {}


@dataclass(frozen=True)
class Placed:
    """What deciding a later item needs of an item already placed in its group's order."""

    facts: ItemFacts
    position: int
    original_item_id: int
    root_publisher: int


# (coverage, credit, jaccard, -position, candidate parent, similarity item→parent)
_Choice = tuple[float, int, float, int, ItemFacts, Similarity]


def _base_evidence(item: ItemFacts) -> dict[str, object]:
    evidence: dict[str, object] = {"estimated_at": iso(item.estimated_at), "time_evidence": item.time_evidence}
    if item.credit_labels:
        evidence["credits"] = list(item.credit_labels)
    if item.claimed_date_rejected:
        evidence["claimed_date_rejected"] = item.claimed_date_rejected
    if item.text_from_page:
        evidence["text"] = "page"
    return evidence


def _original(item: ItemFacts, present: Collection[int]) -> Decision:
    # A story's first item that credits a publisher we follow but whose item we
    # never saw (it left the feed before we looked) still names its origin.
    absent = [name for publisher, name in item.credited_names if publisher not in present]
    return Decision(
        item_id=item.item_id, story_id=item.item_id, original_item_id=item.item_id, parent_item_id=None,
        relation="original", similarity=None, containment=None, coverage=None, estimated_at=item.estimated_at,
        lag_seconds=None, attributed_origin=item.unresolved_credit or (absent[0] if absent else None),
        evidence=_base_evidence(item),
    )


def _copy(item: ItemFacts, choices: list[_Choice], roots: Mapping[int, int]) -> Decision:
    best_coverage = max(c[0] for c in choices)
    # Coverage within a hair of the best is a tie, settled by credit, similarity, time.
    finalists = [c for c in choices if c[0] >= best_coverage - _COVERAGE_TIE]
    coverage, credit, _, _, parent, sim = max(finalists, key=lambda c: c[1:4])
    root = roots[parent.item_id]
    return Decision(
        item_id=item.item_id, story_id=root, original_item_id=root, parent_item_id=parent.item_id,
        relation=_relation(sim, item, parent, credit == 2),
        similarity=round(sim.jaccard, 4), containment=round(sim.a_in_b, 4), coverage=round(coverage, 4),
        estimated_at=item.estimated_at, lag_seconds=int((item.estimated_at - parent.estimated_at).total_seconds()),
        attributed_origin=item.unresolved_credit,
        evidence={
            **_base_evidence(item),
            "parent": {
                "coverage": round(coverage, 4), "jaccard": round(sim.jaccard, 4), "containment": round(sim.a_in_b, 4),
                "shared_shingles": sim.shared, "credited": ("url", "publisher")[2 - credit] if credit else None,
                **_page_sides(item, parent),
            },
            "alternatives": [
                {"item_id": c[4].item_id, "coverage": round(c[0], 4), "jaccard": round(c[2], 4)}
                for c in sorted(choices, key=lambda c: c[:4], reverse=True)
                if c[4].item_id != parent.item_id
            ][:3],
        },
    )


def place(item: ItemFacts, earlier: Iterable[tuple[Placed, Edge]], present: Collection[int]) -> Decision:
    """The decision of `item` from its matches with items placed before it in its group's
    order (`present`: the publishers of the whole group)."""
    choices: list[_Choice] = []
    roots: dict[int, int] = {}
    for other, edge in earlier:
        if item.publisher_id == other.root_publisher and _credits(item, other.facts) < 2:
            # A publisher does not copy its own story back from a copy: this is a second
            # story on the same template, not a link in the first one's chain — unless it
            # names that item by its URL (a partner's follow-up, built on its own story, that
            # it republishes; crediting the partner for a quote is not enough).
            continue
        _, sim, coverage = edge.seen_from(item.item_id)
        choices.append((coverage, _credits(item, other.facts), sim.jaccard, -other.position, other.facts, sim))
        roots[other.facts.item_id] = other.original_item_id
    if not choices:
        return _original(item, present)
    return _copy(item, choices, roots)


def decide(items: Sequence[ItemFacts], edges: Iterable[Edge]) -> list[Decision]:
    """Decide the provenance of every item of one connected group of matches."""
    return decide_group(items, edges)[0]


def decide_group(items: Sequence[ItemFacts], edges: Iterable[Edge]) -> tuple[list[Decision], list[Placed], GroupSummary]:
    """`decide`, with each item as placed (in order) and the group's summary for `append`."""
    by_id = {i.item_id: i for i in items}
    neighbours: dict[int, dict[int, Edge]] = {i: {} for i in by_id}
    for edge in edges:
        if edge.a in by_id and edge.b in by_id:
            neighbours[edge.a][edge.b] = edge
            neighbours[edge.b][edge.a] = edge
    present = {i.publisher_id for i in items}
    decisions: dict[int, Decision] = {}
    placed: dict[int, Placed] = {}
    sequence, tangled = ordered(items)
    for index, item in enumerate(sequence):
        earlier = [(placed[o], e) for o, e in neighbours[item.item_id].items() if o in placed]
        decision = place(item, earlier, present)
        decisions[item.item_id] = decision
        placed[item.item_id] = Placed(item, index, decision.original_item_id, by_id[decision.original_item_id].publisher_id)
    summary = GroupSummary(
        size=len(items), last=max(items, key=lambda i: i.order_key) if items else None,
        credited=frozenset(p for i in items for p in i.credited_publishers), tangled=tangled,
        unresolved=frozenset(c for i in items for c in i.unresolved_credits),
    )
    return [decisions[i.item_id] for i in items], [placed[i.item_id] for i in sequence], summary


@dataclass(frozen=True)
class GroupSummary:
    """What placing a newcomer last in a group needs to know of the group: its size, the item
    with the latest order key, the publishers its members credit, whether a cycle of
    credits was broken to order it, and the credits that named nobody known (the caller
    decides the group whole when one of them names someone now)."""

    size: int
    last: ItemFacts | None
    credited: frozenset[int]
    tangled: bool = False
    unresolved: frozenset[tuple[str | None, str | None]] = frozenset()


def append(summary: GroupSummary, item: ItemFacts, earlier: Iterable[tuple[Placed, Edge]], credited_by_members: bool) -> Decision | None:
    """The decision of a newcomer to a group when it goes last in the group's order, so
    that no member's decision changes (members decide only from what comes before them);
    None when the group must be decided whole.

    It goes last when its order key is the group's latest and no member credits it (by its
    URL, `credited_by_members`, or its publisher); a broken credit cycle may reorder anything.
    An original that names an absent publisher depends on who else is present: decided whole.
    """
    if summary.tangled or credited_by_members or item.publisher_id in summary.credited:
        return None
    if summary.last is not None and item.order_key <= summary.last.order_key:
        return None
    decision = place(item, earlier, {item.publisher_id})
    if decision.parent_item_id is None and item.credited_names and summary.size:
        return None
    return decision


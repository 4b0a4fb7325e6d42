"""Provenance decided incrementally equals provenance decided whole.

A newcomer placed last in its group (`append`) must leave the group exactly as deciding it
whole would (`decide`), whatever the order in which items arrive: random groups with ties in
time and text, backdated items, items seen late, credits by URL and by publisher.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from tracker.model import Similarity
from tracker.provenance.decide import Decision, Edge, GroupSummary, ItemFacts, Placed, append, decide, decide_group

T0 = datetime(2026, 1, 5, 8, 0)


def components(seeds: list[int], neighbours: dict[int, dict[int, Edge]]) -> list[set[int]]:
    """The connected groups of the match graph that hold any of `seeds`."""
    seen: set[int] = set()
    groups: list[set[int]] = []
    for seed in seeds:
        if seed in seen:
            continue
        group, frontier = {seed}, [seed]
        while frontier:
            for other in neighbours.get(frontier.pop(), {}):
                if other not in group:
                    group.add(other)
                    frontier.append(other)
        seen |= group
        groups.append(group)
    return groups


def random_world(rng: random.Random) -> tuple[dict[int, ItemFacts], dict[int, dict[int, Edge]]]:
    """A few items of a few publishers and random verified matches between them."""
    n = rng.randint(1, 14)
    publishers = rng.randint(1, 6)
    facts: dict[int, ItemFacts] = {}
    for item_id in range(1, n + 1):
        publisher = rng.randint(1, publishers)
        # Coarse times make ties; a late sighting is an item first seen long after its time.
        estimated = T0 + timedelta(hours=rng.randint(0, 6))
        seen = estimated + timedelta(hours=rng.choice([0, 0, 1, 30]))
        credited_items = frozenset(rng.sample(range(1, n + 1), 1)) if rng.random() < 0.15 else frozenset()
        credited_publishers = frozenset({rng.randint(1, publishers + 1)}) if rng.random() < 0.15 else frozenset()
        facts[item_id] = ItemFacts(
            item_id=item_id, url=f"https://p{publisher}.example/{item_id}", publisher_id=publisher, estimated_at=estimated,
            first_seen_at=seen, time_evidence="test", credited_items=credited_items - {item_id},
            credited_publishers=credited_publishers - {publisher},
            credited_names=tuple((p, f"P{p}") for p in sorted(credited_publishers - {publisher})),
            story_size=rng.choice([100, 100, 60, 300]), full_size=rng.choice([120, 130, 400]),
        )
    neighbours: dict[int, dict[int, Edge]] = {i: {} for i in facts}
    for a in facts:
        for b in facts:
            if a < b and facts[a].publisher_id != facts[b].publisher_id and rng.random() < 0.5:
                jaccard = rng.choice([0.5, 0.9, 1.0])
                edge = Edge(a, b, Similarity(jaccard, rng.choice([0.7, 0.95]), rng.choice([0.7, 0.95]), 40),
                            rng.choice([0.9, 0.95, 1.0]), rng.choice([0.9, 0.95, 1.0]))
                neighbours[a][b] = neighbours[b][a] = edge
    return facts, neighbours


class Incremental:
    """What `tracker.detect` keeps per group, in memory: placed items and summaries."""

    def __init__(self, facts: dict[int, ItemFacts], neighbours: dict[int, dict[int, Edge]]) -> None:
        self.facts, self.neighbours = facts, neighbours
        self.arrived: set[int] = set()
        self.decisions: dict[int, Decision] = {}
        self.placed: dict[int, Placed] = {}
        self.group_of: dict[int, int] = {}
        self.summaries: dict[int, GroupSummary] = {}
        self.appended = 0

    def arrive(self, item_id: int) -> None:
        self.arrived.add(item_id)
        partners = [o for o in self.neighbours[item_id] if o in self.arrived]
        groups = {self.group_of[o] for o in partners}
        if len(groups) <= 1:
            group = groups.pop() if groups else item_id
            summary = self.summaries.get(group, GroupSummary(0, None, frozenset()))
            members = [m for m, g in self.group_of.items() if g == group]
            by_member = any(item_id in self.facts[m].credited_items for m in members)
            earlier = [(self.placed[o], self.neighbours[item_id][o]) for o in partners]
            decision = append(summary, self.facts[item_id], earlier, by_member)
            if decision is not None:
                self.appended += 1
                item = self.facts[item_id]
                self.decisions[item_id] = decision
                root = self.facts[decision.original_item_id].publisher_id
                self.placed[item_id] = Placed(item, summary.size, decision.original_item_id, root)
                self.group_of[item_id] = group
                self.summaries[group] = GroupSummary(summary.size + 1, item, summary.credited | item.credited_publishers)
                return
        self.decide_whole(item_id)

    def decide_whole(self, item_id: int) -> None:
        local = {i: {o: e for o, e in self.neighbours[i].items() if o in self.arrived} for i in self.arrived}
        group = components([item_id], local)[0]
        edges = {(e.a, e.b): e for i in group for e in local[i].values()}
        decisions, placed, summary = decide_group([self.facts[i] for i in sorted(group)], edges.values())
        gid = min(group)
        self.summaries[gid] = summary
        for decision in decisions:
            self.decisions[decision.item_id] = decision
        for p in placed:
            self.placed[p.facts.item_id] = p
            self.group_of[p.facts.item_id] = gid


def decided_whole(facts: dict[int, ItemFacts], neighbours: dict[int, dict[int, Edge]], arrived: set[int]) -> dict[int, Decision]:
    """Every arrived item's decision, its group decided whole."""
    local = {i: {o: e for o, e in neighbours[i].items() if o in arrived} for i in arrived}
    found: dict[int, Decision] = {}
    for group in components(sorted(arrived), local):
        edges = {(e.a, e.b): e for i in group for e in local[i].values()}
        found.update({d.item_id: d for d in decide([facts[i] for i in sorted(group)], edges.values())})
    return found


@pytest.mark.parametrize("seed", range(40))
def test_incremental_decisions_equal_whole_decisions_in_any_arrival_order(seed: int) -> None:
    rng = random.Random(seed)
    appended = 0
    for _ in range(25):
        facts, neighbours = random_world(rng)
        arrival = list(facts)
        rng.shuffle(arrival)
        state = Incremental(facts, neighbours)
        for item_id in arrival:
            state.arrive(item_id)
            assert state.decisions == decided_whole(facts, neighbours, state.arrived), (seed, arrival, item_id)
        appended += state.appended
    assert appended > 0  # the incremental path was taken, not only the whole one


def test_a_copy_arriving_after_its_group_is_appended_and_names_the_original() -> None:
    facts = {
        i: ItemFacts(i, f"https://p{i}.example/s", i, T0 + timedelta(minutes=i), T0 + timedelta(minutes=i), "t", story_size=100, full_size=110)
        for i in range(1, 5)
    }
    neighbours: dict[int, dict[int, Edge]] = {i: {} for i in facts}
    for a in facts:
        for b in facts:
            if a < b:
                neighbours[a][b] = neighbours[b][a] = Edge(a, b, Similarity(1.0, 1.0, 1.0, 90), 0.95, 0.95)
    state = Incremental(facts, neighbours)
    for item_id in sorted(facts):
        state.arrive(item_id)
    assert state.appended == 4
    assert {i: d.parent_item_id for i, d in state.decisions.items()} == {1: None, 2: 1, 3: 1, 4: 1}


def test_a_backdated_original_re_roots_its_group() -> None:
    facts = {
        i: ItemFacts(i, f"https://p{i}.example/s", i, T0 + timedelta(minutes=10 - i), T0 + timedelta(hours=i), "t",
                     story_size=100, full_size=110)
        for i in range(1, 4)
    }
    edge = {(a, b): Edge(a, b, Similarity(1.0, 1.0, 1.0, 90), 0.95, 0.95) for a in facts for b in facts if a < b}
    neighbours = {i: {(b if a == i else a): e for (a, b), e in edge.items() if i in (a, b)} for i in facts}
    state = Incremental(facts, neighbours)
    for item_id in (1, 2, 3):
        state.arrive(item_id)
    assert state.appended == 1  # only the first: each later arrival claims an earlier time
    assert {d.original_item_id for d in state.decisions.values()} == {3}



def test_an_item_another_credits_is_as_early_as_that_credit_and_a_scraper_between_them_is_no_original() -> None:
    """ru24 (09:00) credits Khaama, whose own item is dated 11:00; NewsHub scraped the story
    uncredited at 10:00. The credit proves Khaama's article existed at 09:00: Khaama is the
    original, ru24 and NewsHub copies."""
    khaama = ItemFacts(1, "https://khaama.example/s", 1, T0 + timedelta(hours=2), T0 + timedelta(hours=2), "t",
                       story_size=100, full_size=110)
    ru24 = ItemFacts(2, "https://ru24.example/s", 2, T0, T0, "t", credited_publishers=frozenset({1}),
                     credited_names=((1, "Khaama Press"),), story_size=100, full_size=130)
    newshub = ItemFacts(3, "https://newshub.example/s", 3, T0 + timedelta(hours=1), T0 + timedelta(hours=1), "t",
                        story_size=100, full_size=110)
    edges = [Edge(a, b, Similarity(1.0, 1.0, 1.0, 90), 0.95, 0.95) for a, b in ((1, 2), (1, 3), (2, 3))]
    decided = {d.item_id: d for d in decide([khaama, ru24, newshub], edges)}
    assert decided[1].parent_item_id is None
    assert decided[2].parent_item_id == 1 and decided[3].original_item_id == 1

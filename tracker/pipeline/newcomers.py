"""Placing a capture's new items: alone in a group of their own, or last in the one group
their matches reach (`tracker.provenance.decide.append`), from the group's summary.

A capture's newcomers are placed in order, as if one by one, but what they read is read for
all of them at once and what they decide is written together: a wire story's copies arrive
a few to a capture, each placed in a dozen statements per capture instead of a dozen each.
An item whose reads an earlier newcomer's placing changed (a match with it, its group) is
placed on its own, after what was placed before it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tracker.model import IngestReport, utcnow
from tracker.provenance.decide import (
    Decision,
    Edge,
    GroupSummary,
    ItemFacts,
    Placed,
    append,
)
from tracker.provenance.publishers import Directory
from tracker.store import groups, items, locks, matching

if TYPE_CHECKING:
    from tracker.pipeline.detect import Detector

# The summary of a group not yet stored: a newcomer without matches starts it.
_EMPTY: groups.GroupRow = (0, None, frozenset(), False, frozenset())
# A group of no member yet: a newcomer placed in it starts a group of its own.
_ALONE = GroupSummary(0, None, frozenset())


@dataclass
class _Reads:
    """What placing some newcomers reads, for all of them at once."""

    edges: dict[int, dict[int, Edge]]  # each newcomer's matches, by partner
    before: groups.Places  # the partners' groups and places, as first read
    after: groups.Places  # ... and as read again under the groups' locks (PostgreSQL)
    summaries: dict[int, groups.GroupRow]  # of the partners' groups (under the locks, when locked)
    locked: bool
    facts: dict[int, ItemFacts]  # of the partners and of their groups' latest members
    originals: dict[int, int]  # the partners' decided originals
    roots: dict[int, int]  # the publisher of each original
    crediting: dict[str, dict[int, int | None]]  # who credits each newcomer's URL, with their groups

    def partners_groups(self, item_id: int) -> set[int]:
        """The groups an item's partners were in, first and under the lock."""
        found = {self.before[p][0] for p in self.edges[item_id] if p in self.before}
        return found | {self.after[p][0] for p in self.edges[item_id] if p in self.after}


@dataclass
class _Writes:
    """Placings decided, not yet written."""

    decisions: list[Decision] = field(default_factory=list)
    firsts: list[tuple[int, frozenset[int], groups.Unresolved]] = field(default_factory=list)
    appended: list[tuple[int, int, int, frozenset[int], groups.Unresolved]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        matching.write_new_decisions(session, self.decisions, utcnow())
        groups.start_groups(session, self.firsts)
        groups.append_to_groups(session, self.appended)
        self.decisions, self.firsts, self.appended = [], [], []


class NewcomersMixin:
    """New items placed by `Detector.decide`."""

    def _start_groups(self: Detector, session: Session, news: list[ItemFacts], report: IngestReport) -> set[int]:
        """Decide new items without a match, each the first of a group of its own (as `_append_all`
        would: it reads nothing, nobody else sees them yet), written together; return those
        whose decision needs their group decided whole."""
        writes = _Writes()
        again: set[int] = set()
        for item in news:
            if _place(item, _ALONE, item.item_id, [], False, report, writes) is None:
                again.add(item.item_id)
        writes.write(session)
        return again

    def _append_all(self: Detector, session: Session, ordered: Sequence[ItemFacts], directory: Directory, report: IngestReport) -> set[int]:
        """Place each new item last in the one group its matches reach, in turn, when it goes
        there; return those whose group must be decided whole."""
        again: set[int] = set()
        placed_items: set[int] = set()
        placed_groups: set[int] = set()
        reads = self._placing_reads(session, ordered, directory)
        writes = _Writes()
        for item in ordered:
            mine = reads
            if (
                placed_items & (reads.edges[item.item_id].keys() | reads.crediting.get(item.url, {}).keys())
                or placed_groups & reads.partners_groups(item.item_id)
            ):
                writes.write(session)  # what it reads is as the placings before it left it
                mine = self._placing_reads(session, [item], directory)
            group = self._append_one(session, item, mine, directory, report, writes)
            if group is None:
                again.add(item.item_id)
            else:
                placed_items.add(item.item_id)
                placed_groups.add(group)
        writes.write(session)
        return again

    def _placing_reads(self: Detector, session: Session, news: Sequence[ItemFacts], directory: Directory) -> _Reads:
        """What placing these newcomers reads. The group each would join is locked with it,
        then the groups are read again: another writer may have changed them until then."""
        ids = {item.item_id for item in news}
        edges: dict[int, dict[int, Edge]] = {i: {} for i in ids}
        for edge in matching.edges_of(session, ids):
            for mine, theirs in ((edge.a, edge.b), (edge.b, edge.a)):
                if mine in edges:
                    edges[mine][theirs] = edge
        partners = {p for found in edges.values() for p in found}
        before, summaries = groups.placed(session, partners)
        wanted: set[int] = set()
        for item_id, found in edges.items():
            reached = {before[p][0] for p in found if p in before}
            if len(reached) <= 1 and all(p in before for p in found):
                wanted |= reached | {item_id}
        locked = locks.lock(session, locks.ITEM, wanted)
        after = before
        if locked:
            after, summaries = groups.placed(session, partners)
        lasts = {s[1] for s in summaries.values() if s[1] is not None}
        originals, roots = matching.originals_and_publishers(session, partners)
        return _Reads(
            edges, before, after, summaries, locked, self._facts(session, partners | lasts, directory),
            originals, roots, items.crediting_groups(session, [item.url for item in news]),
        )

    def _append_one(
        self: Detector, session: Session, item: ItemFacts, reads: _Reads, directory: Directory, report: IngestReport,
        writes: _Writes,
    ) -> int | None:
        """`append` of one newcomer from what was read (its placing added to `writes`); the group
        it joins, or None when its group must be decided whole."""
        edges = reads.edges[item.item_id]
        mine = {p: reads.before[p] for p in edges if p in reads.before}
        if len(mine) < len(edges) or len({g for g, _ in mine.values()}) > 1:
            return None  # a partner never placed (an older database), or groups to merge
        group_id = next(iter(mine.values()))[0] if mine else item.item_id
        if reads.locked and mine != {p: reads.after[p] for p in edges if p in reads.after}:
            return None
        found = reads.summaries.get(group_id) if mine else _EMPTY
        if found is None:
            return None
        size, last, credited, tangled, unresolved = found
        if unresolved and self._resolves(session, unresolved, directory):
            return None  # a member's credit names someone now (a publisher added since): its facts changed
        known = reads.facts
        if any(p not in reads.originals for p in edges) or (last is not None and last not in known):
            return None
        earlier = [
            (Placed(known[o], mine[o][1], reads.originals[o], reads.roots[reads.originals[o]]), e) for o, e in edges.items()
        ]
        by_member = any(g == group_id for i, g in reads.crediting.get(item.url, {}).items() if i != item.item_id)
        # The partners' credits as they read now: a publisher first seen since they were placed
        # may be the one at their links' host (`item_facts`), which the stored summary lacks.
        credited = credited | frozenset(p for o in edges if o in known for p in known[o].credited_publishers)
        summary = GroupSummary(size, known[last] if last is not None else None, credited, tangled, unresolved)
        return _place(item, summary, group_id, earlier, by_member, report, writes)


def _place(
    item: ItemFacts, summary: GroupSummary, group_id: int, earlier: list[tuple[Placed, Edge]], by_member: bool,
    report: IngestReport, writes: _Writes,
) -> int | None:
    """Decide a newcomer last in its group (`summary`: of no member yet, a group of its own)
    and add the placing to `writes`; the group, or None when `append` cannot place it."""
    decision = append(summary, item, earlier, by_member)
    if decision is None:
        return None
    if decision.parent_item_id is not None:
        report.republications += 1
        report.new_copies.append(decision.item_id)
    writes.decisions.append(decision)
    credited, unresolved = summary.credited | item.credited_publishers, summary.unresolved | set(item.unresolved_credits)
    if summary.size == 0:
        writes.firsts.append((item.item_id, credited, unresolved))
    else:
        writes.appended.append((group_id, item.item_id, summary.size + 1, credited, unresolved))
    return group_id

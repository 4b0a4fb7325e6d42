"""The LSH index, verified matches and provenance decisions, as SQL.

Candidates come from one indexed lookup of a text's buckets (`tracker.lsh`); a group of
matches is walked through the `matches` table; decisions are compared with the stored
row before they are written, so that only news is written (and alerted).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from tracker.fingerprint import unpack_keys, unpack_shingles
from tracker.model import Similarity
from tracker.provenance import Decision, DecisionKey, Edge, decision_key
from tracker.store import schema
from tracker.store.items import chunks


# -- the LSH index -----------------------------------------------------------------------------
def add_buckets(session: Session, item_id: int, buckets: Collection[int]) -> None:
    """Index an item under these buckets (those it has already are kept once)."""
    b = schema.LshBucket
    have: set[int] = set()
    for part in chunks(buckets):
        have.update(session.scalars(select(b.bucket).where(b.item_id == item_id, b.bucket.in_(part))))
    rows = [{"bucket": k, "item_id": item_id} for k in buckets if k not in have]
    if rows:
        session.execute(insert(b), rows)


def remove_buckets(session: Session, item_id: int, buckets: Collection[int]) -> None:
    """Take an item out of these buckets."""
    b = schema.LshBucket
    for part in chunks(buckets):
        session.execute(delete(b).where(b.item_id == item_id, b.bucket.in_(part)))


def in_buckets(session: Session, buckets: Collection[int]) -> set[int]:
    """Every item indexed under any of these buckets."""
    b = schema.LshBucket
    found: set[int] = set()
    for part in chunks(buckets):
        found.update(session.scalars(select(b.item_id).where(b.bucket.in_(part)).distinct()))
    return found


# -- versions as detection reads them ------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class VersionPrints:
    """One stored version's fingerprints."""

    version_id: int
    item_id: int
    number: int
    story: np.ndarray
    full: np.ndarray
    signature: bytes
    lead_signature: bytes
    paragraph_keys: tuple[int, ...]


def versions_of(session: Session, ids: Collection[int]) -> dict[int, list[VersionPrints]]:
    """Every version of these items, oldest first, as stored when it was written."""
    v = schema.ItemVersion
    found: dict[int, list[VersionPrints]] = {i: [] for i in ids}
    for part in chunks(ids):
        rows = session.execute(
            select(v.id, v.item_id, v.version, v.story_shingles, v.full_shingles, v.signature, v.lead_signature, v.paragraph_keys)
            .where(v.item_id.in_(part)).order_by(v.item_id, v.version)
        )
        for r in rows:
            found[r.item_id].append(VersionPrints(
                r.id, r.item_id, r.version, unpack_shingles(r.story_shingles), unpack_shingles(r.full_shingles),
                r.signature, r.lead_signature or b"", unpack_keys(r.paragraph_keys),
            ))
    return found


def publishers_of(session: Session, ids: Collection[int]) -> dict[int, int]:
    """The publisher of each item."""
    i = schema.Item
    found: dict[int, int] = {}
    for part in chunks(ids):
        found.update({a: b for a, b in session.execute(select(i.id, i.publisher_id).where(i.id.in_(part)))})
    return found


@dataclass(frozen=True)
class Sizes:
    """The largest story and full text among an item's versions, in shingles."""

    story: int
    full: int


def sizes_of(session: Session, ids: Collection[int]) -> dict[int, Sizes]:
    """Each item's largest story and full text."""
    v = schema.ItemVersion
    found: dict[int, Sizes] = {}
    for part in chunks(ids):
        rows = session.execute(
            select(v.item_id, func.max(v.shingle_count), func.max(v.full_count)).where(v.item_id.in_(part)).group_by(v.item_id)
        )
        found.update({item_id: Sizes(story or 0, full or 0) for item_id, story, full in rows})
    return found


# -- matches ------------------------------------------------------------------------------------
def edges_of(session: Session, ids: Collection[int]) -> list[Edge]:
    """Every verified match touching these items."""
    m = schema.Match
    found: dict[tuple[int, int], Edge] = {}
    for part in chunks(ids):
        for r in session.execute(select(m).where(or_(m.item_a.in_(part), m.item_b.in_(part)))).scalars():
            found[(r.item_a, r.item_b)] = Edge(
                r.item_a, r.item_b, Similarity(r.jaccard, r.a_in_b, r.b_in_a, r.shared), r.full_a_in_b, r.full_b_in_a
            )
    return list(found.values())


def neighbours_of(session: Session, item_id: int) -> set[int]:
    """The items an item matches."""
    m = schema.Match
    a = session.scalars(select(m.item_b).where(m.item_a == item_id))
    b = session.scalars(select(m.item_a).where(m.item_b == item_id))
    return set(a) | set(b)


def replace_edges(session: Session, item_id: int, edges: Iterable[Edge], now: datetime) -> None:
    """Make these the item's matches."""
    m = schema.Match.__table__
    session.execute(delete(m).where((m.c.item_a == item_id) | (m.c.item_b == item_id)))
    rows = [
        {"item_a": e.a, "item_b": e.b, "jaccard": e.similarity.jaccard, "a_in_b": e.similarity.a_in_b,
         "b_in_a": e.similarity.b_in_a, "shared": e.similarity.shared, "full_a_in_b": e.full_a_in_b,
         "full_b_in_a": e.full_b_in_a, "found_at": now}
        for e in edges
    ]
    if rows:
        session.execute(m.insert(), rows)


def component(session: Session, seeds: Iterable[int]) -> set[int]:
    """The items connected to `seeds` by matches."""
    group = set(seeds)
    frontier = set(group)
    while frontier:
        reached: set[int] = set()
        for edge in edges_of(session, frontier):
            reached.update((edge.a, edge.b))
        frontier = reached - group
        group |= frontier
    return group


# -- decisions -----------------------------------------------------------------------------------
def stored_decisions(session: Session, ids: Collection[int]) -> dict[int, DecisionKey]:
    """The decision stored for each item, as `Decision.key` compares it."""
    p = schema.Provenance
    found: dict[int, DecisionKey] = {}
    for part in chunks(ids):
        for r in session.execute(select(p).where(p.item_id.in_(part))).scalars():
            found[r.item_id] = decision_key(
                r.story_id, r.parent_item_id, r.relation, r.attributed_origin, r.estimated_published_at, r.similarity, r.coverage
            )
    return found


def write_decision(session: Session, decision: Decision, exists: bool, now: datetime) -> None:
    """Store an item's provenance (a new row, or the one it had replaced)."""
    values = {
        "story_id": decision.story_id,
        "original_item_id": decision.original_item_id,
        "parent_item_id": decision.parent_item_id,
        "relation": decision.relation,
        "similarity": decision.similarity,
        "containment": decision.containment,
        "coverage": decision.coverage,
        "estimated_published_at": decision.estimated_at,
        "lag_seconds": decision.lag_seconds,
        "attributed_origin": decision.attributed_origin,
        "evidence": decision.evidence_json(),
        "decided_at": now,
    }
    if exists:
        session.execute(update(schema.Provenance).where(schema.Provenance.item_id == decision.item_id).values(**values))
    else:
        session.execute(insert(schema.Provenance), {"item_id": decision.item_id, **values})

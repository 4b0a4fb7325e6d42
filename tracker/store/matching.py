"""The LSH index, verified matches and provenance decisions, as SQL.

Candidates come from one indexed lookup of a text's buckets (`tracker.detection.lsh`); a group of
matches is walked through the `matches` table; decisions are compared with the stored
row before they are written, so that only news is written (and alerted).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from tracker.detection.fingerprint import unpack_keys, unpack_shingles
from tracker.model import Similarity, Sizes, VersionPrints
from tracker.provenance.decide import Decision, DecisionKey, Edge, decision_key
from tracker.store import schema
from tracker.store.items import chunks

# -- versions as detection reads them ------------------------------------------------------------
_v = schema.ItemVersion.__table__
_VERSIONS = (
    select(_v.c.id, _v.c.item_id, _v.c.version, _v.c.story_shingles, _v.c.full_shingles, _v.c.signature, _v.c.lead_signature,
           _v.c.paragraph_keys, _v.c.from_page)
    .where(_v.c.item_id.in_(bindparam("ids", expanding=True))).order_by(_v.c.item_id, _v.c.version)
)


# ... with each item's publisher (an item without versions is no candidate: its publisher is not asked).
_VERSIONS_AND_PUBLISHERS = (
    select(*_VERSIONS.selected_columns, schema.Item.__table__.c.publisher_id)
    .join_from(_v, schema.Item.__table__, schema.Item.__table__.c.id == _v.c.item_id)
    .where(_v.c.item_id.in_(bindparam("ids", expanding=True))).order_by(_v.c.item_id, _v.c.version)
)


def versions_of(session: Session, ids: Collection[int]) -> dict[int, list[VersionPrints]]:
    """Every version of these items, oldest first, as stored when it was written."""
    return versions_and_publishers(session, ids, _VERSIONS)[0]


def versions_and_publishers(
    session: Session, ids: Collection[int], statement: Any = _VERSIONS_AND_PUBLISHERS,
) -> tuple[dict[int, list[VersionPrints]], dict[int, int]]:
    """`versions_of` these items, and the publisher of each that has versions (`publishers_of`)."""
    found: dict[int, list[VersionPrints]] = {i: [] for i in ids}
    publishers: dict[int, int] = {}
    for part in chunks(ids):
        rows = session.connection().execute(statement, {"ids": part}).all()
        for r in rows:
            found[r.item_id].append(VersionPrints(
                r.id, r.item_id, r.version, unpack_shingles(r.story_shingles), unpack_shingles(r.full_shingles),
                r.signature, r.lead_signature or b"", unpack_keys(r.paragraph_keys), bool(r.from_page),
            ))
            if statement is _VERSIONS_AND_PUBLISHERS:
                publishers[r.item_id] = r.publisher_id
    return found, publishers


_i = schema.Item.__table__
_PUBLISHERS = select(_i.c.id, _i.c.publisher_id).where(_i.c.id.in_(bindparam("ids", expanding=True)))
_SIZES = (
    select(_v.c.item_id, func.max(_v.c.shingle_count), func.max(_v.c.full_count), func.max(case((_v.c.from_page, 1), else_=0)))
    .where(_v.c.item_id.in_(bindparam("ids", expanding=True))).group_by(_v.c.item_id)
)


def publishers_of(session: Session, ids: Collection[int]) -> dict[int, int]:
    """The publisher of each item."""
    found: dict[int, int] = {}
    for part in chunks(ids):
        found.update(session.connection().execute(_PUBLISHERS, {"ids": part}).all())
    return found


def sizes_of(session: Session, ids: Collection[int]) -> dict[int, Sizes]:
    """Each item's largest story and full text."""
    found: dict[int, Sizes] = {}
    for part in chunks(ids):
        rows = session.connection().execute(_SIZES, {"ids": part}).all()
        found.update({item_id: Sizes(story or 0, full or 0, bool(page)) for item_id, story, full, page in rows})
    return found


# -- matches ------------------------------------------------------------------------------------
_m = schema.Match.__table__
_EDGES = select(_m).where(or_(_m.c.item_a.in_(bindparam("ids", expanding=True)), _m.c.item_b.in_(bindparam("ids", expanding=True))))
_PAIRS = select(_m.c.item_a, _m.c.item_b).where(
    or_(_m.c.item_a.in_(bindparam("ids", expanding=True)), _m.c.item_b.in_(bindparam("ids", expanding=True)))
)


def edges_of(session: Session, ids: Collection[int]) -> list[Edge]:
    """Every verified match touching these items."""
    found: dict[tuple[int, int], Edge] = {}
    for part in chunks(ids):
        for r in session.connection().execute(_EDGES, {"ids": part}).all():
            found[(r.item_a, r.item_b)] = Edge(
                r.item_a, r.item_b, Similarity(r.jaccard, r.a_in_b, r.b_in_a, r.shared), r.full_a_in_b, r.full_b_in_a
            )
    return list(found.values())


def neighbours(session: Session, ids: Collection[int]) -> dict[int, set[int]]:
    """The items each of these items matches."""
    found: dict[int, set[int]] = {i: set() for i in ids}
    for part in chunks(ids):
        for a, b in session.connection().execute(_PAIRS, {"ids": part}).all():
            if a in found:
                found[a].add(b)
            if b in found:
                found[b].add(a)
    return found


_DELETE_EDGES = delete(_m).where(or_(_m.c.item_a.in_(bindparam("ids", expanding=True)), _m.c.item_b.in_(bindparam("ids", expanding=True))))
_INSERT_EDGES = insert(_m)


def replace_edges(session: Session, ids: Collection[int], edges: Iterable[Edge], now: datetime) -> None:
    """Replace every match touching `ids` by `edges` (an item matched for the first time has none to replace)."""
    for part in chunks(ids):
        session.connection().execute(_DELETE_EDGES, {"ids": part})
    rows = [
        {"item_a": e.a, "item_b": e.b, "jaccard": e.similarity.jaccard, "a_in_b": e.similarity.a_in_b,
         "b_in_a": e.similarity.b_in_a, "shared": e.similarity.shared, "full_a_in_b": e.full_a_in_b,
         "full_b_in_a": e.full_b_in_a, "found_at": now}
        for e in edges
    ]
    if rows:
        session.connection().execute(_INSERT_EDGES, rows)


def component(session: Session, seeds: Iterable[int]) -> set[int]:
    """The items connected to `seeds` by matches."""
    group = set(seeds)
    frontier = set(group)
    while frontier:
        reached: set[int] = set()
        for part in chunks(frontier):
            for a, b in session.connection().execute(_PAIRS, {"ids": part}).all():
                reached.update((a, b))
        frontier = reached - group
        group |= frontier
    return group


# -- decisions -----------------------------------------------------------------------------------
_p = schema.Provenance.__table__
_ORIGINALS = select(_p.c.item_id, _p.c.original_item_id).where(_p.c.item_id.in_(bindparam("ids", expanding=True)))
_DECISIONS = select(
    _p.c.item_id, _p.c.story_id, _p.c.parent_item_id, _p.c.relation, _p.c.attributed_origin, _p.c.estimated_published_at,
    _p.c.similarity, _p.c.coverage, _p.c.lag_seconds,
).where(_p.c.item_id.in_(bindparam("ids", expanding=True)))
_INSERT_DECISION = insert(_p)
_UPDATE_DECISION = update(_p).where(_p.c.item_id == bindparam("i"))


_ORIGINALS_AND_PUBLISHERS = (
    select(_p.c.item_id, _p.c.original_item_id, _i.c.publisher_id)
    .select_from(_p.outerjoin(_i, _i.c.id == _p.c.original_item_id))
    .where(_p.c.item_id.in_(bindparam("ids", expanding=True)))
)


def originals_and_publishers(session: Session, ids: Collection[int]) -> tuple[dict[int, int], dict[int, int]]:
    """`decided_originals` of these items, and the publisher of each original (`publishers_of`)."""
    originals: dict[int, int] = {}
    publishers: dict[int, int] = {}
    for part in chunks(ids):
        for item_id, original, publisher_id in session.connection().execute(_ORIGINALS_AND_PUBLISHERS, {"ids": part}).all():
            originals[item_id] = original
            if publisher_id is not None:
                publishers[original] = publisher_id
    return originals, publishers


def decided_originals(session: Session, ids: Collection[int]) -> dict[int, int]:
    """The original of each of these items' stories, as decided."""
    found: dict[int, int] = {}
    for part in chunks(ids):
        found.update(session.connection().execute(_ORIGINALS, {"ids": part}).all())
    return found


_DECIDED = select(_p.c.item_id).where(_p.c.item_id.in_(bindparam("ids", expanding=True)))


def decided_among(session: Session, ids: Collection[int]) -> set[int]:
    """Which of these items have a decision stored."""
    found: set[int] = set()
    for part in chunks(ids):
        found.update(session.connection().execute(_DECIDED, {"ids": part}).scalars())
    return found


def stored_decisions(session: Session, ids: Collection[int]) -> dict[int, DecisionKey]:
    """The decision stored for each item, as `Decision.key` compares it."""
    found: dict[int, DecisionKey] = {}
    for part in chunks(ids):
        for r in session.connection().execute(_DECISIONS, {"ids": part}).all():
            found[r.item_id] = decision_key(
                r.story_id, r.parent_item_id, r.relation, r.attributed_origin, r.estimated_published_at, r.similarity, r.coverage,
                r.lag_seconds,
            )
    return found


def write_decision(session: Session, decision: Decision, exists: bool, now: datetime) -> None:
    """Store an item's provenance (a new row, or the one it had replaced)."""
    values = _decision_values(decision, now)
    if exists:
        session.connection().execute(_UPDATE_DECISION, {"i": decision.item_id, **values})
    else:
        session.connection().execute(_INSERT_DECISION, {"item_id": decision.item_id, **values})


def write_new_decisions(session: Session, decisions: Sequence[Decision], now: datetime) -> None:
    """Store the provenance of items that had none (one statement)."""
    if decisions:
        session.connection().execute(_INSERT_DECISION, [{"item_id": d.item_id, **_decision_values(d, now)} for d in decisions])


def _decision_values(decision: Decision, now: datetime) -> dict[str, object]:
    return {
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

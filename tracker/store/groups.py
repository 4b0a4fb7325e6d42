"""Groups of matches as SQL: each item's group and place in the group's order, and each
group's summary (size, latest member, what its members credit), which lets a newcomer be
placed last in its group without reading the group (`tracker.pipeline.newcomers`)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from tracker.store import schema
from tracker.store.items import chunks

_g, _mg = schema.ItemGroup.__table__, schema.MatchGroup.__table__
_GROUPS = select(_g.c.item_id, _g.c.group_id, _g.c.position).where(_g.c.item_id.in_(bindparam("ids", expanding=True)))
# Each item's group and place with the group's summary (none: a group never summarised).
_PLACED = (
    select(_g.c.item_id, _g.c.group_id, _g.c.position, _mg)
    .select_from(_g.outerjoin(_mg, _mg.c.id == _g.c.group_id))
    .where(_g.c.item_id.in_(bindparam("ids", expanding=True)))
)
_DELETE_PLACES = delete(_g).where(_g.c.item_id.in_(bindparam("ids", expanding=True)))
_DELETE_GROUPS = delete(_mg).where(_mg.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_PLACES = insert(_g)
_INSERT_GROUP = insert(_mg)
_UPDATE_GROUP = update(_mg).where(_mg.c.id == bindparam("g")).values(
    size=bindparam("size"), last_item_id=bindparam("last_item_id"), credited=bindparam("credited"), tangled=bindparam("tangled")
)

Unresolved = frozenset[tuple[str | None, str | None]]
GroupRow = tuple[int, int | None, frozenset[int], bool, Unresolved]
Places = dict[int, tuple[int, int]]


def groups_of(session: Session, ids: Collection[int]) -> Places:
    """(group, position in the group's order) of each of these items that has them."""
    found: Places = {}
    for part in chunks(ids):
        rows = session.connection().execute(_GROUPS, {"ids": part}).all()
        found.update({item_id: (group, position) for item_id, group, position in rows})
    return found


def placed(session: Session, ids: Collection[int]) -> tuple[Places, dict[int, GroupRow]]:
    """`groups_of` these items, and the summary of each of their groups that has one."""
    places: Places = {}
    summaries: dict[int, GroupRow] = {}
    for part in chunks(ids):
        for r in session.connection().execute(_PLACED, {"ids": part}).all():
            places[r.item_id] = (r.group_id, r.position)
            if r.size is not None:
                summaries[r.group_id] = _summary(r)
    return places, summaries


def _summary(row: Row[Any]) -> GroupRow:
    """(size, latest member, publishers credited by members, tangled, credits naming nobody known)."""
    credited = json.loads(row.credited)
    unresolved: Unresolved = frozenset((name, url) for name, url in credited["unresolved"])
    return row.size, row.last_item_id, frozenset(credited["publishers"]), bool(row.tangled), unresolved


def _credited(publishers: Iterable[int], unresolved: Unresolved) -> str:
    return json.dumps({"publishers": sorted(publishers), "unresolved": sorted(unresolved, key=lambda c: (c[0] or "", c[1] or ""))})


def write_group(
    session: Session, group_id: int, positions: Sequence[tuple[int, int]], summary: GroupRow, replaced: Collection[int],
) -> None:
    """Store a group decided whole: its members' positions and its summary (the groups in
    `replaced`, which its members were in before, are gone)."""
    conn = session.connection()
    for part in chunks([item for item, _ in positions]):
        conn.execute(_DELETE_PLACES, {"ids": part})
    for part in chunks(set(replaced) | {group_id}):
        conn.execute(_DELETE_GROUPS, {"ids": part})
    conn.execute(_INSERT_PLACES, [{"item_id": item, "group_id": group_id, "position": position} for item, position in positions])
    size, last, credited, tangled, unresolved = summary
    conn.execute(_INSERT_GROUP, {"id": group_id, "size": size, "last_item_id": last, "credited": _credited(credited, unresolved),
                               "tangled": tangled})


def append_to_groups(session: Session, appended: Sequence[tuple[int, int, int, Iterable[int], Unresolved]]) -> None:
    """Place each item last in its group, given as (group, item, the group's new size, the
    publishers and unresolved names its members credit): two statements for all."""
    if not appended:
        return
    conn = session.connection()
    conn.execute(_INSERT_PLACES, [{"item_id": item, "group_id": group, "position": size - 1} for group, item, size, _, _ in appended])
    conn.execute(_UPDATE_GROUP, [
        {"g": group, "size": size, "last_item_id": item, "credited": _credited(credited, unresolved), "tangled": False}
        for group, item, size, credited, unresolved in appended
    ])


def start_groups(session: Session, firsts: Sequence[tuple[int, Iterable[int], Unresolved]]) -> None:
    """Place each of these items alone in a new group (of its id), with the publishers and
    unresolved names it credits (two statements for all)."""
    if not firsts:
        return
    conn = session.connection()
    conn.execute(_INSERT_PLACES, [{"item_id": item, "group_id": item, "position": 0} for item, _, _ in firsts])
    conn.execute(_INSERT_GROUP, [
        {"id": item, "size": 1, "last_item_id": item, "credited": _credited(credited, unresolved), "tangled": False}
        for item, credited, unresolved in firsts
    ])

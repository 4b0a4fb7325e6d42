"""SQL over the public views (`item_provenance`, `republications`, `stories`).

The query commands read only these views, so what they print is what a user's own SQL
finds. Rows come back as plain dicts with the view's column names, times as naive-UTC
`datetime` on every database (SQLite hands raw SQL times back as text) and `evidence`
decoded from its JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import DateTime, TextClause, bindparam, text
from sqlalchemy.orm import Session

from tracker.detection.identity import lookup_hash

Row = dict[str, Any]

ITEM_COLUMNS = (
    "item_id", "url", "title", "publisher", "published_at", "first_seen_at", "estimated_published_at", "story_id",
    "original_item_id", "parent_item_id", "relation", "similarity", "containment", "lag_seconds", "attributed_origin",
    "evidence",
)
REPUBLICATION_COLUMNS = (
    "copy_item_id", "copy_url", "copy_publisher", "parent_item_id", "parent_url", "parent_publisher", "story_id",
    "original_item_id", "relation", "similarity", "containment", "coverage", "copy_published_at", "copy_first_seen_at",
    "lag_seconds", "attributed_origin", "evidence",
)
STORY_COLUMNS = (
    "story_id", "original_item_id", "original_url", "title", "publisher", "published_at", "attributed_origin", "copies",
    "publishers", "first_seen_at", "last_seen_at",
)
_TIMES = {"published_at", "first_seen_at", "estimated_published_at", "copy_published_at", "copy_first_seen_at",
          "last_seen_at", "original_published_at"}


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _row(mapping: Any) -> Row:
    row = dict(mapping)
    for key in _TIMES.intersection(row):
        row[key] = _time(row[key])
    if isinstance(row.get("evidence"), str):
        try:
            row["evidence"] = json.loads(row["evidence"])
        except ValueError:
            pass  # kept as stored: the view's text is still the truth
    return row


def _bind(sql: str, params: dict[str, Any]) -> TextClause:
    """`sql` with its time parameters typed, so each database compares them as it stores times."""
    times = [bindparam(k, type_=DateTime()) for k, v in params.items() if isinstance(v, datetime)]
    return text(sql).bindparams(*times)


def _select(columns: tuple[str, ...], view: str, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"SELECT {', '.join(prefix + c for c in columns)} FROM {view} {alias}"


def item_id_by_url(session: Session, url: str) -> int | None:
    """The item of an article, by its link as published or any variant of it (http/https,
    "www.", trailing slash, tracking parameters, fragment): the one resolver of an item URL
    that every command taking one uses.

    Several items may share a variant (posts told apart by fragment): the link exactly as
    given wins, then one with the same fragment, then the oldest.
    """
    rows = session.execute(
        text("SELECT item_id AS id, url FROM item_provenance WHERE item_id IN (SELECT id FROM items WHERE url_hash = :h)"),
        {"h": lookup_hash(url)},
    ).all()
    if not rows:
        return None
    wanted = url.strip()
    fragment = urlsplit(wanted).fragment
    best = min(rows, key=lambda r: (r.url != wanted, urlsplit(str(r.url or "")).fragment != fragment, r.id))
    return int(best.id)


def item_by_url(session: Session, url: str) -> Row | None:
    """The item_provenance row of an article, by its link as published or any variant of it (`item_id_by_url`)."""
    item_id = item_id_by_url(session, url)
    if item_id is None:
        return None
    rows = items_by_id(session, [item_id])
    return rows[0] if rows else None


def disproved_claims(session: Session, ids: list[int]) -> set[int]:
    """Those of these items whose feed claimed a date that the captures disproved.

    A believed claim dates the item at or before it (`tracker.facts.estimated_time`: the
    earlier of the claim and the first sighting), a claim after the first sighting is
    replaced by a later-or-equal time, so a claimed date earlier than the credible time is
    exactly one that an earlier capture without the item disproved."""
    found: set[int] = set()
    sql = text(
        "SELECT item_id FROM item_provenance WHERE item_id IN :ids AND published_at < estimated_published_at"
    ).bindparams(bindparam("ids", expanding=True))
    for start in range(0, len(ids), 500):
        found.update(int(r[0]) for r in session.execute(sql, {"ids": ids[start:start + 500]}))
    return found


# The query the demo invites a user to run on its database: the republications it found.
REPUBLICATIONS_QUERY = "SELECT * FROM republications"


def story_items(session: Session, story_id: int) -> list[Row]:
    """Every item_provenance row of a story, in publication order."""
    rows = session.execute(
        text(_select(ITEM_COLUMNS, "item_provenance") + " WHERE story_id = :story ORDER BY estimated_published_at, item_id"),
        {"story": story_id},
    )
    return [_row(r) for r in rows.mappings()]


def publisher_names(session: Session) -> list[str]:
    """Every publisher that has items."""
    return [r[0] for r in session.execute(text("SELECT DISTINCT publisher FROM item_provenance ORDER BY publisher"))]


def stories(session: Session, *, publisher: str | None = None, since: datetime | None = None, until: datetime | None = None,
            min_copies: int = 0, limit: int | None = None) -> list[Row]:
    """Rows of `stories`, newest first, filtered by the original's publisher and publication time."""
    where, params = ["copies >= :min_copies"], {"min_copies": min_copies}
    if publisher is not None:
        where.append("publisher = :publisher")
        params["publisher"] = publisher
    if since is not None:
        where.append("published_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("published_at < :until")
        params["until"] = until
    sql = _select(STORY_COLUMNS, "stories") + " WHERE " + " AND ".join(where) + " ORDER BY published_at DESC, story_id DESC"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return [_row(r) for r in session.execute(_bind(sql, params), params).mappings()]


def republications(session: Session, *, original_publisher: str | None = None, since: datetime | None = None) -> list[Row]:
    """Rows of `republications` with the time of their story's original (`original_published_at`)
    and its publisher (`original_publisher`), oldest copy first."""
    where, params = ["1 = 1"], {}
    if original_publisher is not None:
        where.append("o.publisher = :publisher")
        params["publisher"] = original_publisher
    if since is not None:
        where.append("r.copy_published_at >= :since")
        params["since"] = since
    columns = ", ".join(f"r.{c}" for c in REPUBLICATION_COLUMNS)
    sql = (
        f"SELECT {columns}, o.estimated_published_at AS original_published_at, o.publisher AS original_publisher "
        "FROM republications r JOIN item_provenance o ON o.item_id = r.original_item_id "
        f"WHERE {' AND '.join(where)} ORDER BY r.copy_published_at, r.copy_item_id"
    )
    return [_row(r) for r in session.execute(_bind(sql, params), params).mappings()]


def items_per_publisher(session: Session, since: datetime | None = None) -> dict[str, int]:
    """How many items each publisher has (published since `since`, when given)."""
    sql = "SELECT publisher, COUNT(*) FROM item_provenance"
    params = {}
    if since is not None:
        sql += " WHERE COALESCE(estimated_published_at, first_seen_at) >= :since"
        params["since"] = since
    sql += " GROUP BY publisher"
    return {name: int(count) for name, count in session.execute(_bind(sql, params), params)}


def items_since(session: Session, since: datetime | None = None) -> list[Row]:
    """item_provenance rows published (or, undated, first seen) since `since`, oldest first."""
    when = "COALESCE(estimated_published_at, first_seen_at)"
    sql = _select(ITEM_COLUMNS, "item_provenance")
    params: dict[str, Any] = {}
    if since is not None:
        sql += f" WHERE {when} >= :since"
        params["since"] = since
    sql += f" ORDER BY {when}, item_id"
    return [_row(r) for r in session.execute(_bind(sql, params), params).mappings()]


def items_by_id(session: Session, ids: list[int]) -> list[Row]:
    """item_provenance rows of these items."""
    out: list[Row] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        sql = _select(ITEM_COLUMNS, "item_provenance") + " WHERE item_id IN :ids"
        statement = text(sql).bindparams(bindparam("ids", expanding=True))
        out.extend(_row(r) for r in session.execute(statement, {"ids": chunk}).mappings())
    return out


def items_newest_first(session: Session, batch: int = 1000) -> Iterator[Row]:
    """Every item_provenance row, newest first (streamed, for filters SQL cannot do alike everywhere)."""
    sql = _select(ITEM_COLUMNS, "item_provenance") + (
        " ORDER BY COALESCE(estimated_published_at, first_seen_at) DESC, item_id DESC"
    )
    result = session.execute(text(sql).execution_options(yield_per=batch))
    for mapping in result.mappings():
        yield _row(mapping)


_STATS = """
SELECT publisher,
       COUNT(*) AS items,
       SUM(CASE WHEN parent_item_id IS NULL THEN 1 ELSE 0 END) AS originals,
       SUM(CASE WHEN parent_item_id IS NOT NULL THEN 1 ELSE 0 END) AS copies
FROM item_provenance
GROUP BY publisher
"""

_COPIED = """
SELECT o.publisher AS publisher, COUNT(*) AS copied, COUNT(DISTINCT c.publisher) AS by_publishers
FROM item_provenance c
JOIN item_provenance o ON o.item_id = c.original_item_id
WHERE c.parent_item_id IS NOT NULL
GROUP BY o.publisher
"""


def publisher_stats(session: Session) -> list[Row]:
    """Per publisher: items, originals, copies it made, copies others made of its stories (and by how many publishers)."""
    copied = {r["publisher"]: r for r in session.execute(text(_COPIED)).mappings()}
    rows = []
    for row in session.execute(text(_STATS)).mappings():
        other: Any = copied.get(row["publisher"], {})
        rows.append({
            "publisher": row["publisher"], "items": int(row["items"]), "originals": int(row["originals"]),
            "copies": int(row["copies"]), "copied_by_others": int(other.get("copied", 0)),
            "copied_by_publishers": int(other.get("by_publishers", 0)),
        })
    return sorted(rows, key=lambda r: (-r["items"], r["publisher"]))


def totals(session: Session) -> tuple[int, int]:
    """How many feeds and captures the database holds."""
    feeds = session.execute(text("SELECT COUNT(*) FROM feeds")).scalar_one()
    captures = session.execute(text("SELECT COUNT(*) FROM captures")).scalar_one()
    return int(feeds), int(captures)

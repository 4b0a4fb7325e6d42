"""SQL over the public views (`item_provenance`, `republications`, `stories`).

The query commands read only these views, so what they print is what a user's own SQL
finds. Rows come back as plain dicts with the view's column names, times as naive-UTC
`datetime` on every database (SQLite hands raw SQL times back as text) and `evidence`
decoded from its JSON. `tracker.store.pictures` reads through the same helpers: one list of
an item's columns, one time filter (`since_condition`), one rule for a disproved claimed
date (`claim_disproved`), one count per publisher (`publisher_summaries`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import DateTime, TextClause, bindparam, text
from sqlalchemy.orm import Session

from tracker.detection.identity import host_of, lookup_hash

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


def published(alias: str = "") -> str:
    """When an item was published, as every time filter and order over items reads it: its
    credible time, else (undecided) its first sighting."""
    prefix = f"{alias}." if alias else ""
    return f"COALESCE({prefix}estimated_published_at, {prefix}first_seen_at)"


def since_condition(column: str, since: datetime | None) -> tuple[str, dict[str, Any]]:
    """The one time filter of the queries over the views: `column >= :since` with its
    parameter, or a condition true for every row when `since` is None."""
    if since is None:
        return "1 = 1", {}
    return f"{column} >= :since", {"since": since}


def query(session: Session, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
    """The rows of `sql` over the views, as every function here gives them: time parameters
    typed, times back as `datetime`, `evidence` decoded."""
    params = params or {}
    return [_row(r) for r in session.execute(_bind(sql, params), params).mappings()]


def item_id_by_url(session: Session, url: str) -> int | None:
    """The item of an article, by its link as published or any variant of it (http/https,
    "www.", trailing slash, tracking parameters, fragment): the one resolver of an item URL
    that every command taking one uses.

    Several items may share a variant (posts told apart by fragment; a link blog's entry
    linking to the article itself): the link exactly as given wins, then one with the same
    fragment, then the item of the publisher at the link's host, then the oldest.
    """
    rows = session.execute(
        text("SELECT i.id, i.url, p.site_host FROM items i JOIN publishers p ON p.id = i.publisher_id "
             "WHERE i.url_hash = :h AND i.id IN (SELECT item_id FROM item_provenance)"),
        {"h": lookup_hash(url)},
    ).all()
    if not rows:
        return None
    wanted = url.strip()
    fragment = urlsplit(wanted).fragment
    host = host_of(wanted)
    best = min(rows, key=lambda r: (
        r.url != wanted, urlsplit(str(r.url or "")).fragment != fragment, host is None or r.site_host != host, r.id,
    ))
    return int(best.id)


def item_by_url(session: Session, url: str) -> Row | None:
    """The item_provenance row of an article, by its link as published or any variant of it (`item_id_by_url`)."""
    item_id = item_id_by_url(session, url)
    if item_id is None:
        return None
    rows = items_by_id(session, [item_id])
    return rows[0] if rows else None


# A believed claim dates the item at or before it (`provenance.facts.estimated_time`: the
# earlier of the claim and the first sighting), a claim after the first sighting is replaced
# by that earlier sighting, so a claimed date earlier than the credible time is exactly one
# that an earlier capture without the item disproved. SQL and Python state the rule alike.
_DISPROVED = "published_at < estimated_published_at"


def claim_disproved(claimed: datetime | None, estimated: datetime | None) -> bool:
    """The feed's claimed date (`published_at`) was disproved by an earlier capture without
    the item: it is earlier than the item's credible time (`estimated_published_at`)."""
    return claimed is not None and estimated is not None and claimed < estimated


def claim_after_sighting(claimed: datetime | None, estimated: datetime | None) -> bool:
    """The feed's claimed date is later than the item's credible time: it was first seen
    before the date it claims, and is dated by that sighting."""
    return claimed is not None and estimated is not None and claimed > estimated


def disproved_claims(session: Session, ids: list[int]) -> set[int]:
    """Those of these items whose feed claimed a date that the captures disproved (`claim_disproved`)."""
    found: set[int] = set()
    sql = text(
        f"SELECT item_id FROM item_provenance WHERE item_id IN :ids AND {_DISPROVED}"
    ).bindparams(bindparam("ids", expanding=True))
    for start in range(0, len(ids), 500):
        found.update(int(r[0]) for r in session.execute(sql, {"ids": ids[start:start + 500]}))
    return found


# The query the demo invites a user to run on its database: the republications it found.
REPUBLICATIONS_QUERY = "SELECT * FROM republications"


def story_items(session: Session, story_id: int) -> list[Row]:
    """Every item_provenance row of a story, in publication order."""
    sql = _select(ITEM_COLUMNS, "item_provenance") + " WHERE story_id = :story ORDER BY estimated_published_at, item_id"
    return query(session, sql, {"story": story_id})


def publisher_names(session: Session) -> list[str]:
    """Every publisher that has items."""
    return [r[0] for r in session.execute(text("SELECT DISTINCT publisher FROM item_provenance ORDER BY publisher"))]


def stories(session: Session, *, publisher: str | None = None, since: datetime | None = None, until: datetime | None = None,
            min_copies: int = 0, limit: int | None = None) -> list[Row]:
    """Rows of `stories`, newest first, filtered by the original's publisher and publication time."""
    after, params = since_condition("published_at", since)
    where = ["copies >= :min_copies", after]
    params["min_copies"] = min_copies
    if publisher is not None:
        where.append("publisher = :publisher")
        params["publisher"] = publisher
    if until is not None:
        where.append("published_at < :until")
        params["until"] = until
    sql = _select(STORY_COLUMNS, "stories") + " WHERE " + " AND ".join(where) + " ORDER BY published_at DESC, story_id DESC"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return query(session, sql, params)


def republications(session: Session, *, original_publisher: str | None = None, since: datetime | None = None) -> list[Row]:
    """Rows of `republications` with the time of their story's original (`original_published_at`)
    and its publisher (`original_publisher`), oldest copy first."""
    after, params = since_condition("r.copy_published_at", since)
    where = [after]
    if original_publisher is not None:
        where.append("o.publisher = :publisher")
        params["publisher"] = original_publisher
    columns = ", ".join(f"r.{c}" for c in REPUBLICATION_COLUMNS)
    sql = (
        f"SELECT {columns}, o.estimated_published_at AS original_published_at, o.publisher AS original_publisher "
        "FROM republications r JOIN item_provenance o ON o.item_id = r.original_item_id "
        f"WHERE {' AND '.join(where)} ORDER BY r.copy_published_at, r.copy_item_id"
    )
    return query(session, sql, params)


def items_per_publisher(session: Session, since: datetime | None = None) -> dict[str, int]:
    """How many items each publisher has (published since `since`, when given)."""
    after, params = since_condition(published(), since)
    rows = query(session, f"SELECT publisher, COUNT(*) AS n FROM item_provenance WHERE {after} GROUP BY publisher", params)
    return {r["publisher"]: int(r["n"]) for r in rows}


def items_since(session: Session, since: datetime | None = None) -> list[Row]:
    """item_provenance rows published (or, undated, first seen) since `since`, oldest first."""
    after, params = since_condition(published(), since)
    sql = _select(ITEM_COLUMNS, "item_provenance") + f" WHERE {after} ORDER BY {published()}, item_id"
    return query(session, sql, params)


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
    sql = _select(ITEM_COLUMNS, "item_provenance") + f" ORDER BY {published()} DESC, item_id DESC"
    result = session.execute(text(sql).execution_options(yield_per=batch))
    for mapping in result.mappings():
        yield _row(mapping)


@dataclass(frozen=True)
class PublisherSummary:
    """Per publisher: its items, originals, copies made, and who copied its stories how often."""

    publisher: str
    items: int
    originals: int
    copies: int
    copied_by: dict[str, int] = field(default_factory=dict)

    @property
    def copied_total(self) -> int:
        """Copies others made, at any depth, of the stories it originated."""
        return sum(self.copied_by.values())


def publisher_summaries(session: Session, since: datetime | None = None) -> list[PublisherSummary]:
    """Per publisher with items since `since` (all when None): items, originals, copies made,
    copied by whom (most copies first); most items first."""
    after, params = since_condition(published(), since)
    counts = query(session, (
        "SELECT publisher, COUNT(*) AS items, "
        "SUM(CASE WHEN parent_item_id IS NULL THEN 1 ELSE 0 END) AS originals, "
        "SUM(CASE WHEN parent_item_id IS NOT NULL THEN 1 ELSE 0 END) AS copies "
        f"FROM item_provenance WHERE {after} GROUP BY publisher"
    ), params)
    after, params = since_condition(published("c"), since)
    copied: dict[str, dict[str, int]] = defaultdict(dict)
    for row in query(session, (
        "SELECT o.publisher AS source, c.publisher AS copier, COUNT(*) AS n "
        "FROM item_provenance c JOIN item_provenance o ON o.item_id = c.original_item_id "
        f"WHERE c.parent_item_id IS NOT NULL AND {after} GROUP BY o.publisher, c.publisher"
    ), params):
        copied[row["source"]][row["copier"]] = int(row["n"])
    out = [
        PublisherSummary(
            publisher=r["publisher"], items=int(r["items"]), originals=int(r["originals"] or 0), copies=int(r["copies"] or 0),
            copied_by=dict(sorted(copied.get(r["publisher"], {}).items(), key=lambda kv: (-kv[1], kv[0]))),
        )
        for r in counts
    ]
    return sorted(out, key=lambda p: (-p.items, p.publisher))


def publisher_stats(session: Session) -> list[Row]:
    """Per publisher: items, originals, copies it made, copies others made of its stories (and by how many publishers)."""
    return [
        {"publisher": p.publisher, "items": p.items, "originals": p.originals, "copies": p.copies,
         "copied_by_others": p.copied_total, "copied_by_publishers": len(p.copied_by)}
        for p in publisher_summaries(session)
    ]


def totals(session: Session) -> tuple[int, int]:
    """How many feeds and captures the database holds."""
    feeds = session.execute(text("SELECT COUNT(*) FROM feeds")).scalar_one()
    captures = session.execute(text("SELECT COUNT(*) FROM captures")).scalar_one()
    return int(feeds), int(captures)

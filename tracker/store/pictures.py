"""The read-only SQL behind the pictures: one story's items, and network-wide counts.

Everything reads the public views (`item_provenance`, `republications`, `stories`),
so a chart shows exactly what a user's own SQL would find. Results come back as small
dataclasses; no ORM row leaves this module.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text, TextClause, bindparam, text
from sqlalchemy.orm import Session

from tracker.errors import InputError
from tracker.store.views import item_id_by_url


@dataclass(frozen=True)
class StoryItem:
    """One item of a story, as the pictures draw it."""

    item_id: int
    url: str | None
    title: str | None
    publisher: str
    published_at: datetime | None  # what its feed claims
    first_seen_at: datetime | None
    estimated_published_at: datetime | None
    parent_item_id: int | None
    relation: str
    similarity: float | None
    containment: float | None
    lag_seconds: int | None
    attributed_origin: str | None
    time_evidence: str  # why `estimated_published_at` is what it is

    @property
    def is_original(self) -> bool:
        """True for the story's original (it has no parent)."""
        return self.parent_item_id is None

    @property
    def claim_disproved(self) -> bool:
        """The feed's claimed date was not believed: a capture disproved it, or it lies after the first sighting."""
        return self.time_evidence.startswith("claimed ") and (
            "disproved" in self.time_evidence or "after first sighting" in self.time_evidence
        )


@dataclass(frozen=True)
class Story:
    """A story: its items in publication order, the original first."""

    story_id: int
    items: tuple[StoryItem, ...]
    focus_item_id: int | None = None  # the article the user asked about, if any

    @property
    def original(self) -> StoryItem:
        """The story's original."""
        return next(i for i in self.items if i.item_id == self.story_id)

    @property
    def title(self) -> str:
        """The original's title (or its URL when it has none)."""
        return self.original.title or self.original.url or f"story {self.story_id}"


@dataclass(frozen=True)
class StorySummary:
    """One row of the `stories` view."""

    story_id: int
    title: str | None
    publisher: str
    original_url: str | None
    published_at: datetime | None
    copies: int
    publishers: int


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


_ITEM_COLUMNS = {
    "item_id": Integer, "url": Text, "title": Text, "publisher": String, "published_at": DateTime,
    "first_seen_at": DateTime, "estimated_published_at": DateTime, "story_id": Integer,
    "parent_item_id": Integer, "relation": String, "similarity": Float, "containment": Float,
    "lag_seconds": Integer, "attributed_origin": Text, "evidence": Text,
}
_ITEMS = """
SELECT item_id, url, title, publisher, published_at, first_seen_at, estimated_published_at, story_id,
       parent_item_id, relation, similarity, containment, lag_seconds, attributed_origin, evidence
FROM item_provenance
"""


def _typed(sql: str, **columns: object) -> TextClause:
    # Typed columns turn SQLite's stored strings back into datetimes, as PostgreSQL returns them.
    return text(sql).columns(**columns)  # type: ignore[arg-type]


def _since(sql: str, column: str, since: datetime | None) -> TextClause:
    """`sql` with `{since}` replaced by a condition on `column` (always true when `since` is None)."""
    if since is None:
        return text(sql.replace("{since}", "1 = 1"))
    # A typed parameter: SQLite compares the same text form it stores, PostgreSQL a timestamp.
    return text(sql.replace("{since}", f"{column} >= :since")).bindparams(bindparam("since", value=since, type_=DateTime))


def _time_evidence(evidence: str | None) -> str:
    try:
        value = json.loads(evidence or "{}").get("time_evidence", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def find_item_id(session: Session, url: str) -> int:
    """The item_id of an article, by its URL or any variant of it (`views.item_id_by_url`); InputError when unknown."""
    found = item_id_by_url(session, url)
    if found is None:
        raise InputError(f"no item with URL {url} (has it been ingested?)")
    return found


def load_story(session: Session, story_id: int, focus_item_id: int | None = None) -> Story:
    """Every item of a story, original first, then in credible publication order."""
    query = _typed(_ITEMS + " WHERE story_id = :story ORDER BY estimated_published_at, item_id", **_ITEM_COLUMNS)
    rows = session.execute(query, {"story": story_id}).mappings().all()
    if not rows:
        raise InputError(f"no story {story_id}")
    items = [
        StoryItem(
            item_id=r["item_id"], url=r["url"], title=r["title"], publisher=r["publisher"],
            published_at=r["published_at"], first_seen_at=r["first_seen_at"],
            estimated_published_at=r["estimated_published_at"], parent_item_id=r["parent_item_id"],
            relation=r["relation"], similarity=r["similarity"], containment=r["containment"],
            lag_seconds=r["lag_seconds"], attributed_origin=r["attributed_origin"],
            time_evidence=_time_evidence(r["evidence"]),
        )
        for r in rows
    ]
    items.sort(key=lambda i: (not i.is_original,))  # stable: the rest keep publication order
    return Story(story_id=story_id, items=tuple(items), focus_item_id=focus_item_id)


def story_of(session: Session, url: str) -> Story:
    """The whole story an article belongs to, with that article as its focus."""
    item_id = find_item_id(session, url)
    story_id = session.execute(text("SELECT story_id FROM item_provenance WHERE item_id = :i"), {"i": item_id}).scalar_one()
    return load_story(session, int(story_id), focus_item_id=item_id)


def top_stories(session: Session, since: datetime | None, limit: int) -> list[StorySummary]:
    """The most republished stories published since `since` (all when None): most copies first, then newest."""
    query = _since(
        "SELECT story_id, title, publisher, original_url, published_at, copies, publishers FROM stories "
        "WHERE copies > 0 AND {since} "
        "ORDER BY copies DESC, publishers DESC, published_at DESC, story_id LIMIT :limit",
        "published_at", since,
    ).columns(story_id=Integer, title=Text, publisher=String, original_url=Text, published_at=DateTime,
              copies=Integer, publishers=Integer)
    rows = session.execute(query, {"limit": limit}).mappings()
    return [StorySummary(**r) for r in rows]


def copy_matrix(session: Session, since: datetime | None) -> dict[tuple[str, str], int]:
    """(copier, source) → how many items the copier took directly from the source."""
    query = _since(
        "SELECT copy_publisher, parent_publisher, COUNT(*) AS n FROM republications "
        "WHERE {since} GROUP BY copy_publisher, parent_publisher",
        "copy_published_at", since,
    )
    return {(r.copy_publisher, r.parent_publisher): int(r.n) for r in session.execute(query)}


def copy_delays(session: Session, since: datetime | None) -> dict[str, list[int]]:
    """Republisher → the delays (seconds) of its copies after their parents."""
    query = _since(
        "SELECT copy_publisher, lag_seconds FROM republications "
        "WHERE lag_seconds IS NOT NULL AND {since} ORDER BY copy_publisher, lag_seconds",
        "copy_published_at", since,
    )
    delays: dict[str, list[int]] = defaultdict(list)
    for row in session.execute(query):
        delays[row.copy_publisher].append(int(row.lag_seconds))
    return dict(delays)


def publisher_summaries(session: Session, since: datetime | None) -> list[PublisherSummary]:
    """Per publisher with items since `since`: items, originals, copies made, copied by whom; most items first."""
    counts = session.execute(_since(
        "SELECT publisher, COUNT(*) AS items, "
        "SUM(CASE WHEN parent_item_id IS NULL THEN 1 ELSE 0 END) AS originals, "
        "SUM(CASE WHEN parent_item_id IS NOT NULL THEN 1 ELSE 0 END) AS copies "
        "FROM item_provenance WHERE {since} GROUP BY publisher",
        "COALESCE(estimated_published_at, first_seen_at)", since,
    )).all()
    copied: dict[str, dict[str, int]] = defaultdict(dict)
    by_whom = _since(
        "SELECT o.publisher AS source, c.publisher AS copier, COUNT(*) AS n "
        "FROM item_provenance c JOIN item_provenance o ON o.item_id = c.original_item_id "
        "WHERE c.parent_item_id IS NOT NULL AND {since} GROUP BY o.publisher, c.publisher",
        "COALESCE(c.estimated_published_at, c.first_seen_at)", since,
    )
    for row in session.execute(by_whom):
        copied[row.source][row.copier] = int(row.n)
    out = [
        PublisherSummary(
            publisher=r.publisher, items=int(r.items), originals=int(r.originals or 0), copies=int(r.copies or 0),
            copied_by=dict(sorted(copied.get(r.publisher, {}).items(), key=lambda kv: (-kv[1], kv[0]))),
        )
        for r in counts
    ]
    return sorted(out, key=lambda p: (-p.items, p.publisher))

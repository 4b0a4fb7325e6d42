"""The read-only SQL behind the pictures: one story's items, and network-wide counts.

Everything reads the public views (`item_provenance`, `republications`, `stories`),
so a chart shows exactly what a user's own SQL would find, through the helpers of
`tracker.store.views` (its columns, its time filter, its rule for a disproved claimed date,
its counts per publisher). Results come back as small dataclasses; no ORM row leaves this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.errors import InputError
from tracker.store import views
from tracker.store.views import PublisherSummary, publisher_summaries  # noqa: F401 (the report's counts, kept in views)


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
        """The feed's claimed date was disproved by an earlier capture without it (`views.claim_disproved`)."""
        return views.claim_disproved(self.published_at, self.estimated_published_at)

    @property
    def claim_after_sighting(self) -> bool:
        """The feed's claimed date is later than the first sighting that dates the item (`views.claim_after_sighting`)."""
        return views.claim_after_sighting(self.published_at, self.estimated_published_at)


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


def _time_evidence(evidence: Any) -> str:
    value = evidence.get("time_evidence", "") if isinstance(evidence, dict) else ""
    return value if isinstance(value, str) else ""


def find_item_id(session: Session, url: str) -> int:
    """The item_id of an article, by its URL or any variant of it (`views.item_id_by_url`); InputError when unknown."""
    found = views.item_id_by_url(session, url)
    if found is None:
        raise InputError(f"no item with URL {url} (has it been ingested?)")
    return found


def load_story(session: Session, story_id: int, focus_item_id: int | None = None) -> Story:
    """Every item of a story, original first, then in credible publication order."""
    rows = views.story_items(session, story_id)
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
    [row] = views.items_by_id(session, [item_id])
    return load_story(session, int(row["story_id"]), focus_item_id=item_id)


def top_stories(session: Session, since: datetime | None, limit: int) -> list[StorySummary]:
    """The most republished stories published since `since` (all when None): most copies first, then newest."""
    after, params = views.since_condition("published_at", since)
    rows = views.query(session, (
        "SELECT story_id, title, publisher, original_url, published_at, copies, publishers FROM stories "
        f"WHERE copies > 0 AND {after} "
        "ORDER BY copies DESC, publishers DESC, published_at DESC, story_id LIMIT :limit"
    ), {**params, "limit": limit})
    return [StorySummary(**r) for r in rows]


def copy_matrix(session: Session, since: datetime | None) -> dict[tuple[str, str], int]:
    """(copier, source) → how many items the copier took directly from the source."""
    after, params = views.since_condition("copy_published_at", since)
    rows = views.query(session, (
        "SELECT copy_publisher, parent_publisher, COUNT(*) AS n FROM republications "
        f"WHERE {after} GROUP BY copy_publisher, parent_publisher"
    ), params)
    return {(r["copy_publisher"], r["parent_publisher"]): int(r["n"]) for r in rows}


def copy_delays(session: Session, since: datetime | None) -> dict[str, list[int]]:
    """Republisher → the delays (seconds) of its copies after their parents."""
    after, params = views.since_condition("copy_published_at", since)
    rows = views.query(session, (
        "SELECT copy_publisher, lag_seconds FROM republications "
        f"WHERE lag_seconds IS NOT NULL AND {after} ORDER BY copy_publisher, lag_seconds"
    ), params)
    delays: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        delays[row["copy_publisher"]].append(int(row["lag_seconds"]))
    return dict(delays)

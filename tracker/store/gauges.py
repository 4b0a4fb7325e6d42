"""The database's side of the daemon's health and metrics: a ping, and what the gauges show.

These run on every health check or metrics scrape (cached by the caller), so each is
cheap on a large database: feeds are few, and the newest capture is found per feed
through the (feed_id, captured_at) index instead of scanning every capture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tracker.store import schema
from tracker.store.feeds import state_counts
from tracker.store.pagefetch import page_states


@dataclass(frozen=True)
class DatabaseGauges:
    """What the database holds right now, for `/metrics`."""

    feeds: dict[str, int]  # by state (tracker.model.FeedState), every state a stored feed can be in
    items: int
    republications: int
    newest_capture_at: datetime | None
    last_success_at: datetime | None
    pages: dict[str, int] = field(default_factory=dict)  # items by page state (tracker.store.pagefetch)


def ping(session: Session) -> None:
    """A round trip to the server; raises if it does not answer."""
    session.execute(text("SELECT 1")).scalar_one()


def read_gauges(session: Session) -> DatabaseGauges:
    """Feeds by state (tracker.model.FeedState), items, republications, and ingest times."""
    feeds = {state.value: count for state, count in state_counts(session).items()}
    items = session.scalar(select(func.count()).select_from(schema.Item)) or 0
    p = schema.Provenance
    republications = session.scalar(select(func.count()).select_from(p).where(p.parent_item_id.is_not(None))) or 0
    c = schema.Capture
    f = schema.Feed
    newest_per_feed = select(select(func.max(c.captured_at)).where(c.feed_id == f.id).scalar_subquery().label("newest")).subquery()
    newest = session.scalar(select(func.max(newest_per_feed.c.newest)))
    last_success = session.scalar(select(func.max(f.last_success_at)))
    return DatabaseGauges(feeds, items, republications, _naive(newest), _naive(last_success), page_states(session))


def _naive(value: datetime | str | None) -> datetime | None:
    # SQLite hands back a max() of DATETIME columns as text.
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value

"""Counts that summaries print, equal to what a user's SQL on the public views would find."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from tracker.store import schema


def republication_count(sessions: sessionmaker[Session]) -> int:
    """Rows of the `republications` view: copy → parent edges as they stand now.

    Counted on `provenance`'s index of parents rather than through the view's four joins
    (every provenance row has its item, publisher and parent): an ingest counts before it
    starts, and that count should not cost more than the start-up itself.
    """
    with sessions() as session:
        return int(session.execute(text("SELECT COUNT(parent_item_id) FROM provenance WHERE parent_item_id IS NOT NULL")).scalar_one())


def found_since(session: Session, since: datetime) -> tuple[int, int]:
    """(items first seen since `since`, how many of them are copies of a parent)."""
    i, p = schema.Item, schema.Provenance
    items = session.scalar(select(func.count()).select_from(i).where(i.first_seen_at >= since)) or 0
    copies = session.scalar(
        select(func.count()).select_from(p).join(i, i.id == p.item_id).where(p.parent_item_id.is_not(None), i.first_seen_at >= since)
    ) or 0
    return int(items), int(copies)

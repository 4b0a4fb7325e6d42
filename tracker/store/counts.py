"""Counts that summaries print, equal to what a user's SQL on the public views would find."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.store import schema


def found_since(session: Session, since: datetime) -> tuple[int, int]:
    """(items first seen since `since`, how many of them are copies of a parent)."""
    i, p = schema.Item, schema.Provenance
    items = session.scalar(select(func.count()).select_from(i).where(i.first_seen_at >= since)) or 0
    copies = session.scalar(
        select(func.count()).select_from(p).join(i, i.id == p.item_id).where(p.parent_item_id.is_not(None), i.first_seen_at >= since)
    ) or 0
    return int(items), int(copies)

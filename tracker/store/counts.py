"""Counts that summaries print, equal to what a user's SQL on the public views would find."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker


def republication_count(sessions: sessionmaker[Session]) -> int:
    """Rows of the `republications` view: copy → parent edges as they stand now.

    Counted on `provenance`'s index of parents rather than through the view's four joins
    (every provenance row has its item, publisher and parent): an ingest counts before it
    starts, and that count should not cost more than the start-up itself.
    """
    with sessions() as session:
        return int(session.execute(text("SELECT COUNT(parent_item_id) FROM provenance WHERE parent_item_id IS NOT NULL")).scalar_one())

"""Counts read off the public views, so that summaries say what a user's SQL would find."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker


def republication_count(sessions: sessionmaker[Session]) -> int:
    """Rows of the `republications` view: copy → parent edges as they stand now."""
    with sessions() as session:
        return int(session.execute(text("SELECT COUNT(*) FROM republications")).scalar_one())

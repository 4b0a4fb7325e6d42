"""The stored texts of versions, as the templated-text rule of detection reads them."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tracker.store import schema
from tracker.store.items import chunks

_v = schema.ItemVersion.__table__
_TEXTS = select(_v.c.id, _v.c.title, _v.c.story_text).where(_v.c.id.in_(bindparam("ids", expanding=True)))


def story_texts(session: Session, version_ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """The title and story text of each of these versions."""
    found: dict[int, tuple[str, str]] = {}
    for part in chunks(version_ids):
        for version_id, title, text in session.connection().execute(_TEXTS, {"ids": part}):
            found[version_id] = (title or "", text or "")
    return found

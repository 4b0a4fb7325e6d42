"""The detection state as a whole: which settings it was built with, and building it in bulk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.orm import Session

from tracker.detection.fingerprint import Fingerprints, pack_shingles
from tracker.store import buckets, locks, schema


def version_columns(prints: Fingerprints) -> dict[str, object]:
    """The columns of `item_versions` that keep a version's fingerprints."""
    return {
        "story_text": prints.story_text, "signature": prints.story.signature, "sig_scheme": prints.story.scheme,
        "num_perm": prints.story.num_perm, "shingle_size": prints.story.shingle_size, "shingle_count": prints.story.size,
        "story_shingles": pack_shingles(prints.story.shingles), "full_shingles": pack_shingles(prints.full),
        "full_count": int(prints.full.size), "lead_signature": prints.lead.signature,
    }


def meta_value(session: Session, name: str, shared_lock: tuple[int, int] | None = None) -> str | None:
    """A value of `tracker_meta`, if set; with `shared_lock` (kind, key), read under that
    shared lock, held to the end of the transaction (`tracker.store.locks.shared_read`)."""
    if shared_lock is not None:
        query = "SELECT value FROM tracker_meta WHERE name = :name"
        found = locks.shared_read(session, *shared_lock, query, {"name": name})
        return None if found is None else str(found)
    m = schema.Meta
    return session.execute(select(m.value).where(m.name == name)).scalar_one_or_none()


def set_meta(session: Session, name: str, value: str) -> None:
    """Set a value of `tracker_meta`."""
    m = schema.Meta.__table__
    if session.execute(update(m).where(m.c.name == name).values(value=value)).rowcount == 0:
        session.execute(insert(m).values(name=name, value=value))


def has_versions(session: Session) -> bool:
    """Whether any text is stored."""
    return session.execute(select(schema.ItemVersion.id).limit(1)).first() is not None


def clear_derived(session: Session) -> None:
    """Drop what is derived from the stored versions under given settings (counts, buckets)."""
    session.execute(delete(schema.ParagraphCount))
    buckets.clear_index(session)


def clear_matches(session: Session) -> None:
    """Drop every verified match (to be found again under new settings), and the groups they made."""
    session.execute(delete(schema.Match))
    session.execute(delete(schema.ItemGroup))
    session.execute(delete(schema.MatchGroup))


def item_ids(session: Session) -> list[int]:
    """Every item, in order."""
    return list(session.scalars(select(schema.Item.id).order_by(schema.Item.id)))


def publishers_with_items(session: Session) -> list[int]:
    """Every publisher that has items."""
    return list(session.scalars(select(schema.Item.publisher_id).distinct().order_by(schema.Item.publisher_id)))


def versions_of_publisher(session: Session, publisher_id: int) -> list[Any]:
    """A publisher's versions, oldest first per item: ids, fingerprint settings, stored keys."""
    v, i = schema.ItemVersion, schema.Item
    return list(session.execute(
        select(v.id, v.item_id, v.num_perm, v.shingle_size, v.sig_scheme, v.paragraph_keys,
               (v.story_shingles.is_(None) | v.full_shingles.is_(None) | v.lead_signature.is_(None)).label("missing"))
        .join(i, i.id == v.item_id).where(i.publisher_id == publisher_id).order_by(v.item_id, v.version)
    ))


def texts_of(session: Session, version_ids: list[int]) -> dict[int, tuple[str, str]]:
    """The stored text and title of some versions."""
    v = schema.ItemVersion
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(version_ids), 500):
        part = version_ids[start : start + 500]
        found.update({r.id: (r.text, r.title) for r in session.execute(select(v.id, v.text, v.title).where(v.id.in_(part)))})
    return found


def insert_counts(session: Session, rows: list[dict[str, object]]) -> None:
    """Paragraph counts in bulk."""
    if rows:
        session.execute(insert(schema.ParagraphCount.__table__), rows)


def update_versions(session: Session, rows: list[dict[str, object]]) -> None:
    """Fingerprints of versions in bulk (`vid` names the version)."""
    if rows:
        table = schema.ItemVersion.__table__
        columns = {k: bindparam(k) for k in rows[0] if k != "vid"}
        session.execute(update(table).where(table.c.id == bindparam("vid")).values(**columns), rows)


def signatures(session: Session, batch: int = 5000) -> Iterator[dict[int, list[bytes]]]:
    """Every item's story and lead signatures, a batch of whole items at a time."""
    v = schema.ItemVersion
    columns = select(v.item_id, v.signature, v.lead_signature)
    last = 0
    while True:
        rows = session.execute(columns.where(v.item_id > last).order_by(v.item_id, v.id).limit(batch)).all()
        if not rows:
            return
        if len(rows) == batch:
            if rows[0].item_id != rows[-1].item_id:
                # The last item may have more versions: it starts the next batch instead.
                rows = [r for r in rows if r.item_id != rows[-1].item_id]
            else:  # one item of more versions than a batch
                rows = session.execute(columns.where(v.item_id == rows[0].item_id)).all()
        found: dict[int, list[bytes]] = {}
        for item_id, signature, lead in rows:
            found.setdefault(item_id, []).extend(sig for sig in (signature, lead) if sig)
        last = rows[-1].item_id
        yield found


def fill_full_counts(session: Session) -> None:
    """`full_count` of versions stored before it was kept."""
    session.execute(text("UPDATE item_versions SET full_count = LENGTH(full_shingles) / 4 WHERE full_count IS NULL AND full_shingles IS NOT NULL"))

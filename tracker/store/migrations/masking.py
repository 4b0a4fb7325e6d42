"""What revisions 0011 (passwords) and 0017 (query tokens) both do: mask the credentials
`tracker.redact` finds in stored feed URLs and in the messages quoting them.

A stored URL keeps its row and its history under its masked form. Two stored URLs that
differ only in their secret cannot both become the same masked URL: the active (else the
newest) one takes it, so that the config finds it; the other keeps its row under
`…#feed-<id>`.
"""

from __future__ import annotations

import sqlalchemy as sa

from tracker.redact import mask_credentials


def _mask_urls(bind: sa.Connection, table: sa.TableClause, marker: str, *order: sa.ColumnElement[object]) -> None:
    taken = set(bind.execute(sa.select(table.c.url)).scalars())
    query = sa.select(table.c.id, table.c.url).where(table.c.url.like(f"%{marker}%")).order_by(*order, table.c.id.desc())
    for row_id, url in bind.execute(query).all():
        masked = mask_credentials(url)
        if masked == url:
            continue
        if masked in taken:
            masked = f"{masked}#feed-{row_id}"
        taken.add(masked)
        bind.execute(sa.update(table).where(table.c.id == row_id).values(url=masked))


def _mask_texts(bind: sa.Connection, table: sa.TableClause, column: str, marker: str) -> None:
    text = table.c[column]
    for row_id, value in bind.execute(sa.select(table.c.id, text).where(text.like(f"%://%{marker}%"))).all():
        masked = mask_credentials(value)
        if masked != value:
            bind.execute(sa.update(table).where(table.c.id == row_id).values({column: masked}))


def mask_stored_feed_urls(bind: sa.Connection, marker: str) -> None:
    """Mask the credentials of stored feed URLs (`feeds`, `feed_urls`, `feed_moves`) and of
    messages quoting them; only values holding `marker` ("@", "=") can hold any."""
    if bind.dialect.name == "sqlite":
        # Overwrite what is replaced instead of leaving it in the file's free space.
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    feeds = sa.table("feeds", sa.column("id"), sa.column("url"), sa.column("active"), sa.column("last_error_message"))
    moved = sa.table("feed_urls", sa.column("id"), sa.column("url"))
    captures = sa.table("captures", sa.column("id"), sa.column("source"), sa.column("error"))
    history = sa.table("feed_moves", sa.column("id"), sa.column("from_url"), sa.column("to_url"))
    _mask_urls(bind, feeds, marker, feeds.c.active.desc())
    _mask_urls(bind, moved, marker)
    _mask_texts(bind, feeds, "last_error_message", marker)
    # The move history (0009) was carried over from feed_urls before 0011 ran.
    _mask_texts(bind, history, "from_url", marker)
    _mask_texts(bind, history, "to_url", marker)
    _mask_texts(bind, captures, "source", marker)
    _mask_texts(bind, captures, "error", marker)

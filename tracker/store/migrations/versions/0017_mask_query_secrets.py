"""Feed tokens out of the database: stored feed URLs get their query secrets masked.

A private feed configured as `https://host/feed?access_token=SECRET` (or `key=`, `token=`,
… : `tracker.redact`) is now known as `https://host/feed?access_token=***`, as revision
0011 did for passwords in the userinfo; the real URL stays in the config. This masks the
stored URLs and the messages quoting them, so the feed keeps its row and its history; two
stored URLs that differ only in their token keep apart as in 0011 (`…#feed-<id>`).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from tracker.redact import mask_credentials

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _mask_urls(bind: sa.Connection, table: sa.TableClause, *order: sa.ColumnElement[object]) -> None:
    taken = set(bind.execute(sa.select(table.c.url)).scalars())
    query = sa.select(table.c.id, table.c.url).where(table.c.url.like("%=%")).order_by(*order, table.c.id.desc())
    for row_id, url in bind.execute(query).all():
        masked = mask_credentials(url)
        if masked == url:
            continue
        if masked in taken:
            masked = f"{masked}#feed-{row_id}"
        taken.add(masked)
        bind.execute(sa.update(table).where(table.c.id == row_id).values(url=masked))


def _mask_texts(bind: sa.Connection, table: sa.TableClause, column: str) -> None:
    text = table.c[column]
    for row_id, value in bind.execute(sa.select(table.c.id, text).where(text.like("%://%=%"))).all():
        masked = mask_credentials(value)
        if masked != value:
            bind.execute(sa.update(table).where(table.c.id == row_id).values({column: masked}))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # Overwrite what is replaced instead of leaving it in the file's free space.
        bind.exec_driver_sql("PRAGMA secure_delete = ON")
    feeds = sa.table("feeds", sa.column("id"), sa.column("url"), sa.column("active"), sa.column("last_error_message"))
    moved = sa.table("feed_urls", sa.column("id"), sa.column("url"))
    captures = sa.table("captures", sa.column("id"), sa.column("source"), sa.column("error"))
    history = sa.table("feed_moves", sa.column("id"), sa.column("from_url"), sa.column("to_url"))
    _mask_urls(bind, feeds, feeds.c.active.desc())
    _mask_urls(bind, moved)
    _mask_texts(bind, feeds, "last_error_message")
    _mask_texts(bind, history, "from_url")
    _mask_texts(bind, history, "to_url")
    _mask_texts(bind, captures, "source")
    _mask_texts(bind, captures, "error")


def downgrade() -> None:
    """Nothing to undo: the tokens are in the config, where they belong."""

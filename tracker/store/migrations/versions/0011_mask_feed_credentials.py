"""Feed passwords out of the database: stored feed URLs get their userinfo masked.

A feed configured as `https://user:secret@host/feed` is now known as
`https://user:***@host/feed` (tracker.redact); the real URL stays in the config. A
database written before kept the password in `feeds.url`, `feed_urls.url` and in error
messages quoting a URL; this masks them, so the feed keeps its row and its history.
Two stored URLs that differ only in their password (the password was changed) cannot
both become the same masked URL: the active (else the newest) one takes it, so that the
config finds it; the other keeps its row under `…#feed-<id>`.

Data only, on columns that exist since 0002: it can sit after any revision.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from alembic import op

from tracker.store.migrations.masking import mask_stored_feed_urls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    mask_stored_feed_urls(op.get_bind(), "@")


def downgrade() -> None:
    """Nothing to undo: the passwords are in the config, where they belong."""

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

from alembic import op

from tracker.store.migrations.masking import mask_stored_feed_urls

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    mask_stored_feed_urls(op.get_bind(), "=")


def downgrade() -> None:
    """Nothing to undo: the tokens are in the config, where they belong."""

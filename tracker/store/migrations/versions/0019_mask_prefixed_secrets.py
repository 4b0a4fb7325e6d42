"""Prefixed feed tokens out of the database: `?feed_token=SECRET` is masked as 0017 masked `?token=`.

`tracker.redact` now reads a secret's name behind a prefix of its own (GitLab's private
feeds' `feed_token`, `x-api-key`, `X-Amz-Signature`, `client_secret`…): a feed configured
so is known as `?feed_token=***`. This masks the stored URLs and the messages quoting them
with the same helper as 0017, so the feed keeps its row and its history under the URL the
config now names.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

from alembic import op

from tracker.store.migrations.masking import mask_stored_feed_urls

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    mask_stored_feed_urls(op.get_bind(), "=")


def downgrade() -> None:
    """Nothing to undo: the tokens are in the config, where they belong."""

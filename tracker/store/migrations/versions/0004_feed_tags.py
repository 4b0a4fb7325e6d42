"""Feed tags: the folders of OPML subscription lists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_tags",
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
        sa.Column("tag", sa.String(500), primary_key=True),
    )
    op.create_index("ix_feed_tags_tag", "feed_tags", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_feed_tags_tag", "feed_tags")
    op.drop_table("feed_tags")

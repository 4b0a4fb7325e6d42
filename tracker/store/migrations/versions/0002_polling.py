"""Polling daemon: per-feed polling state, old feed URLs, capture timings, daemon heartbeat.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("etag", sa.String(500)))
        batch.add_column(sa.Column("last_modified", sa.String(100)))
        batch.add_column(sa.Column("next_check_at", sa.DateTime))
        batch.add_column(sa.Column("check_interval_seconds", sa.Integer))
        batch.add_column(sa.Column("last_checked_at", sa.DateTime))
        batch.add_column(sa.Column("last_success_at", sa.DateTime))
        batch.add_column(sa.Column("last_status", sa.Integer))
        batch.add_column(sa.Column("error_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error_kind", sa.String(40)))
        batch.add_column(sa.Column("last_error_message", sa.Text))
        batch.add_column(sa.Column("retired_at", sa.DateTime))
    op.create_index("ix_feeds_next_check", "feeds", ["next_check_at"])
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("duration_ms", sa.Integer))
        batch.add_column(sa.Column("error_kind", sa.String(40)))
    op.create_table(
        "feed_urls",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), nullable=False, index=True),
        sa.Column("url", sa.String(2000), nullable=False, unique=True),
        sa.Column("replaced_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("hostname", sa.String(300), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("beat_at", sa.DateTime, nullable=False),
        sa.Column("interval_seconds", sa.Float, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
    op.drop_table("feed_urls")
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("error_kind")
        batch.drop_column("duration_ms")
    op.drop_index("ix_feeds_next_check", "feeds")
    with op.batch_alter_table("feeds") as batch:
        for column in (
            "retired_at", "last_error_message", "last_error_kind", "error_count", "last_status", "last_success_at",
            "last_checked_at", "check_interval_seconds", "next_check_at", "last_modified", "etag", "active",
        ):
            batch.drop_column(column)

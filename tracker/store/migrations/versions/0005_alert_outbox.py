"""Alerts: the outbox of messages about republications, delivered off the polling path.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alert", sa.String(200), nullable=False),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False, index=True),
        sa.Column("message_id", sa.String(64), nullable=False, unique=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("claimed_until", sa.DateTime),
        sa.Column("last_attempt_at", sa.DateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.DateTime),
        sa.UniqueConstraint("alert", "item_id", name="uq_outbox_alert_item"),
    )
    op.create_index("ix_outbox_state_next", "alert_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_state_next", "alert_outbox")
    op.drop_table("alert_outbox")

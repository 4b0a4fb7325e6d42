"""Alert retractions: a message that was sent about a copy is withdrawn by a second one
when the copy turns out to be none (an earlier sighting, a disproved date).

- `alert_outbox.kind`: `republication` (as every row before) or `retraction`;
- `alert_outbox.round`: how many retractions of the (alert, item) came before, so a copy
  withdrawn and found again is reported again;
- one message per (alert, item, kind, round), in place of one per (alert, item).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_outbox") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="republication"))
        batch.add_column(sa.Column("round", sa.Integer, nullable=False, server_default="0"))
        batch.drop_constraint("uq_outbox_alert_item", type_="unique")
        batch.create_unique_constraint("uq_outbox_alert_item_round", ["alert", "item_id", "kind", "round"])


def downgrade() -> None:
    op.execute("DELETE FROM alert_outbox WHERE kind <> 'republication' OR round <> 0")
    with op.batch_alter_table("alert_outbox") as batch:
        batch.drop_constraint("uq_outbox_alert_item_round", type_="unique")
        batch.create_unique_constraint("uq_outbox_alert_item", ["alert", "item_id"])
        batch.drop_column("round")
        batch.drop_column("kind")

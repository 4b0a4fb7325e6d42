"""Why an item's claimed date was not believed (an offset beyond ±14:00, a year before the
web, a date after its capture, a string that is no date): `items.claimed_date_rejected`.

Such an item has no `claimed_at`; provenance dates it by its first sighting and its
evidence names the reason.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("claimed_date_rejected", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("claimed_date_rejected")

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


# Plain ALTER TABLE, not a batch: SQLite's table rebuild would trip over the public views
# that read `items`, and adding or dropping a nullable column needs no rebuild (SQLite ≥ 3.35).


def upgrade() -> None:
    op.add_column("items", sa.Column("claimed_date_rejected", sa.Text))


def downgrade() -> None:
    op.drop_column("items", "claimed_date_rejected")

"""Feed leases: several polling workers on one database, each feed polled by one at a time.

A worker claims a due feed by writing its id and an expiry on the feed's row; the lease
is cleared when the poll is stored, and a worker that dies leaves leases that expire.
Self-contained (columns only), so that it can sit after any revision that leaves `feeds`
as 0006 did.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64)))
        batch.add_column(sa.Column("lease_until", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")

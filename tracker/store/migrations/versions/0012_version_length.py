"""An entry's length as served, and whether its stored text is only the beginning of it.

An entry's text is read up to a cap (`tracker.detection.normalise.ENTRY_TEXT_MAX`) so that one
hostile entry costs bounded memory; these columns keep what was not read countable.
Self-contained (columns only), so that it can sit after any revision that leaves
`item_versions` as 0006 did.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("item_versions") as batch:
        batch.add_column(sa.Column("body_chars", sa.Integer))
        batch.add_column(sa.Column("text_truncated", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("item_versions") as batch:
        batch.drop_column("text_truncated")
        batch.drop_column("body_chars")

"""Groups of matches kept as summaries, so that a newcomer to a wire story is placed
without reading the whole story (issue #15).

- `item_groups`: each decided item's group and its position in the group's order;
- `match_groups`: per group, its size, its latest member, the publishers its members credit.

Both are derived: a database without them (or an item without its row) has its groups
decided whole, which writes them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_groups",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True, autoincrement=False),
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_item_groups_group_id", "item_groups", ["group_id"])
    op.create_table(
        "match_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("last_item_id", sa.Integer, nullable=False),
        sa.Column("credited", sa.Text, nullable=False),
        sa.Column("tangled", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("match_groups")
    op.drop_index("ix_item_groups_group_id", "item_groups")
    op.drop_table("item_groups")

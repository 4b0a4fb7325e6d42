"""The LSH index's recent changes, appended in order and merged into `lsh_buckets` in bulk
(`tracker.store.recent`, issue #15): at a million items each new item's bucket rows dirtied
~100 random pages of the index.

- `lsh_recent`: one row per change (an item's buckets added or removed), its buckets packed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sys

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lsh_recent",
        # AUTOINCREMENT: a number is never used again after the log is emptied (a reader
        # goes on from the last one it read).
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("added", sa.Boolean, nullable=False),
        sa.Column("buckets", sa.LargeBinary, nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    # What the log holds is part of the index: its changes are made in `lsh_buckets` first.
    from array import array

    connection = op.get_bind()
    pairs: set[tuple[int, int]] = set()
    for item_id, added, packed in connection.execute(sa.text("SELECT item_id, added, buckets FROM lsh_recent ORDER BY seq")):
        buckets = array("q", bytes(packed))
        if sys.byteorder == "big":
            buckets.byteswap()
        change = {(bucket, item_id) for bucket in buckets}
        pairs = pairs | change if added else pairs - change
    if pairs:
        connection.execute(sa.text("INSERT INTO lsh_buckets (bucket, item_id) VALUES (:b, :i)"), [{"b": b, "i": i} for b, i in sorted(pairs)])
    op.drop_table("lsh_recent")

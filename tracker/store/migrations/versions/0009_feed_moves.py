"""Feed moves: every permanent redirect a feed followed, in order, loops included.

`feed_urls` keeps one row per former URL (it finds a feed by any URL it had); a feed that
moves A→B and later B→A had nowhere to record the second move and failed on its unique
URL. `feed_moves` is the history: one row per move. Existing former URLs are carried
over as moves to the next URL the feed had.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moves = op.create_table(
        "feed_moves",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), nullable=False, index=True),
        sa.Column("from_url", sa.String(2000), nullable=False),
        sa.Column("to_url", sa.String(2000), nullable=False),
        sa.Column("moved_at", sa.DateTime, nullable=False),
    )
    bind = op.get_bind()
    current = dict(bind.execute(sa.text("SELECT id, url FROM feeds")).all())
    rows = bind.execute(sa.text("SELECT feed_id, url, replaced_at FROM feed_urls ORDER BY feed_id, replaced_at, id")).all()
    history = []
    for i, (feed_id, url, replaced_at) in enumerate(rows):
        following = rows[i + 1] if i + 1 < len(rows) and rows[i + 1][0] == feed_id else None
        to_url = following[1] if following else current.get(feed_id)
        if to_url:
            history.append({"feed_id": feed_id, "from_url": url, "to_url": to_url, "moved_at": replaced_at})
    if history:
        op.bulk_insert(moves, history)


def downgrade() -> None:
    op.drop_table("feed_moves")

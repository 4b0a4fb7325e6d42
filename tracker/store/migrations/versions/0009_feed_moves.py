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
    op.create_table(
        "feed_moves",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), nullable=False, index=True),
        sa.Column("from_url", sa.String(2000), nullable=False),
        sa.Column("to_url", sa.String(2000), nullable=False),
        sa.Column("moved_at", sa.DateTime, nullable=False),
    )
    # In SQL, not Python: SQLite hands raw times back as text, which a DateTime insert refuses.
    op.execute(sa.text(
        "INSERT INTO feed_moves (feed_id, from_url, to_url, moved_at) "
        "SELECT u.feed_id, u.url, COALESCE((SELECT n.url FROM feed_urls n WHERE n.feed_id = u.feed_id "
        "AND (n.replaced_at > u.replaced_at OR (n.replaced_at = u.replaced_at AND n.id > u.id)) "
        "ORDER BY n.replaced_at, n.id LIMIT 1), f.url), u.replaced_at "
        "FROM feed_urls u JOIN feeds f ON f.id = u.feed_id ORDER BY u.feed_id, u.replaced_at, u.id"
    ))


def downgrade() -> None:
    op.drop_table("feed_moves")

"""Provenance core: feeds, captures, items and versions, matches, provenance, and the public views.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The public views, frozen as of this revision: a later change is a later revision.
ITEM_PROVENANCE = """
CREATE VIEW item_provenance AS
SELECT i.id AS item_id,
       i.url AS url,
       i.title AS title,
       p.name AS publisher,
       i.claimed_at AS published_at,
       i.first_seen_at AS first_seen_at,
       pr.estimated_published_at AS estimated_published_at,
       COALESCE(pr.story_id, i.id) AS story_id,
       COALESCE(pr.original_item_id, i.id) AS original_item_id,
       pr.parent_item_id AS parent_item_id,
       COALESCE(pr.relation, 'original') AS relation,
       pr.similarity AS similarity,
       pr.containment AS containment,
       pr.lag_seconds AS lag_seconds,
       pr.attributed_origin AS attributed_origin,
       pr.evidence AS evidence
FROM items i
JOIN publishers p ON p.id = i.publisher_id
LEFT JOIN provenance pr ON pr.item_id = i.id
"""

REPUBLICATIONS = """
CREATE VIEW republications AS
SELECT c.id AS copy_item_id,
       c.url AS copy_url,
       cp.name AS copy_publisher,
       par.id AS parent_item_id,
       par.url AS parent_url,
       pp.name AS parent_publisher,
       pr.story_id AS story_id,
       pr.original_item_id AS original_item_id,
       pr.relation AS relation,
       pr.similarity AS similarity,
       pr.containment AS containment,
       pr.coverage AS coverage,
       pr.estimated_published_at AS copy_published_at,
       c.first_seen_at AS copy_first_seen_at,
       pr.lag_seconds AS lag_seconds,
       pr.attributed_origin AS attributed_origin,
       pr.evidence AS evidence
FROM provenance pr
JOIN items c ON c.id = pr.item_id
JOIN publishers cp ON cp.id = c.publisher_id
JOIN items par ON par.id = pr.parent_item_id
JOIN publishers pp ON pp.id = par.publisher_id
"""

STORIES = """
CREATE VIEW stories AS
SELECT pr.story_id AS story_id,
       o.id AS original_item_id,
       o.url AS original_url,
       o.title AS title,
       op.name AS publisher,
       ro.estimated_published_at AS published_at,
       ro.attributed_origin AS attributed_origin,
       COUNT(*) - 1 AS copies,
       COUNT(DISTINCT i.publisher_id) AS publishers,
       MIN(i.first_seen_at) AS first_seen_at,
       MAX(seen.last_seen_at) AS last_seen_at
FROM provenance pr
JOIN items i ON i.id = pr.item_id
JOIN items o ON o.id = pr.story_id
JOIN publishers op ON op.id = o.publisher_id
JOIN provenance ro ON ro.item_id = pr.story_id
LEFT JOIN (SELECT item_id, MAX(last_seen_at) AS last_seen_at FROM item_feeds GROUP BY item_id) seen
       ON seen.item_id = i.id
GROUP BY pr.story_id, o.id, o.url, o.title, op.name, ro.estimated_published_at, ro.attributed_origin
"""


def upgrade() -> None:
    op.create_table(
        "publishers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(300), nullable=False, unique=True),
        sa.Column("site_host", sa.String(300)),
    )
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False, unique=True),
        sa.Column("publisher_id", sa.Integer, sa.ForeignKey("publishers.id"), nullable=False),
        sa.Column("title", sa.String(500)),
        sa.Column("site_url", sa.String(2000)),
        sa.Column("added_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), nullable=False, index=True),
        sa.Column("captured_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source", sa.String(2000)),
        sa.Column("status", sa.Integer),
        sa.Column("payload_digest", sa.String(100)),
        sa.Column("bytes", sa.Integer),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("new_items", sa.Integer, nullable=False),
        sa.Column("updates", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("feed_id", "captured_at", "kind", name="uq_capture_feed_time_kind"),
    )
    op.create_index("ix_captures_feed_time", "captures", ["feed_id", "captured_at"])
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("publisher_id", sa.Integer, sa.ForeignKey("publishers.id"), nullable=False, index=True),
        sa.Column("identity", sa.String(2100), nullable=False),
        sa.Column("url", sa.String(2000), index=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("author", sa.String(500)),
        sa.Column("claimed_at", sa.DateTime),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("publisher_id", "identity", name="uq_item_publisher_identity"),
    )
    op.create_table(
        "item_feeds",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), primary_key=True),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "item_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("seen_at", sa.DateTime, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("story_text", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("sig_scheme", sa.String(20), nullable=False),
        sa.Column("num_perm", sa.Integer, nullable=False),
        sa.Column("shingle_size", sa.Integer, nullable=False),
        sa.Column("shingle_count", sa.Integer, nullable=False),
        sa.UniqueConstraint("item_id", "content_hash", name="uq_version_item_hash"),
    )
    op.create_table(
        "item_attributions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("name", sa.String(500)),
        sa.Column("url", sa.String(2000)),
    )
    op.create_table(
        "matches",
        sa.Column("item_a", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("item_b", sa.Integer, sa.ForeignKey("items.id"), primary_key=True, index=True),
        sa.Column("jaccard", sa.Float, nullable=False),
        sa.Column("a_in_b", sa.Float, nullable=False),
        sa.Column("b_in_a", sa.Float, nullable=False),
        sa.Column("shared", sa.Integer, nullable=False),
        sa.Column("full_a_in_b", sa.Float, nullable=False),
        sa.Column("full_b_in_a", sa.Float, nullable=False),
        sa.Column("found_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "provenance",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("story_id", sa.Integer, nullable=False, index=True),
        sa.Column("original_item_id", sa.Integer, nullable=False),
        sa.Column("parent_item_id", sa.Integer, index=True),
        sa.Column("relation", sa.String(20), nullable=False),
        sa.Column("similarity", sa.Float),
        sa.Column("containment", sa.Float),
        sa.Column("coverage", sa.Float),
        sa.Column("estimated_published_at", sa.DateTime, nullable=False),
        sa.Column("lag_seconds", sa.BigInteger),
        sa.Column("attributed_origin", sa.String(2000)),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
    )
    op.execute(ITEM_PROVENANCE)
    op.execute(REPUBLICATIONS)
    op.execute(STORIES)


def downgrade() -> None:
    for view in ("stories", "republications", "item_provenance"):
        op.execute(f"DROP VIEW IF EXISTS {view}")
    for table in (
        "provenance",
        "matches",
        "item_attributions",
        "item_versions",
        "item_feeds",
        "items",
        "captures",
        "feeds",
        "publishers",
    ):
        op.drop_table(table)

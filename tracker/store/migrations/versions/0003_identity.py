"""Identity that never merges: keys of any length, links as published, captures by content.

- items: `identity` unbounded, unique per publisher by its hash (long GUIDs neither fail
  nor collide); `url` is the link as published (fragments kept), found by any variant
  through `url_hash`; versions remember the raw hash of the entry they came from.
- Strings that come from feeds are unbounded `Text` where they are stored (titles, links,
  ETags, credits), so no feed can abort an ingest on PostgreSQL.
- publishers: `name_source` says where a name came from (config, feed title, feed URL
  until the feed's title is known).
- captures: `body_digest` tells apart two captures of one feed at the same second.

The public views are dropped and created again unchanged: PostgreSQL cannot change the
type of a column a view reads, and SQLite's table rebuilds trip over views.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
import xxhash
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VIEWS = {
    "item_provenance": """
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
""",
    "republications": """
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
""",
    "stories": """
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
""",
}

# Frozen copies of tracker.detection.identity's key functions as of this revision.
_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "ref_src")


def _lookup_hash(url: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return xxhash.xxh64_hexdigest(url.encode("utf-8", "replace"))
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        key = url.strip()
    else:
        scheme = parts.scheme.lower()
        userinfo, _, hostport = parts.netloc.rpartition("@")
        host = hostport.lower().removesuffix({"http": ":80", "https": ":443"}[scheme])
        host = (f"{userinfo}@" if userinfo else "") + host
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith(_TRACKING)])
        key = host.removeprefix("www.") + (parts.path or "/").rstrip("/") + (f"?{query}" if query else "")
    return xxhash.xxh64_hexdigest(key.encode("utf-8", "replace"))


def _key_hash(key: str) -> str:
    return xxhash.xxh3_128_hexdigest(key.encode("utf-8", "replace"))


def _drop_views() -> None:
    for view in ("stories", "republications", "item_provenance"):
        op.execute(f"DROP VIEW IF EXISTS {view}")


def _create_views() -> None:
    for sql in VIEWS.values():
        op.execute(sql)


def upgrade() -> None:
    _drop_views()
    with op.batch_alter_table("publishers") as batch:
        batch.add_column(sa.Column("name_source", sa.String(20), nullable=False, server_default="config"))
        batch.alter_column("site_host", type_=sa.Text)
    with op.batch_alter_table("feeds") as batch:
        batch.alter_column("title", type_=sa.Text)
        batch.alter_column("site_url", type_=sa.Text)
        batch.alter_column("etag", type_=sa.Text)
        batch.alter_column("last_modified", type_=sa.Text)
    with op.batch_alter_table("captures") as batch:
        batch.alter_column("source", type_=sa.Text)
        batch.alter_column("payload_digest", type_=sa.Text)
        batch.add_column(sa.Column("body_digest", sa.String(40), nullable=False, server_default=""))
        batch.drop_constraint("uq_capture_feed_time_kind", type_="unique")
        batch.create_unique_constraint("uq_capture_feed_time_kind_body", ["feed_id", "captured_at", "kind", "body_digest"])
    op.drop_index("ix_items_url", "items")
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint("uq_item_publisher_identity", type_="unique")
        batch.alter_column("identity", type_=sa.Text)
        batch.alter_column("url", type_=sa.Text)
        batch.alter_column("author", type_=sa.Text)
        batch.add_column(sa.Column("identity_hash", sa.String(32)))
        batch.add_column(sa.Column("url_hash", sa.String(16)))
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("identity", sa.Text), sa.column("url", sa.Text),
                     sa.column("identity_hash", sa.String), sa.column("url_hash", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(items.c.id, items.c.identity, items.c.url)).all()
    if rows:
        connection.execute(
            items.update().where(items.c.id == sa.bindparam("i")).values(identity_hash=sa.bindparam("h"), url_hash=sa.bindparam("u")),
            [{"i": r.id, "h": _key_hash(r.identity), "u": _lookup_hash(r.url) if r.url else None} for r in rows],
        )
    with op.batch_alter_table("items") as batch:
        batch.alter_column("identity_hash", nullable=False)
        batch.create_unique_constraint("uq_item_publisher_identity_hash", ["publisher_id", "identity_hash"])
    op.create_index("ix_items_url_hash", "items", ["url_hash"])
    with op.batch_alter_table("item_versions") as batch:
        batch.add_column(sa.Column("raw_hash", sa.String(32)))
    with op.batch_alter_table("item_attributions") as batch:
        batch.alter_column("name", type_=sa.Text)
        batch.alter_column("url", type_=sa.Text)
    with op.batch_alter_table("provenance") as batch:
        batch.alter_column("attributed_origin", type_=sa.Text)
    _create_views()


def downgrade() -> None:
    _drop_views()
    with op.batch_alter_table("item_versions") as batch:
        batch.drop_column("raw_hash")
    op.drop_index("ix_items_url_hash", "items")
    with op.batch_alter_table("items") as batch:
        batch.drop_constraint("uq_item_publisher_identity_hash", type_="unique")
        batch.drop_column("url_hash")
        batch.drop_column("identity_hash")
        batch.create_unique_constraint("uq_item_publisher_identity", ["publisher_id", "identity"])
    op.create_index("ix_items_url", "items", ["url"])
    with op.batch_alter_table("captures") as batch:
        batch.drop_constraint("uq_capture_feed_time_kind_body", type_="unique")
        batch.drop_column("body_digest")
        batch.create_unique_constraint("uq_capture_feed_time_kind", ["feed_id", "captured_at", "kind"])
    with op.batch_alter_table("publishers") as batch:
        batch.drop_column("name_source")
    _create_views()

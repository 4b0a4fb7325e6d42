"""Detection state in the database: what every process used to rebuild in memory at start.

- `item_keys`: the identity keys (GUID, link, …) each item is found by;
- `item_raws`: the raw forms of entries already served for an item;
- `paragraph_counts`: how many items of a publisher hold each paragraph (boilerplate);
- `lsh_buckets`: the LSH index of story and lead signatures;
- `tracker_meta`: the detection settings the fingerprints and buckets were made with;
- `item_versions.full_count`, `item_attributions.url_hash`, and an index of sightings by feed.

Identity keys, raw forms and credit hashes are filled here. Paragraph counts and buckets
depend on the configured detection settings: the first start after this revision builds
them from the stored fingerprints (`tracker.store.detection_state.prepare`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from tracker.detection.identity import key_hash, lookup_hash, stored_keys

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    op.create_table("tracker_meta", sa.Column("name", sa.String(50), primary_key=True), sa.Column("value", sa.Text, nullable=False))
    op.create_table(
        "item_keys",
        sa.Column("publisher_id", sa.Integer, primary_key=True),
        sa.Column("key_hash", sa.String(32), primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "item_raws",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id"), primary_key=True),
        sa.Column("raw_hash", sa.String(32), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "paragraph_counts",
        sa.Column("publisher_id", sa.Integer, primary_key=True),
        sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("holders", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "lsh_buckets",
        sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("item_id", sa.Integer, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("item_versions") as batch:
        batch.add_column(sa.Column("full_count", sa.Integer))
    with op.batch_alter_table("item_attributions") as batch:
        batch.add_column(sa.Column("url_hash", sa.String(16)))
    op.create_index("ix_item_attributions_url_hash", "item_attributions", ["url_hash"])
    op.create_index("ix_item_feeds_feed_seen", "item_feeds", ["feed_id", "first_seen_at"])
    _backfill()


def _backfill() -> None:
    connection = op.get_bind()
    items = sa.table("items", sa.column("id"), sa.column("publisher_id"), sa.column("identity"), sa.column("url"))
    keys = sa.table("item_keys", sa.column("publisher_id"), sa.column("key_hash"), sa.column("item_id"))
    rows = []
    for item_id, publisher_id, identity, url in connection.execute(sa.select(items.c.id, items.c.publisher_id, items.c.identity, items.c.url)):
        for key in dict.fromkeys(key_hash(k) for k in stored_keys(identity, url)):
            rows.append({"publisher_id": publisher_id, "key_hash": key, "item_id": item_id})
        if len(rows) >= _BATCH:
            connection.execute(keys.insert(), rows)
            rows = []
    if rows:
        connection.execute(keys.insert(), rows)
    connection.execute(sa.text(
        "INSERT INTO item_raws (item_id, raw_hash) SELECT DISTINCT item_id, raw_hash FROM item_versions WHERE raw_hash IS NOT NULL"
    ))
    credits = sa.table("item_attributions", sa.column("id"), sa.column("url"), sa.column("url_hash"))
    found = connection.execute(sa.select(credits.c.id, credits.c.url).where(credits.c.url.is_not(None))).all()
    for start in range(0, len(found), _BATCH):
        connection.execute(
            credits.update().where(credits.c.id == sa.bindparam("i")).values(url_hash=sa.bindparam("h")),
            [{"i": i, "h": lookup_hash(url)} for i, url in found[start : start + _BATCH]],
        )


def downgrade() -> None:
    op.drop_index("ix_item_feeds_feed_seen", "item_feeds")
    op.drop_index("ix_item_attributions_url_hash", "item_attributions")
    with op.batch_alter_table("item_attributions") as batch:
        batch.drop_column("url_hash")
    with op.batch_alter_table("item_versions") as batch:
        batch.drop_column("full_count")
    for table in ("lsh_buckets", "paragraph_counts", "item_raws", "item_keys", "tracker_meta"):
        op.drop_table(table)

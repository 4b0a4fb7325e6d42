"""Items' links written as paths made whole: a feed's `<link>/2024/story/</link>` was
stored as the bare path, so its page could not be fetched nor the item found by its
address (`tracker.reader.links` now reads such links against the feed's URL).

- items: `url` and `url_hash` of each item whose link has no scheme, read against the URL
  of the first feed it was seen in (its userinfo taken off); the item is found by its new
  link too (`item_keys`), so that the feed's next capture finds it again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from tracker.detection.identity import key_hash, link_key, lookup_hash
    from tracker.reader.links import feed_base, whole

    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT i.id, i.url, i.publisher_id, f.url FROM items i "
        "JOIN item_feeds x ON x.item_id = i.id JOIN feeds f ON f.id = x.feed_id "
        "WHERE i.url IS NOT NULL AND i.url NOT LIKE 'http%' ORDER BY i.id, x.feed_id"
    )).all()
    done: set[int] = set()
    for item_id, url, publisher_id, feed_url in rows:
        base = feed_base(feed_url) if item_id not in done else None
        done.add(item_id)
        made = whole(url, base) if base else url
        if made == url or made is None:
            continue
        connection.execute(sa.text("UPDATE items SET url = :u, url_hash = :h WHERE id = :i"),
                           {"u": made, "h": lookup_hash(made), "i": item_id})
        key = link_key(made)
        if key is None:
            continue
        found = connection.execute(sa.text("SELECT 1 FROM item_keys WHERE publisher_id = :p AND key_hash = :k AND item_id = :i"),
                                   {"p": publisher_id, "k": key_hash(key), "i": item_id}).first()
        if found is None:
            connection.execute(sa.text("INSERT INTO item_keys (publisher_id, key_hash, item_id) VALUES (:p, :k, :i)"),
                               {"p": publisher_id, "k": key_hash(key), "i": item_id})


def downgrade() -> None:
    # A whole link is what the feed meant: the bare paths are not written back.
    pass

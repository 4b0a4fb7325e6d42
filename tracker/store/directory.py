"""Loading the directory (publishers and feeds) and knowing when it changed.

Any process may add feeds and publishers (a daemon worker, an ingest, `tracker feeds`),
so every write first reads the directory's generation — the newest feed, publisher and
moved-feed URL, and a revision bumped by renames — and reloads the directory when it moved.
The directory is bounded by the number of feeds, so reloading it is cheap.
"""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from tracker.directory import Directory
from tracker.store import schema

Generation = tuple[int, int, int, int]
_REVISION = "directory_revision"


def load_directory(session: Session) -> Directory:
    """Every publisher and feed, and the URLs feeds had before they moved."""
    directory = Directory()
    for publisher in session.scalars(select(schema.Publisher)):
        directory.add_publisher(publisher.id, publisher.name, publisher.site_host, publisher.name_source)
    for feed in session.scalars(select(schema.Feed)):
        directory.add_feed(feed.id, feed.url, feed.publisher_id, feed.title, feed.site_url)
    for old in session.scalars(select(schema.FeedUrl)):
        directory.feed_ids.setdefault(old.url, old.feed_id)
    return directory


def generation(session: Session) -> Generation:
    """What any change of the directory moves: the newest feed, publisher and old feed URL,
    and the revision that renames and moves bump."""
    row = session.execute(text(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM feeds), (SELECT COALESCE(MAX(id), 0) FROM publishers), "
        "(SELECT COALESCE(MAX(id), 0) FROM feed_urls), "
        f"(SELECT COALESCE(MAX(value), '0') FROM tracker_meta WHERE name = '{_REVISION}')"
    )).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def bump_revision(session: Session) -> None:
    """Say that publishers or feeds changed in place (a rename, a feed moved to another publisher)."""
    meta = schema.Meta.__table__
    current = session.execute(select(meta.c.value).where(meta.c.name == _REVISION)).scalar_one_or_none()
    if current is None:
        session.execute(meta.insert().values(name=_REVISION, value="1"))
    else:
        session.execute(update(meta).where(meta.c.name == _REVISION).values(value=str(int(current) + 1)))

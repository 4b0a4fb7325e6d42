"""Loading the directory (publishers and feeds) and knowing when it changed.

Any process may add feeds and publishers (a daemon worker, an ingest, `tracker feeds`),
so every write first reads the directory's generation — the newest feed, publisher and
moved-feed URL, and a revision bumped by renames — and reloads the directory when it moved.
The directory is bounded by the number of feeds, so reloading it is cheap.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from tracker.provenance.publishers import Directory
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


def names_of(session: Session, publisher_ids: Collection[int]) -> dict[int, list[str]]:
    """What each of these publishers is called: its name, its feeds' titles, URLs and site links."""
    found: dict[int, list[str]] = {p: [] for p in publisher_ids}
    if found:
        p, f = schema.Publisher.__table__, schema.Feed.__table__
        for row in session.connection().execute(select(p.c.id, p.c.name).where(p.c.id.in_(list(found)))):
            found[row.id].append(row.name)
        for row in session.connection().execute(
            select(f.c.publisher_id, f.c.title, f.c.url, f.c.site_url).where(f.c.publisher_id.in_(list(found)))
        ):
            found[row.publisher_id].extend(v for v in (row.title, row.url, row.site_url) if v)
    return found


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


def insert_publisher(session: Session, name: str, host: str | None, source: str) -> int:
    """Store a publisher; return its id."""
    p = schema.Publisher.__table__
    return int(session.execute(insert(p).returning(p.c.id), {"name": name, "site_host": host, "name_source": source}).scalar_one())


def insert_feed(session: Session, url: str, publisher_id: int, title: str | None, site: str | None, active: bool, when: datetime) -> int:
    """Store a feed; return its id."""
    f = schema.Feed.__table__
    values = {"url": url, "publisher_id": publisher_id, "title": title, "site_url": site, "added_at": when, "active": active,
              "error_count": 0}
    return int(session.execute(insert(f).returning(f.c.id), values).scalar_one())


def set_feed_site(session: Session, feed_id: int, title: str, site: str | None) -> None:
    """A feed's title and site link, learnt from its first capture."""
    f = schema.Feed.__table__
    session.execute(update(f).where(f.c.id == feed_id).values(title=title, site_url=site))


def move_feed(session: Session, feed_id: int, publisher_id: int, placeholder: int) -> None:
    """A feed joins another publisher; the placeholder publisher it had goes."""
    f, p = schema.Feed.__table__, schema.Publisher.__table__
    session.execute(update(f).where(f.c.id == feed_id).values(publisher_id=publisher_id))
    session.execute(delete(p).where(p.c.id == placeholder))


def rename_publisher(session: Session, publisher_id: int, name: str, source: str) -> None:
    """A publisher's name, and where it comes from."""
    p = schema.Publisher.__table__
    session.execute(update(p).where(p.c.id == publisher_id).values(name=name, name_source=source))

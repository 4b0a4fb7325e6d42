"""SQL about feeds as subscriptions: their tags and titles, and the rows `tracker feeds` lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from tracker.store import schema
from tracker.store.publishers import bump_revision


@dataclass(frozen=True)
class SubscriptionFacts:
    """What the config says of a feed beyond its URL and publisher."""

    title: str | None
    site_url: str | None
    tags: Sequence[str]


def sync_subscriptions(session: Session, facts: Mapping[int, SubscriptionFacts]) -> None:
    """Make each feed's tags exactly the configured ones; fill its title and site from the config.

    A configured title replaces the stored one (the subscriber named it); a configured
    site only fills a missing one (the feed's own link is better evidence)."""
    if not facts:
        return
    tags = schema.FeedTag.__table__
    stored: dict[int, set[str]] = defaultdict(set)
    for feed_id, tag in session.execute(select(tags.c.feed_id, tags.c.tag).where(tags.c.feed_id.in_(list(facts)))):
        stored[feed_id].add(tag)
    feeds = schema.Feed.__table__
    for feed_id, fact in facts.items():
        wanted = {t.strip() for t in fact.tags if t.strip()}
        gone = stored[feed_id] - wanted
        if gone:
            session.execute(delete(tags).where(tags.c.feed_id == feed_id, tags.c.tag.in_(gone)))
        new = wanted - stored[feed_id]
        if new:
            session.execute(insert(tags), [{"feed_id": feed_id, "tag": t} for t in sorted(new)])
        if fact.title:
            session.execute(update(feeds).where(feeds.c.id == feed_id, feeds.c.title.is_distinct_from(fact.title)).values(title=fact.title))
        if fact.site_url:
            session.execute(update(feeds).where(feeds.c.id == feed_id, feeds.c.site_url.is_(None)).values(site_url=fact.site_url))


@dataclass(frozen=True)
class FeedRow:
    """One feed as stored, with what `tracker feeds` shows of it."""

    feed_id: int
    url: str
    publisher: str
    title: str | None
    site_url: str | None
    tags: tuple[str, ...]
    active: bool
    retired_at: datetime | None
    moved_from: tuple[str, ...]
    error_count: int
    last_error_kind: str | None
    last_error_message: str | None
    last_status: int | None
    last_checked_at: datetime | None
    last_success_at: datetime | None
    next_check_at: datetime | None
    items: int


def feed_rows(session: Session) -> list[FeedRow]:
    """Every feed with its publisher, tags, old URLs and the number of items seen in it, by publisher then URL."""
    f, p = schema.Feed, schema.Publisher
    tags: dict[int, list[str]] = defaultdict(list)
    for feed_id, tag in session.execute(select(schema.FeedTag.feed_id, schema.FeedTag.tag).order_by(schema.FeedTag.tag)):
        tags[feed_id].append(tag)
    old: dict[int, list[str]] = defaultdict(list)
    for feed_id, url in session.execute(select(schema.FeedUrl.feed_id, schema.FeedUrl.url).order_by(schema.FeedUrl.replaced_at)):
        old[feed_id].append(url)
    items = {
        feed_id: count
        for feed_id, count in session.execute(select(schema.ItemFeed.feed_id, func.count()).group_by(schema.ItemFeed.feed_id))
    }
    rows = session.execute(
        select(f.id, f.url, p.name, f.title, f.site_url, f.active, f.retired_at, f.error_count, f.last_error_kind,
               f.last_error_message, f.last_status, f.last_checked_at, f.last_success_at, f.next_check_at)
        .join(p, p.id == f.publisher_id).order_by(p.name, f.url)
    ).all()
    return [
        FeedRow(
            feed_id=r.id, url=r.url, publisher=r.name, title=r.title, site_url=r.site_url, tags=tuple(tags[r.id]),
            active=bool(r.active), retired_at=r.retired_at, moved_from=tuple(old[r.id]), error_count=r.error_count or 0,
            last_error_kind=r.last_error_kind, last_error_message=r.last_error_message, last_status=r.last_status,
            last_checked_at=r.last_checked_at, last_success_at=r.last_success_at, next_check_at=r.next_check_at,
            items=int(items.get(r.id, 0)),
        )
        for r in rows
    ]


def move_feed(session: Session, feed_id: int, old_url: str, new_url: str, when: datetime) -> str | None:
    """Record a permanent redirect of a feed from `old_url` to `new_url`; None when done, else why not.

    The move is appended to `feed_moves`; `feed_urls` keeps each former URL once (its
    latest replacement time) and never the current one, so a feed may move back and forth
    (A→B→A, A→B→C→A) for ever. A target that is another feed's URL, current or former,
    is refused: two feeds never share a URL."""
    f, old = schema.Feed.__table__, schema.FeedUrl.__table__
    owner = session.scalar(select(f.c.id).where(f.c.url == new_url))
    former_owner = session.scalar(select(old.c.feed_id).where(old.c.url == new_url))
    if (owner is not None and owner != feed_id) or (former_owner is not None and former_owner != feed_id):
        return "redirect target already followed"
    session.execute(insert(schema.FeedMove).values(feed_id=feed_id, from_url=old_url, to_url=new_url, moved_at=when))
    session.execute(delete(old).where(old.c.url == new_url))
    kept = session.execute(update(old).where(old.c.url == old_url, old.c.feed_id == feed_id).values(replaced_at=when))
    if not kept.rowcount:
        session.execute(insert(old).values(feed_id=feed_id, url=old_url, replaced_at=when))
    session.execute(update(f).where(f.c.id == feed_id).values(url=new_url))
    bump_revision(session)  # other workers' directories: a URL changed in place
    return None


def moves_of(session: Session, feed_id: int) -> list[tuple[str, str, datetime]]:
    """A feed's moves, oldest first: (from, to, when)."""
    m = schema.FeedMove.__table__
    rows = session.execute(select(m.c.from_url, m.c.to_url, m.c.moved_at).where(m.c.feed_id == feed_id).order_by(m.c.moved_at, m.c.id))
    return [(r.from_url, r.to_url, r.moved_at) for r in rows]

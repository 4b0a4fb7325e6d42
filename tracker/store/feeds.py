"""SQL about feeds as subscriptions: their tags and titles, their state, and the rows `tracker feeds` lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from tracker.model import FeedState
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
    state: FeedState
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


def polled() -> ColumnElement[bool]:
    """The feeds the daemon polls (states failing, moved and active): followed and not gone."""
    f = schema.Feed
    return f.active.is_(True) & f.retired_at.is_(None)


def feed_state() -> ColumnElement[str]:
    """A feed's state (`tracker.model.FeedState`) as SQL over `feeds`: the one definition,
    most telling first. Gone (410) outranks everything: a retired feed is never polled again,
    however its last polls went; a feed not followed is inactive, or archived when it was
    never polled; a followed one is failing while its polls fail, else moved or active."""
    f = schema.Feed
    return case(
        (f.retired_at.is_not(None), FeedState.GONE.value),
        (f.active.is_(False) & f.last_checked_at.is_not(None), FeedState.INACTIVE.value),
        (f.active.is_(False), FeedState.ARCHIVED.value),
        (f.error_count > 0, FeedState.FAILING.value),
        (exists().where(schema.FeedUrl.feed_id == f.id), FeedState.MOVED.value),
        else_=FeedState.ACTIVE.value,
    )


def state_counts(session: Session) -> dict[FeedState, int]:
    """How many stored feeds are in each state (every state but NEW, zero when none)."""
    state = feed_state()
    counts = dict.fromkeys((s for s in FeedState if s is not FeedState.NEW), 0)
    for name, count in session.execute(select(state, func.count()).group_by(state)):
        counts[FeedState(name)] = int(count)
    return counts


@dataclass(frozen=True)
class FailingFeed:
    """A feed whose last polls failed, as `tracker status` lists it."""

    url: str
    error_count: int
    last_error_kind: str | None
    last_error_message: str | None
    next_check_at: datetime | None


def failing_feeds(session: Session) -> list[FailingFeed]:
    """The feeds in state FAILING, most errors in a row first."""
    f = schema.Feed
    rows = session.execute(
        select(f.url, f.error_count, f.last_error_kind, f.last_error_message, f.next_check_at)
        .where(feed_state() == FeedState.FAILING.value).order_by(f.error_count.desc(), f.url)
    )
    return [FailingFeed(r.url, r.error_count, r.last_error_kind, r.last_error_message, r.next_check_at) for r in rows]


def due_count(session: Session, now: datetime) -> int:
    """How many polled feeds are due at `now`."""
    f = schema.Feed
    query = select(func.count()).select_from(f).where(polled(), (f.next_check_at.is_(None)) | (f.next_check_at <= now))
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class DueFeed:
    """A feed as a poll needs it (due, or leased to this worker): its validators and how it went last time."""

    feed_id: int
    url: str
    etag: str | None
    last_modified: str | None
    error_count: int
    last_checked_at: datetime | None


def due_feeds(session: Session, now: datetime, everything: bool = False, limit: int | None = None) -> list[DueFeed]:
    """Polled feeds whose next check has come by `now` (or all of them), earliest due first (never checked first)."""
    f = schema.Feed
    query = select(f.id, f.url, f.etag, f.last_modified, f.error_count, f.last_checked_at).where(polled())
    if not everything:
        query = query.where((f.next_check_at.is_(None)) | (f.next_check_at <= now))
    query = query.order_by(f.next_check_at.is_not(None), f.next_check_at, f.id)
    if limit:
        query = query.limit(limit)
    return [DueFeed(r.id, r.url, r.etag, r.last_modified, r.error_count, r.last_checked_at) for r in session.execute(query)]


def follow_only(session: Session, urls: Sequence[str]) -> None:
    """Make the feeds at `urls` (current or former URLs) exactly the followed (active) ones."""
    f, moved = schema.Feed.__table__, schema.FeedUrl.__table__
    # A feed moved by a 301 is still the configured feed: found by its old URL too.
    followed = select(f.c.id).where(f.c.url.in_(urls)).union(select(moved.c.feed_id).where(moved.c.url.in_(urls)))
    ids = set(session.scalars(followed))
    session.execute(update(f).where(f.c.id.in_(ids)).values(active=True))
    session.execute(update(f).where(f.c.id.not_in(ids)).values(active=False))


def items_seen_since(session: Session, feed_id: int, since: datetime) -> int:
    """How many items the feed carried for the first time since `since`."""
    i = schema.ItemFeed
    return int(session.scalar(select(func.count()).select_from(i).where(i.feed_id == feed_id, i.first_seen_at >= since)) or 0)


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
        select(f.id, f.url, p.name, f.title, f.site_url, feed_state().label("state"), f.active, f.retired_at, f.error_count,
               f.last_error_kind,
               f.last_error_message, f.last_status, f.last_checked_at, f.last_success_at, f.next_check_at)
        .join(p, p.id == f.publisher_id).order_by(p.name, f.url)
    ).all()
    return [
        FeedRow(
            feed_id=r.id, url=r.url, publisher=r.name, title=r.title, site_url=r.site_url, tags=tuple(tags[r.id]),
            state=FeedState(r.state), active=bool(r.active), retired_at=r.retired_at, moved_from=tuple(old[r.id]),
            error_count=r.error_count or 0,
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

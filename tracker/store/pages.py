"""Article pages as SQL: pages read, the URLs they answer for, and each item's page state.

A page is stored whether or not an item links to it yet; an item and a page find each
other by `tracker.detection.identity.lookup_hash` of any URL either goes by, whichever arrives first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from tracker.model import PageRequest
from tracker.store import schema, schema_pages
from tracker.store.items import chunks

_p, _k, _r, _s = schema_pages.Page.__table__, schema_pages.PageKey.__table__, schema_pages.PageRedirect.__table__, schema_pages.ItemPage.__table__
_i, _v = schema.Item.__table__, schema.ItemVersion.__table__
# A failing page is tried again after 15 min, 30 min, 1 h, … at most a day apart, this many times.
FIRST_RETRY = timedelta(minutes=15)
LAST_RETRY = timedelta(days=1)
MAX_ATTEMPTS = 6
# An answer that says the page will not come back: not tried again.
GONE_STATUSES = (410, 451)
# A 404 may only be early: a page is often linked from its feed before the site's cache
# or CDN serves it (a live replay of summary-dev lost 49 of 328 pages to one early 404).
# It is tried again with the back-off, and given up when the try that fails with a 404 is
# at least the NOT_FOUND_TRIES-th.
NOT_FOUND_TRIES = 3
# Redirects followed through an archive, at most this many hops.
_HOPS = 5


@dataclass(frozen=True)
class StoredPage:
    """A stored page as the pipeline joins it to items."""

    page_id: int
    url: str
    final_url: str
    fetched_at: datetime
    text: str
    words: int
    canonical_url: str | None
    body_hash: str


@dataclass(frozen=True)
class PageState:
    """An item's page state (`item_pages`)."""

    item_id: int
    state: str
    setting: str
    page_id: int | None
    attempts: int


def has_page(session: Session, url_hash: str, body_hash: str) -> bool:
    """Whether this page (URL and body) is stored already: an archive read again, or a page
    fetched again unchanged — its text, and so all it teaches, is known."""
    query = select(_p.c.id).where(_p.c.url_hash == url_hash, _p.c.body_hash == body_hash)
    return session.connection().execute(query).first() is not None


def insert_page(session: Session, values: dict[str, object]) -> int:
    """Store a page; return its id."""
    return int(session.connection().execute(insert(_p).returning(_p.c.id), values).scalar_one())


def redirected_from(session: Session, hashes: Collection[str]) -> set[str]:
    """`hashes` and every URL hash that redirects to one of them (through a few hops)."""
    found = set(hashes)
    frontier = set(hashes)
    for _ in range(_HOPS):
        reached: set[str] = set()
        for part in chunks(frontier):
            reached.update(session.connection().execute(select(_r.c.from_hash).where(_r.c.to_hash.in_(part))).scalars())
        frontier = reached - found
        if not frontier:
            break
        found |= frontier
    return found


def add_keys(session: Session, page_id: int, hashes: Iterable[str]) -> None:
    """Let the page be found by these URL hashes (those it has are kept once)."""
    hashes = set(hashes)
    have = set(session.connection().execute(
        select(_k.c.url_hash).where(_k.c.page_id == page_id, _k.c.url_hash.in_(list(hashes)))
    ).scalars())
    rows = [{"url_hash": h, "page_id": page_id} for h in sorted(hashes - have)]
    if rows:
        session.connection().execute(insert(_k), rows)


def add_redirect(session: Session, from_url: str, from_hash: str, to_hash: str) -> bool:
    """Record an archived redirect; False when it was known already."""
    known = session.connection().execute(
        select(_r.c.from_hash).where(_r.c.from_hash == from_hash, _r.c.to_hash == to_hash)
    ).first()
    if known is None:
        session.connection().execute(insert(_r), {"from_hash": from_hash, "to_hash": to_hash, "from_url": from_url[:2000]})
    return known is None


_PRESENT = select(_k.c.url_hash).where(_k.c.url_hash.in_(bindparam("h", expanding=True))).distinct()


def pages_under(session: Session, hashes: Collection[str]) -> dict[str, list[StoredPage]]:
    """The stored pages with article text answering for each URL hash, latest first."""
    found: dict[str, list[StoredPage]] = defaultdict(list)
    # Most captures' items have no page stored: one lookup of the keys' index says so.
    present: set[str] = set()
    for part in chunks(hashes):
        present.update(session.connection().execute(_PRESENT, {"h": part}).scalars())
    for part in chunks(present):
        rows = session.connection().execute(
            select(_k.c.url_hash, _p.c.id, _p.c.url, _p.c.final_url, _p.c.fetched_at, _p.c.text, _p.c.words,
                   _p.c.canonical_url, _p.c.body_hash)
            .join(_p, _p.c.id == _k.c.page_id)
            .where(_k.c.url_hash.in_(part), _p.c.text.is_not(None))
            .order_by(_p.c.fetched_at.desc(), _p.c.id.desc())
        )
        for r in rows:
            found[r.url_hash].append(StoredPage(r.id, r.url, r.final_url, r.fetched_at, r.text, r.words, r.canonical_url, r.body_hash))
    return found


def page_keys(session: Session, page_ids: Collection[int]) -> dict[int, set[str]]:
    """The URL hashes each page answers for."""
    found: dict[int, set[str]] = defaultdict(set)
    for part in chunks(page_ids):
        for url_hash, page_id in session.connection().execute(select(_k.c.url_hash, _k.c.page_id).where(_k.c.page_id.in_(part))):
            found[page_id].add(url_hash)
    return found


def links_under(session: Session, hashes: Collection[str]) -> dict[int, tuple[int, str]]:
    """(publisher id, link) of each item whose link has one of these URL hashes, by item id
    (in item order)."""
    found: dict[int, tuple[int, str]] = {}
    for part in chunks(hashes):
        for item_id, publisher_id, url in session.connection().execute(
            select(_i.c.id, _i.c.publisher_id, _i.c.url).where(_i.c.url_hash.in_(part)).order_by(_i.c.id)
        ):
            found[item_id] = (publisher_id, url)
    return dict(sorted(found.items()))


def latest_links(session: Session, publisher_id: int, count: int = 50) -> list[str]:
    """The links of a publisher's latest items (at most `count`)."""
    return list(session.connection().execute(
        select(_i.c.url).where(_i.c.publisher_id == publisher_id).order_by(_i.c.id.desc()).limit(count)
    ).scalars())


def states_of(session: Session, ids: Collection[int]) -> dict[int, PageState]:
    """The page state of each of these items that has one."""
    found: dict[int, PageState] = {}
    for part in chunks(ids):
        for r in session.connection().execute(select(_s).where(_s.c.item_id.in_(part))):
            found[r.item_id] = PageState(r.item_id, r.state, r.setting, r.page_id, r.attempts)
    return found


def set_state(session: Session, item_id: int, exists: bool, values: dict[str, object]) -> None:
    """Write an item's page state (a new row, or changes to the one it has)."""
    if exists:
        session.connection().execute(update(_s).where(_s.c.item_id == item_id).values(**values))
    else:
        session.connection().execute(insert(_s), {"item_id": item_id, "attempts": 0, "setting": "auto", **values})


def feed_words(session: Session, item_id: int) -> int:
    """The length in words of the item's longest text from its feed (not from its page)."""
    texts = session.connection().execute(select(_v.c.text).where(_v.c.item_id == item_id, _v.c.from_page.is_(False))).scalars()
    return max((len((text or "").split()) for text in texts), default=0)


def wanted_pages(
    session: Session, now: datetime, limit: int, seen_since: datetime | None = None, revisit_before: datetime | None = None,
) -> list[PageRequest]:
    """Items whose page should be fetched now: wanted and never tried, or failed and due
    again; with `revisit_before`, also pages read last before it (asked again with their
    validators), after the others. Oldest due first. `seen_since` leaves out items first
    seen before it."""
    due = [and_(_s.c.state == "wanted", or_(_s.c.next_try_at.is_(None), _s.c.next_try_at <= now)),
           and_(_s.c.state == "failed", _s.c.next_try_at <= now)]
    read = _s.c.state.in_(("used", "not_used"))
    if revisit_before is not None:
        due.append(and_(read, _s.c.page_id.is_not(None), _s.c.tried_at <= revisit_before))
    query = (
        select(_s.c.item_id, _i.c.url, _s.c.attempts, _s.c.etag, _s.c.last_modified)
        .join(_i, _i.c.id == _s.c.item_id)
        .where(or_(*due), _i.c.url.is_not(None))
        .order_by(read, func.coalesce(_s.c.next_try_at, _i.c.first_seen_at), _s.c.item_id)
        .limit(limit)
    )
    if seen_since is not None:
        query = query.where(_i.c.first_seen_at >= seen_since)
    return [PageRequest(r.item_id, r.url, r.attempts, r.etag, r.last_modified) for r in session.connection().execute(query)]


def backoff(attempts: int) -> timedelta:
    """How long after its `attempts`-th failure a page is tried again."""
    return min(LAST_RETRY, FIRST_RETRY * (2 ** max(0, attempts - 1)))


def record_failure(
    session: Session, item_ids: Collection[int], kind: str, message: str, when: datetime, status: int | None = None,
) -> None:
    """A page fetch failed for these items: count it and set the next try (none when the
    server said the page is gone, or after `MAX_ATTEMPTS`)."""
    states = states_of(session, item_ids)
    for item_id in sorted(item_ids):
        attempts = (states[item_id].attempts if item_id in states else 0) + 1
        # Gone stays gone: a page refused for what it is (too large, not HTML) is not tried again.
        gone = (status in GONE_STATUSES or (status == 404 and attempts >= NOT_FOUND_TRIES) or attempts >= MAX_ATTEMPTS
                or (item_id in states and states[item_id].state == "gone"))
        set_state(session, item_id, item_id in states, {
            "state": "gone" if gone else "failed", "attempts": attempts, "last_error": message[:1000], "error_kind": kind,
            "tried_at": when, "next_try_at": None if gone else when + backoff(attempts),
        })


def record_unchanged(session: Session, item_ids: Collection[int], when: datetime) -> None:
    """A conditional GET answered 304: the page stands as stored."""
    for part in chunks(item_ids):
        session.connection().execute(
            update(_s).where(_s.c.item_id.in_(part), or_(_s.c.tried_at.is_(None), _s.c.tried_at < when))
            .values(tried_at=when, next_try_at=None)
        )


def unjoined_count(session: Session) -> int:
    """Stored pages with an article that no item links to (by any URL the page answers for)."""
    joined = select(_k.c.page_id).join(_i, _i.c.url_hash == _k.c.url_hash)
    query = select(func.count()).select_from(_p).where(_p.c.text.is_not(None), _p.c.id.not_in(joined))
    return int(session.connection().execute(query).scalar_one())


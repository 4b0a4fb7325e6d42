"""Feed leases: which polling worker fetches which feed, so that several can share a database.

A worker claims due feeds in one short transaction: it picks due, polled feeds whose
lease is free or expired — `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never
take the same row and neither waits for the other — and writes its id and an expiry on
each. The lease is cleared in the transaction that stores the poll's schedule. A worker
that dies (kill -9, a lost machine) leaves leases that expire; another worker then takes
the feeds. Expiry compares the workers' clocks: keep them in sync (NTP).

Per-host politeness holds across workers: the claims are serialised by a transaction
lock (PostgreSQL; SQLite has one writer anyway), and a claim counts every unexpired
lease on a host, whoever holds it, against `per_host`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from tracker.store import schema
from tracker.store.feeds import DueFeed, polled

# pg_advisory_xact_lock takes one bigint: "tracker", then 3 for "the claimer".
_CLAIM_KEY = 0x74726163_6B657203



def claim(
    session: Session,
    owner: str,
    now: datetime,
    lease_seconds: float,
    *,
    limit: int | None = None,
    per_host: int | None = None,
    host: Callable[[str], str] = lambda url: url,
    everything: bool = False,
) -> list[DueFeed]:
    """Lease up to `limit` due feeds (or, `everything`, every active one) to `owner`, earliest due first.

    With `per_host`, no host gets more feeds under lease than that, counting every
    worker's leases. Call inside a transaction of its own (`sessions.begin()`).
    """
    f = schema.Feed
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_KEY})
    hosts: Counter[str] = Counter()
    if per_host is not None:
        hosts.update(host(url) for url in session.scalars(select(f.url).where(f.lease_until > now)))
    query = select(f.id, f.url, f.etag, f.last_modified, f.error_count, f.last_checked_at).where(
        polled(), or_(f.lease_until.is_(None), f.lease_until <= now)
    )
    if not everything:
        query = query.where(or_(f.next_check_at.is_(None), f.next_check_at <= now))
    query = query.order_by(f.next_check_at.is_not(None), f.next_check_at, f.id)
    if limit is not None:
        # Feeds of a busy host are passed over: look further than `limit` for others.
        query = query.limit(limit * 4 if per_host is not None else limit)
    rows = session.execute(query.with_for_update(skip_locked=True, of=f)).all()
    taken: list[DueFeed] = []
    for row in rows:
        if limit is not None and len(taken) >= limit:
            break
        if per_host is not None:
            where = host(row.url)
            if hosts[where] >= per_host:
                continue
            hosts[where] += 1
        taken.append(DueFeed(row.id, row.url, row.etag, row.last_modified, row.error_count, row.last_checked_at))
    if taken:
        until = now + timedelta(seconds=lease_seconds)
        session.execute(update(f).where(f.id.in_([t.feed_id for t in taken])).values(lease_owner=owner, lease_until=until))
    return taken


def renew(session: Session, feed_id: int, owner: str, now: datetime, lease_seconds: float) -> bool:
    """Extend `owner`'s lease on a feed; False when the lease was lost to another worker."""
    f = schema.Feed
    result = session.execute(
        update(f).where(f.id == feed_id, f.lease_owner == owner).values(lease_until=now + timedelta(seconds=lease_seconds))
    )
    return bool(result.rowcount)


def finish(session: Session, feed_id: int, owner: str | None, values: dict[str, Any]) -> bool:
    """Write a poll's outcome (`values`) on the feed's row and clear `owner`'s lease.

    False, and nothing written, when `owner` no longer holds the lease. Without an owner
    (a poller that does not lease) the row is written whoever holds it.
    """
    f = schema.Feed
    statement = update(f).where(f.id == feed_id)
    if owner is not None:
        statement = statement.where(f.lease_owner == owner).values(lease_owner=None, lease_until=None)
    return bool(session.execute(statement.values(**values)).rowcount)


def release(session: Session, owner: str, feed_ids: list[int] | None = None) -> int:
    """Give up `owner`'s leases (on `feed_ids`, or all of them) without polling; how many."""
    f = schema.Feed
    statement = update(f).where(f.lease_owner == owner)
    if feed_ids is not None:
        statement = statement.where(f.id.in_(feed_ids))
    return int(session.execute(statement.values(lease_owner=None, lease_until=None)).rowcount or 0)


def release_owners(session: Session, owners: list[str]) -> int:
    """Free every lease held by these (dead) workers; how many."""
    f = schema.Feed
    return int(session.execute(update(f).where(f.lease_owner.in_(owners)).values(lease_owner=None, lease_until=None)).rowcount or 0)

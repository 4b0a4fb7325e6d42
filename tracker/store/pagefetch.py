"""SQL of the live page fetcher beside the pages tables: which feeds an item came by, the
items' page states counted (for `status` and `/metrics`), and which worker fetches pages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tracker.store import schema, schema_pages
from tracker.store.items import chunks

_s, _f, _if = schema_pages.ItemPage.__table__, schema.Feed.__table__, schema.ItemFeed.__table__
PAGE_STATES = ("wanted", "used", "not_used", "failed", "gone")
# pg_try_advisory_lock takes one bigint: "tracker", then 5 for "the page fetcher".
_FETCHER_KEY = 0x74726163_6B657205


class PageFetcherSeat:
    """Whether this process is the one that fetches pages. Several workers share a PostgreSQL
    database; were each to fetch, every page would be fetched by each, and no site would see
    one request at a time. The seat is a session advisory lock on a connection of its own:
    it passes to another worker when this one dies or loses the database. On SQLite (one
    daemon per file) it is always held."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def held(self) -> bool:
        """Take the seat if free, or check it is still held; False when another worker has it."""
        if self.engine.dialect.name != "postgresql":
            return True
        try:
            if self._connection is not None:
                self._connection.execute(text("SELECT 1"))
                return True
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _FETCHER_KEY}).scalar():
                self._connection = connection
                return True
            connection.close()
            return False
        except SQLAlchemyError:
            self.release()
            return False

    def release(self) -> None:
        """Give the seat up (closing its connection releases the lock)."""
        if self._connection is not None:
            try:
                # Unlocked first: the server ends a closed session's locks only when it notices
                # the socket closed, and another worker may ask at once.
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _FETCHER_KEY})
            except SQLAlchemyError:
                pass
            try:
                # Closed for good, not returned to the pool: the lock goes with the server session.
                self._connection.invalidate()
                self._connection.close()
            except SQLAlchemyError:
                pass
            self._connection = None


def feed_urls_of(session: Session, item_ids: Collection[int]) -> dict[int, set[str]]:
    """The URLs of the feeds each item was seen in."""
    found: dict[int, set[str]] = defaultdict(set)
    for part in chunks(item_ids):
        rows = session.connection().execute(
            select(_if.c.item_id, _f.c.url).join(_f, _f.c.id == _if.c.feed_id).where(_if.c.item_id.in_(part))
        )
        for item_id, url in rows:
            found[item_id].add(url)
    return found


def page_states(session: Session) -> dict[str, int]:
    """How many items are in each page state (wanted, used, not_used, failed, gone)."""
    rows = session.connection().execute(select(_s.c.state, func.count()).group_by(_s.c.state))
    counts = dict.fromkeys(PAGE_STATES, 0)
    counts.update({state: int(n) for state, n in rows})
    return counts


def failing_pages(session: Session, limit: int = 10) -> list[tuple[str | None, str | None, int, str | None]]:
    """The items whose page fails, most attempts first: (url, error kind, attempts, last error)."""
    i = schema.Item.__table__
    rows = session.connection().execute(
        select(i.c.url, _s.c.error_kind, _s.c.attempts, _s.c.last_error).join(i, i.c.id == _s.c.item_id)
        .where(_s.c.state.in_(("failed", "gone")), _s.c.error_kind.is_not(None))
        .order_by(_s.c.tried_at.desc(), _s.c.item_id).limit(limit)
    )
    return [(r.url, r.error_kind, r.attempts, r.last_error) for r in rows]


def failure_kinds(session: Session) -> dict[str, int]:
    """Items whose page failed (failing now or given up), by the last error's kind."""
    rows = session.connection().execute(
        select(_s.c.error_kind, func.count()).where(_s.c.state.in_(("failed", "gone")), _s.c.error_kind.is_not(None))
        .group_by(_s.c.error_kind)
    )
    return {kind: int(n) for kind, n in rows}

"""`tracker feeds`: every feed and its health; `tracker feeds export`: the subscriptions as OPML.

Each feed is shown in its state (`tracker.model.FeedState`, decided in
`tracker.store.feeds.feed_state`), most telling first: gone, failing, moved, active,
inactive, archived, or new (in the configuration, not polled or ingested yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tracker.answers.output import Column
from tracker.config import FeedConfig
from tracker.config.opml import Subscription, write_opml
from tracker.model import FeedState
from tracker.store.feeds import feed_rows
from tracker.timefmt import when


def _stored(sessions: sessionmaker[Session] | None) -> list[Any]:
    if sessions is None:  # no database yet: only the configured feeds, all new
        return []
    with sessions() as session:
        return feed_rows(session)


def feed_list(sessions: sessionmaker[Session] | None, configured: Sequence[FeedConfig] = ()) -> list[dict[str, Any]]:
    """One row per feed: publisher, tags, state, errors, last poll, next check, items seen in it;
    feeds of `configured` not stored yet (never polled nor ingested) come last, as "new"."""
    rows = _stored(sessions)
    stored = {f.url for f in rows} | {old for f in rows for old in f.moved_from}
    new = [
        {key: None for key in FEED_KEYS} | {
            "url": feed.url, "publisher": feed.publisher, "title": feed.title, "site_url": feed.site_url,
            "tags": sorted(feed.tags), "state": FeedState.NEW.value, "error_count": 0, "moved_from": [], "items": 0,
        }
        for feed in configured if feed.url not in stored
    ]
    return [
        {
            "url": f.url, "publisher": f.publisher, "title": f.title, "site_url": f.site_url, "tags": list(f.tags),
            "state": f.state.value, "error_count": f.error_count, "last_error_kind": f.last_error_kind,
            "last_error": f.last_error_message, "last_status": f.last_status, "last_poll_at": f.last_checked_at,
            "last_success_at": f.last_success_at, "next_check_at": f.next_check_at if f.active else None,
            "retired_at": f.retired_at,
            "moved_from": list(f.moved_from), "items": f.items,
        }
        for f in rows
    ] + new


FEED_KEYS = ("url", "publisher", "title", "site_url", "tags", "state", "error_count", "last_error_kind", "last_error",
             "last_status", "last_poll_at", "last_success_at", "next_check_at", "retired_at", "moved_from", "items")


def _state_cell(row: dict[str, Any]) -> str:
    if row["state"] == FeedState.FAILING:
        return f"failing ×{row['error_count']} {row['last_error_kind'] or ''}".rstrip()
    return str(row["state"])


FEED_TABLE = (
    Column("publisher", "publisher", width=24),
    Column("tags", "tags", lambda v: ", ".join(v), width=30),
    Column("state_cell", "state"),
    Column("last_poll_at", "last poll", lambda v: when(v, "—")),
    Column("next_check_at", "next check", lambda v: when(v, "—")),
    Column("items", "items", right=True),
    Column("url", "url"),
)


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the derived cells the table shows."""
    return [{**row, "state_cell": _state_cell(row)} for row in rows]


def subscriptions(sessions: sessionmaker[Session] | None, configured: Sequence[FeedConfig] = (),
                  include_inactive: bool = False) -> list[Subscription]:
    """The followed feeds as OPML subscriptions: stored and active (with `include_inactive`,
    also those no longer configured), never gone, and configured ones not stored yet;
    ordered by folder, publisher and URL so that the same feeds always give the same file."""
    rows = _stored(sessions)
    stored = {f.url for f in rows} | {old for f in rows for old in f.moved_from}
    subs = [
        Subscription(url=f.url, title=f.title, publisher=f.publisher, html_url=f.site_url, tags=f.tags)
        for f in rows
        if f.state is not FeedState.GONE and (f.active or include_inactive)
    ] + [
        Subscription(url=c.url, title=c.title, publisher=c.publisher, html_url=c.site_url, tags=tuple(sorted(c.tags)))
        for c in configured if c.url not in stored
    ]
    return sorted(subs, key=lambda s: (s.tags[:1], s.publisher or "", s.url))


def export_opml(sessions: sessionmaker[Session] | None, configured: Sequence[FeedConfig] = (), include_inactive: bool = False) -> bytes:
    """The followed feeds as an OPML 2.0 document that `[[opml]]` reads back to the same feeds."""
    return write_opml(subscriptions(sessions, configured, include_inactive))

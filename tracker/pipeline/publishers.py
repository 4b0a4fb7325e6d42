"""`Pipeline`'s directory of feeds and publishers: kept in memory between writes, read
again when another process changed it, and the naming of new feeds' publishers.

A mixin of `tracker.pipeline.capture.Pipeline` (kept apart: the capture half is long enough).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tracker.detection.identity import host_of
from tracker.detection.normalise import fold
from tracker.model import ParsedFeed, utcnow
from tracker.pipeline.rebuild import check
from tracker.provenance.publishers import Directory, vouched_site
from tracker.store import locks
from tracker.store import publishers as directory_store
from tracker.store.publishers import generation, load_directory

if TYPE_CHECKING:
    from tracker.pipeline.capture import Pipeline

# Bounded columns that hold strings from feeds (everything else from a feed is Text).
PUBLISHER_NAME_MAX = 300


def _bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DirectoryMixin:
    """`Pipeline`'s methods for the directory: caching it, and adding feeds and publishers."""

    def reload(self: Pipeline) -> None:
        """Forget the directory: the next write reads it again (after a failed transaction)."""
        self._seen = None

    def _writing(self: Pipeline, session: Session) -> None:
        """Start a write: take SQLite's writer lock, and catch up with the directory."""
        locks.begin_write(session)
        check(self, session)
        self._directory_locked = False
        self._catch_up(session)
        # SQLite's writer holds the whole database: nobody else changes the directory until it commits.
        self._directory_held = locks.single_writer(self.sessions)

    def _catch_up(self: Pipeline, session: Session) -> None:
        seen = generation(session)
        if seen != self._seen:
            self.directory = load_directory(session)
            self._seen = seen

    def _current(self: Pipeline, session: Session) -> Directory:
        """The directory with whatever other processes committed meanwhile."""
        if not getattr(self, "_directory_held", False):
            self._catch_up(session)
        return self.directory

    def _changing_directory(self: Pipeline, session: Session) -> None:
        """Before changing feeds or publishers: hold the directory (PostgreSQL) and read it
        again if another process changed it since this transaction began."""
        if not self._directory_locked:
            locks.lock(session, locks.DIRECTORY, [0])
            self._directory_locked = True
            self._catch_up(session)

    def _written(self: Pipeline, session: Session) -> None:
        """End a write: what this transaction changed in the directory is the generation seen."""
        if self._directory_locked:
            self._seen = generation(session)

    def _new_publisher(self: Pipeline, session: Session, name: str, source: str, host: str | None) -> int:
        name = self._free_name(name, host)
        publisher_id = directory_store.insert_publisher(session, name, host, source)
        self.directory.add_publisher(publisher_id, name, host, source)
        return publisher_id

    def _free_name(self: Pipeline, name: str, host: str | None) -> str:
        """`name`, or `name (host)` / `name #2` when another publisher already has it."""
        name = _bounded(name, PUBLISHER_NAME_MAX)
        # The directory is current: it is held, and was read again once held. Names are
        # compared as lookups compare them: "ALPHA NEWS" is taken when "Alpha News" is.
        taken = {fold(n).strip() for n in self.directory.publisher_names.values()}
        if fold(name).strip() not in taken:
            return name
        for suffix in ([f" ({host})"] if host else []) + [f" #{n}" for n in range(2, 10_000)]:
            candidate = _bounded(name, PUBLISHER_NAME_MAX - len(suffix)) + suffix
            if fold(candidate).strip() not in taken:
                return candidate
        raise AssertionError("unreachable: 10,000 publishers of one name")

    def _feed(self: Pipeline, session: Session, url: str, parsed: ParsedFeed | None) -> int:
        known = self.directory.feed_ids.get(url)
        if known is None:
            self._changing_directory(session)
            known = self.directory.feed_ids.get(url)
        if known is not None:
            if parsed is not None and parsed.title:
                self._learn_title(session, known, url, parsed)
            return known
        site = parsed.site_url if parsed else None
        host = host_of(vouched_site(url, site)) or host_of(url)
        title = parsed.title if parsed else None
        subscription = self.subscriptions.get(url)
        configured = subscription is not None
        named = subscription.publisher if subscription else None
        publisher_id = None
        if named:
            publisher_id = self.directory.publisher_named(named)
            if publisher_id is None:
                publisher_id = self._new_publisher(session, named, "config", host)
        elif title and site:
            # The same site's other feed (its RSS beside its Atom): same title, same site link.
            publisher_id = self.directory.same_site(url, title, site)
        if publisher_id is None:
            publisher_id = self._new_publisher(session, title or host or url, "feed_title" if title else "feed_url", host)
        # A feed first seen in an archive is evidence, not a subscription: polled only when configured.
        feed_id = directory_store.insert_feed(session, url, publisher_id, title, site, configured, utcnow())
        self.directory.add_feed(feed_id, url, publisher_id, title, site)
        return feed_id

    def _learn_title(self: Pipeline, session: Session, feed_id: int, url: str, parsed: ParsedFeed) -> None:
        """A feed (at `url`) registered before its first capture learns its title (and its publisher's name)."""
        if not parsed.title or self.directory.feed_sites.get(feed_id, (None, None))[0] is not None:
            return
        self._changing_directory(session)
        if not self.directory.learn_feed(feed_id, url, parsed.title, parsed.site_url):
            return
        directory_store.bump_revision(session)
        directory_store.set_feed_site(session, feed_id, parsed.title, parsed.site_url)
        placeholder = self.directory.feed_publisher[feed_id]
        if self.directory.publisher_source.get(placeholder) != "feed_url" or self.directory.feeds_of(placeholder) != {feed_id}:
            return
        # Its first capture: the feed is named after its title, or joins the same site's publisher.
        same_site = self.directory.same_site(url, parsed.title, parsed.site_url, exclude=placeholder) if parsed.site_url else None
        if same_site is not None:
            directory_store.move_feed(session, feed_id, same_site, placeholder)
            self.directory.move_feed(feed_id, same_site)
            return
        name = self._free_name(parsed.title, self.directory.publisher_host(placeholder))
        directory_store.rename_publisher(session, placeholder, name, "feed_title")
        self.directory.rename_publisher(placeholder, name, "feed_title")

"""The daemon's page store: the live page fetcher (tracker.daemon.pagefetch) over the running pipeline.

Of several workers sharing a PostgreSQL database, one fetches pages: the holder of the
page fetcher's seat (tracker.store.pagefetch), which passes on when it stops or dies.

Pages are asked for without any lock (a read), and handed to the pipeline under the same
lock as feed captures (the pipeline is one writer at a time) — after the fetch, so a slow
site never holds it. The daemon's pipeline is rebuilt after a database outage; this store
always uses the current one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tracker.config import Config
from tracker.daemon.poll import Poller
from tracker.model import IngestReport, PageCapture, PageRequest, utcnow
from tracker.pipeline.pages import read_article
from tracker.reader.fetch import Headers
from tracker.store.pagefetch import PageFetcherSeat, feed_urls_of

log = logging.getLogger(__name__)


class NotReady(Exception):
    """The daemon's pipeline is not open (starting, or reopening after a database failure)."""


class DaemonPages:
    """`PageStore` and `PageArchive` of a running daemon."""

    def __init__(self, poller: Callable[[], Poller | None], config: Callable[[], Config]) -> None:
        """`poller` gives the daemon's current poller (None while it has none), `config` its current config."""
        self._poller = poller
        self._config = config
        self._seat: PageFetcherSeat | None = None
        self._seated_before = False

    def _current(self) -> Poller:
        poller = self._poller()
        if poller is None:
            raise NotReady("the pipeline is not open")
        return poller

    def pages_wanted(self, limit: int) -> list[PageRequest]:
        """Due pages of items first seen within `max_age_hours`, pages read `revisit_hours` ago
        last; none while another worker of the database holds the page fetcher's seat."""
        poller = self._poller()
        if poller is None or not self._seated(poller):
            return []
        pages = self._config().pages
        now = utcnow()
        revisit = now - timedelta(hours=pages.revisit_hours) if pages.revisit_hours else None
        return poller.pipeline.pages_wanted(limit, now, now - timedelta(hours=pages.max_age_hours), revisit)

    def _seated(self, poller: Poller) -> bool:
        engine = poller.sessions.kw["bind"]
        if self._seat is None or self._seat.engine is not engine:
            self.close()  # the daemon opened the database again: so is the seat
            self._seat = PageFetcherSeat(engine)
        seated = self._seat.held()
        if seated != self._seated_before:
            self._seated_before = seated
            log.info("pages: this worker fetches the article pages" if seated else "pages: another worker fetches the article pages")
        return seated

    def close(self) -> None:
        """Give up the page fetcher's seat (another worker takes it)."""
        if self._seat is not None:
            self._seat.release()
            self._seat = None

    def robots_exempt(self, requests: list[PageRequest]) -> set[int]:
        """Items seen in a feed configured with `robots = false`."""
        exempt = {feed.url for feed in self._config().feeds if not feed.robots}
        if not exempt:
            return set()
        with self._current().sessions() as session:
            feeds = feed_urls_of(session, [r.item_id for r in requests])
        return {item for item, urls in feeds.items() if urls & exempt}

    def process_page(self, capture: PageCapture) -> IngestReport:
        """Store the page through the pipeline, one writer at a time with the feed polls; its
        article is read first, outside the lock (reading HTML is the slow part of storing it)."""
        poller = self._current()
        read = read_article(capture) if capture.error is None else None
        with poller.lock:
            return poller.pipeline.process_page(capture, read)

    def write(self, url: str, when: datetime, status: int, headers: Headers, body: bytes | None) -> None:
        """Into the daemon's evidence archive, when it keeps one."""
        poller = self._poller()
        if poller is not None and poller.archive is not None:
            poller.archive.write(url, when, status, headers, body)

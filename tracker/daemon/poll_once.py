"""`tracker poll`: every due feed (or every feed) polled once, in parallel, without a daemon."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.config import Config
from tracker.daemon.bookkeeping import worker_id
from tracker.daemon.pagefetch import PageFetcher, PageOutcome
from tracker.daemon.pagework import DaemonPages
from tracker.daemon.poll import FeedToPoll, Poller, PollOutcome
from tracker.detection.identity import host_of
from tracker.errors import LeaseLostError
from tracker.pipeline.capture import Pipeline
from tracker.store.database import open_database


def poll_once(config: Config, everything: bool = False, sessions: sessionmaker[Session] | None = None,
              pages_seconds: float = 0.0, on_page: Callable[[PageOutcome], None] | None = None) -> list[PollOutcome]:
    """`tracker poll`: poll every due feed (or every feed) once, in parallel, then fetch the
    article pages the items want for up to `pages_seconds` (`[pages] fetch`), and return.

    Feeds are leased like a daemon's, so a feed a running daemon is fetching is left to it;
    so are pages, while a daemon holds the page fetcher's seat. `sessions`: the database
    already opened (else it is opened here).
    """
    sessions = sessions or open_database(config.database.url)
    poller = Poller(sessions, Pipeline(sessions, config), config, owner=worker_id())
    try:
        poller.sync_feeds(list(config.feeds))
        feeds = poller.claim(everything=everything, per_host=False)  # per host: the semaphores below
        hosts: dict[str, threading.Semaphore] = {}
        for feed in feeds:
            hosts.setdefault(host_of(feed.url) or feed.url, threading.Semaphore(config.polling.per_host))

        def work(feed: FeedToPoll) -> PollOutcome | None:
            with hosts[host_of(feed.url) or feed.url]:
                try:
                    return poller.poll(feed)
                except LeaseLostError:
                    return None  # waited past its lease, and a daemon took it: the daemon polls it

        with ThreadPoolExecutor(config.polling.fetch_threads, thread_name_prefix="poll") as pool:
            outcomes = [outcome for outcome in pool.map(work, feeds) if outcome is not None]
        if config.pages.fetch and pages_seconds > 0:
            _fetch_pages(config, poller, pages_seconds, on_page)
        return outcomes
    finally:
        try:
            poller.release()  # polls that raised leave their leases: free them now
        except SQLAlchemyError:
            pass  # the database is gone: they expire
        finally:
            poller.close()


def _fetch_pages(config: Config, poller: Poller, seconds: float, on_page: Callable[[PageOutcome], None] | None) -> None:
    """One pass of the daemon's page fetcher over the pages the items want (summary-only
    feeds' articles), as politely as the daemon: robots.txt, one request per host at a time."""
    store = DaemonPages(lambda: poller, lambda: config)
    try:
        PageFetcher(store, config.pages, config.polling, archive=store, on_outcome=on_page).drain(seconds)
    finally:
        store.close()

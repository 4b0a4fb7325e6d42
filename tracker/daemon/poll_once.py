"""`tracker poll`: every due feed (or every feed) polled once, in parallel, without a daemon."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import SQLAlchemyError

from tracker.config import Config
from tracker.daemon.bookkeeping import worker_id
from tracker.daemon.poll import FeedToPoll, Poller, PollOutcome
from tracker.detection.identity import host_of
from tracker.errors import LeaseLostError
from tracker.pipeline.capture import Pipeline
from tracker.store.database import open_database


def poll_once(config: Config, everything: bool = False) -> list[PollOutcome]:
    """`tracker poll`: poll every due feed (or every feed) once, in parallel, and return.

    Feeds are leased like a daemon's, so a feed a running daemon is fetching is left to it.
    """
    sessions = open_database(config.database.url)
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
            return [outcome for outcome in pool.map(work, feeds) if outcome is not None]
    finally:
        try:
            poller.release()  # polls that raised leave their leases: free them now
        except SQLAlchemyError:
            pass  # the database is gone: they expire
        finally:
            poller.close()

"""Polling one feed: fetch over HTTP, hand the capture to the pipeline, schedule the next check.

Fetching (slow, parallel, no database) and storing (fast, one at a time, under the
pipeline's lock) are separate steps so a pool of workers can fetch while one stores.
Everything about a feed's health lives on its row: validators, next check, the error
count and the last error's kind and message. A poller with an `owner` (a worker id) takes
feeds by lease (tracker.store.leases), so that several workers share one database: it
renews the lease before fetching and before storing, and drops a poll whose lease another
worker took meanwhile.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tracker.config import Config, FeedConfig, PollingConfig
from tracker.detection.identity import host_of
from tracker.errors import LeaseLostError
from tracker.logs import fields
from tracker.model import Capture, IngestReport, ParsedFeed, utcnow
from tracker.pipeline.capture import Pipeline
from tracker.reader.archive import WarcArchive
from tracker.reader.fetch import Fetcher, FetchPolicy, FetchResult, Validators
from tracker.reader.parse import parse_capture_body
from tracker.redact import Credentials
from tracker.store import feeds as feeds_store
from tracker.store import leases
from tracker.timefmt import iso

log = logging.getLogger(__name__)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class FeedToPoll:
    """What a worker needs to poll one feed."""

    feed_id: int
    url: str
    etag: str | None
    last_modified: str | None
    error_count: int
    checked_before: bool


@dataclass(frozen=True)
class PollOutcome:
    """One poll, as logged and counted."""

    feed_id: int
    url: str  # after the poll: a feed a permanent redirect moved is named by its new URL, where it is polled next
    status: int | None
    error_kind: str | None
    error_message: str | None
    report: IngestReport
    next_check_at: datetime | None
    duration_s: float
    bytes_read: int
    not_modified: bool


def next_interval(
    polling: PollingConfig,
    *,
    checks: int,
    recent_items: int,
    error_count: int,
    retry_after_s: float | None = None,
    ttl_s: int | None = None,
    cache_max_age_s: float | None = None,
) -> float:
    """Seconds until the next check of a feed.

    Healthy feeds are checked as often as they publish (a week divided by the items they
    published in the last week, like Miniflux's entry-frequency policy), never more often
    than their `<ttl>` or Cache-Control allow, always within the configured bounds. Failing
    feeds back off exponentially up to a cap, and never sooner than Retry-After.
    """
    if error_count:
        backoff = min(polling.max_backoff_seconds, polling.error_backoff_seconds * 2 ** (error_count - 1))
        if retry_after_s:
            backoff = max(backoff, min(retry_after_s, max(polling.max_backoff_seconds, polling.max_interval_seconds)))
        return float(backoff)
    if checks < 2:
        interval = float(polling.default_interval_seconds)
    elif recent_items:
        interval = WEEK.total_seconds() / recent_items
    else:
        interval = float(polling.max_interval_seconds)
    for floor in (ttl_s, cache_max_age_s):
        if floor:
            interval = max(interval, float(floor))
    return float(min(max(interval, polling.min_interval_seconds), polling.max_interval_seconds))


class Poller:
    """Polls feeds through the pipeline; shared by `tracker run` and `tracker poll`."""

    def __init__(
        self, sessions: sessionmaker[Session], pipeline: Pipeline, config: Config, owner: str | None = None,
        bookkeeping: sessionmaker[Session] | None = None,
    ) -> None:
        self.sessions = sessions
        # Claiming and releasing leases (a daemon's tick, not a poll): may wait less for a writer.
        self.bookkeeping = bookkeeping or sessions
        self.owner = owner
        self.pipeline = pipeline
        self.polling = config.polling
        p = config.polling
        self.fetcher = Fetcher(
            FetchPolicy(
                user_agent=p.user_agent, connect_timeout=p.connect_timeout, read_timeout=p.read_timeout,
                total_timeout=p.total_timeout, max_body_bytes=p.max_body_bytes, max_redirects=p.max_redirects,
                allow_private_addresses=p.allow_private_addresses,
            )
        )
        self.archive = (
            WarcArchive(Path(config.archive.dir), config.archive.max_file_mb * 1024 * 1024) if config.archive.dir else None
        )
        # Feeds are known by their URLs with passwords masked; the real ones stay in the config.
        self.credentials = Credentials(feed.fetch_url for feed in config.feeds)
        # The pipeline is not thread-safe (its directory, its transaction): storing is one poll at a time.
        self.lock = threading.Lock()

    def close(self) -> None:
        """Release the HTTP client and the archive file."""
        self.fetcher.close()
        if self.archive:
            self.archive.close()

    # -- what is due ------------------------------------------------------------------
    def sync_feeds(self, feeds: list[FeedConfig]) -> None:
        """Make the configured feeds exactly the active ones; new ones are due at once."""
        urls = [feed.url for feed in feeds]
        self.credentials = Credentials(feed.fetch_url for feed in feeds)
        with self.lock:
            self.pipeline.register_feeds(feeds)
        with self.sessions.begin() as session:
            feeds_store.follow_only(session, urls)

    def due(self, now: datetime | None = None, everything: bool = False, limit: int | None = None) -> list[FeedToPoll]:
        """Active, unretired feeds whose next check has come (or all of them), earliest first."""
        with self.sessions() as session:
            rows = feeds_store.due_feeds(session, now or utcnow(), everything, limit)
        return [FeedToPoll(r.feed_id, r.url, r.etag, r.last_modified, r.error_count, r.last_checked_at is not None) for r in rows]

    def claim(self, limit: int | None = None, everything: bool = False, per_host: bool = True) -> list[FeedToPoll]:
        """Lease due feeds (or every active one) to this poller's owner, earliest due first.

        With `per_host`, at most `[polling] per_host` feeds of one host are under lease at
        once, counting every worker's leases.
        """
        assert self.owner is not None, "claiming needs an owner"
        with self.bookkeeping.begin() as session:
            rows = leases.claim(
                session, self.owner, utcnow(), self.polling.lease_seconds, limit=limit, everything=everything,
                per_host=self.polling.per_host if per_host else None, host=lambda url: host_of(url) or url,
            )
        return [FeedToPoll(r.feed_id, r.url, r.etag, r.last_modified, r.error_count, r.last_checked_at is not None) for r in rows]

    def renew(self, feed: FeedToPoll) -> None:
        """Extend this poller's lease on the feed; LeaseLostError when another worker took it."""
        if self.owner is None:
            return
        with self.sessions.begin() as session:
            if not leases.renew(session, feed.feed_id, self.owner, utcnow(), self.polling.lease_seconds):
                raise LeaseLostError(f"{feed.url}: the lease was taken by another worker")

    def release(self, feed_ids: list[int] | None = None) -> int:
        """Give up this poller's leases (on `feed_ids`, or all) without polling; how many."""
        if self.owner is None:
            return 0
        with self.bookkeeping.begin() as session:
            return leases.release(session, self.owner, feed_ids)

    # -- one poll -----------------------------------------------------------------------
    def fetch(self, feed: FeedToPoll) -> FetchResult:
        """The HTTP step: no database, safe in any worker thread."""
        return self.fetcher.fetch(self.credentials.unmask(feed.url), Validators(feed.etag, feed.last_modified))

    def store(self, feed: FeedToPoll, result: FetchResult) -> PollOutcome:
        """Record the poll and what it found, then schedule the next one (under the lock)."""
        when = result.fetched_at.astimezone(UTC).replace(tzinfo=None)
        duration_ms = int(result.duration_s * 1000)
        parsed: ParsedFeed | None = None
        parse_error: str | None = None
        if result.not_modified:
            capture = Capture(feed.url, when, "revisit", None, "poll", status=304, duration_ms=duration_ms)
        elif result.body is not None and result.error_kind is None:
            parsed_body = parse_capture_body(result.body, result.content_type, when, feed.url)
            parsed = parsed_body if isinstance(parsed_body, ParsedFeed) else None
            parse_error = None if parsed else str(parsed_body)
            capture = Capture(
                feed.url, when, "poll", result.body, "poll", result.content_type, result.status,
                error=parse_error, error_kind="parse" if parse_error else None, duration_ms=duration_ms,
            )
        else:
            capture = Capture(
                feed.url, when, "poll", None, "poll", result.content_type, result.status,
                error=result.error_message or result.error_kind, error_kind=result.error_kind, duration_ms=duration_ms,
            )
        # Another worker may have taken the feed while this one fetched (a lease outlived by a
        # slow poll): its answer is dropped. Renewed, the lease outlasts the store below.
        self.renew(feed)
        if self.archive and result.status is not None and (result.not_modified or result.body is not None):
            self.archive.write(feed.url, when, result.status, result.headers, None if result.not_modified else result.body)
        with self.lock:
            report = self.pipeline.process(capture, parsed)
            error_kind = "store" if report.store_error else capture.error_kind
            error_message = f"cannot store capture: {report.store_error}" if report.store_error else capture.error
            next_check = self._schedule(feed, result, when, parsed, error_kind, error_message)
            url = feed.url
            if result.permanent_redirect and result.permanent_redirect != feed.url:
                url = self._move(feed, result.permanent_redirect, when)
        return PollOutcome(
            feed.feed_id, url, result.status, error_kind, error_message, report, next_check,
            result.duration_s, result.bytes_read, result.not_modified,
        )

    def poll(self, feed: FeedToPoll) -> PollOutcome:
        """Fetch and store one feed, and log the event; LeaseLostError when another worker took it."""
        self.renew(feed)  # a claim may have waited (for a free thread, or a host's turn)
        outcome = self.store(feed, self.fetch(feed))
        log_poll(outcome)
        return outcome

    def _schedule(
        self, feed: FeedToPoll, result: FetchResult, when: datetime, parsed: ParsedFeed | None,
        error_kind: str | None, error_message: str | None,
    ) -> datetime | None:
        with self.sessions.begin() as session:
            recent = feeds_store.items_seen_since(session, feed.feed_id, when - WEEK)
            errors = feed.error_count + 1 if error_kind else 0
            values: dict[str, object] = {
                "last_checked_at": when, "last_status": result.status, "error_count": errors,
            }
            if error_kind:
                values.update(last_error_kind=error_kind, last_error_message=(error_message or "")[:2000])
            else:
                values.update(last_success_at=when, etag=result.etag, last_modified=result.last_modified)
            if result.gone:
                values.update(retired_at=when, next_check_at=None)
                self._finish(session, feed, values)
                return None
            cache_age = result.cache_max_age_s
            if result.expires_at is not None:
                expires = (result.expires_at.astimezone(UTC).replace(tzinfo=None) - when).total_seconds()
                cache_age = max(cache_age or 0, expires) or None
            interval = next_interval(
                self.polling, checks=2 if feed.checked_before else 1, recent_items=recent, error_count=errors,
                retry_after_s=result.retry_after_s, ttl_s=parsed.ttl_seconds if parsed else None, cache_max_age_s=cache_age,
            )
            next_check = when + timedelta(seconds=interval)
            values.update(next_check_at=next_check, check_interval_seconds=int(interval))
            self._finish(session, feed, values)
        return next_check

    def _finish(self, session: Session, feed: FeedToPoll, values: dict[str, object]) -> None:
        """The poll's outcome on the feed's row, and the lease cleared."""
        if not leases.finish(session, feed.feed_id, self.owner, values):
            # Renewed just before the store: only a store slower than a whole lease gets here.
            # The capture is kept (items are unique, nothing doubles); the new holder schedules.
            log.warning("lease lost while storing; schedule left to its new holder", extra=fields(feed=feed.url))

    def _move(self, feed: FeedToPoll, new_url: str, when: datetime) -> str:
        """A permanent redirect: the feed's URL becomes the new one; the move is kept in its
        history. Return the feed's URL now (the old one when the move was refused)."""
        with self.sessions.begin() as session:
            refused = feeds_store.move_feed(session, feed.feed_id, feed.url, new_url, when)
        if refused:
            log.warning(refused, extra=fields(feed=feed.url, target=new_url))
            return feed.url
        self.pipeline.feed_moved()
        log.info("feed moved", extra=fields(feed=feed.url, to=new_url))
        return new_url


def log_poll(outcome: PollOutcome) -> None:
    """One log line per poll."""
    report = outcome.report
    values = fields(
        feed=outcome.url, status=outcome.status, ms=int(outcome.duration_s * 1000), bytes=outcome.bytes_read,
        new=report.new_items, updates=report.updates, copies=report.republications,
        error=outcome.error_kind, message=outcome.error_message,
        next=iso(outcome.next_check_at),
    )
    if outcome.error_kind:
        log.warning("poll failed", extra=values)
    else:
        log.info("poll", extra=values)

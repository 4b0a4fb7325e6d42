"""The pipeline: one capture in, items, versions, matches and provenance out.

The polling daemon hands captures to `Pipeline.process`, one transaction per capture;
`ingest` (WARC files, feed files) to `Pipeline.process_many`, several to a transaction on
SQLite (`tracker.pipeline.batch`). This module holds the transaction and its retries; a
capture's entries become items and versions in `tracker.pipeline.entries`. An interrupted run loses nothing already committed,
and a capture already stored is recognised and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.config import Config, FeedConfig
from tracker.detection.fingerprint import Fingerprinter
from tracker.detection.identity import (
    content_digest,
)
from tracker.errors import ParseError
from tracker.model import Capture, IngestReport, Known, ParsedFeed
from tracker.pipeline.alerts import Alerts
from tracker.pipeline.batch import BatchMixin, refusal
from tracker.pipeline.detect import Detector
from tracker.pipeline.entries import EntriesMixin
from tracker.pipeline.pages import PagesMixin
from tracker.pipeline.publishers import DirectoryMixin
from tracker.pipeline.rebuild import prepare, settings_of
from tracker.provenance.publishers import Directory
from tracker.reader.links import with_whole_links
from tracker.reader.parse import parse_capture_body
from tracker.store import evidence, locks
from tracker.store import publishers as directory_store
from tracker.store.feeds import SubscriptionFacts, sync_subscriptions
from tracker.store.publishers import Generation
from tracker.timefmt import iso

log = logging.getLogger(__name__)

# Items matched at once after a capture (see `_store`).
MATCH_BATCH = 500
# A capture that lost a race with another writer (PostgreSQL) runs again, this many times.
_RETRIES = 5


def body_digest(capture: Capture) -> str:
    """What tells two captures of one feed at one moment apart: the body they served."""
    return content_digest(capture.body, capture.payload_digest)



class Pipeline(EntriesMixin, DirectoryMixin, PagesMixin, BatchMixin):
    """Turns captures into stored provenance. Every fact it decides from is read from SQL
    when needed; it keeps only the directory of feeds and publishers (see `_writing`)."""

    def __init__(self, sessions: sessionmaker[Session], config: Config) -> None:
        self.sessions = sessions
        self.detection = config.detection
        self.fingerprinter = Fingerprinter(self.detection.num_perm, self.detection.shingle_size)
        self.detector = Detector(self.detection)
        self.alerts = Alerts.from_config(config)
        self.subscriptions = {feed.url: feed for feed in config.feeds}
        self.directory = Directory()
        self._seen: Generation | None = None
        self._directory_locked = False
        self.settings = settings_of(self)
        prepare(self)

    # -- feeds --------------------------------------------------------------------
    def register_feeds(self, feeds: Iterable[FeedConfig] | None = None) -> None:
        """Make sure every configured feed has a row (so `stats` lists feeds never captured);
        with `feeds`, those become the configured ones (a reloaded config)."""
        if feeds is not None:
            self.subscriptions = {feed.url: feed for feed in feeds}
        try:
            with self.sessions.begin() as session:
                self._writing(session)
                self._changing_directory(session)
                facts = {}
                for url, feed in self.subscriptions.items():
                    facts[self._feed(session, url, None)] = SubscriptionFacts(feed.title, feed.site_url, feed.tags)
                sync_subscriptions(session, facts)
                directory_store.bump_revision(session)
                self._written(session)
        except BaseException:
            self.reload()
            raise

    def feed_moved(self) -> None:
        """A permanent redirect moved a feed (the poller stored the move): read the directory again."""
        self.reload()

    # -- captures -----------------------------------------------------------------
    def process(self, capture: Capture, parsed_body: ParsedFeed | ParseError | None = None) -> IngestReport:
        """Store one capture and everything it teaches; one transaction.

        `parsed_body` is the capture's body already parsed (by a worker process, say);
        without it the body is parsed here. A capture that lost a race with another
        process is run again; a capture the database refuses is recorded as a failed
        capture (`report.store_error`) and the run goes on; only a database that cannot be
        reached raises.
        """
        if parsed_body is None:
            parsed_body = parse_capture_body(capture.body, capture.content_type, capture.captured_at)
        for attempt in range(_RETRIES):
            try:
                return self._process(capture, parsed_body)
            except SQLAlchemyError as error:
                self.reload()
                if locks.retryable(error) and attempt < _RETRIES - 1:
                    log.info("capture lost a race with another writer; retrying", extra={"feed": capture.feed_url})
                    continue
                if isinstance(error, (OperationalError, InterfaceError)):
                    raise
                message = " ".join(str(getattr(error, "orig", None) or error).split())[:500]
                failed = replace(
                    capture, body=None, payload_digest=body_digest(capture), error=f"cannot store capture: {message}",
                    error_kind="store",
                )
                report = self._process(failed, None)
                report.store_error = message
                return report
            except BaseException:
                self.reload()
                raise
        raise AssertionError("unreachable")

    def _process(self, capture: Capture, parsed_body: ParsedFeed | ParseError | None) -> IngestReport:
        refused = refusal(capture)
        if refused is not None:
            return refused
        with self.sessions.begin() as session:
            self._writing(session)
            report = self._store_capture(session, capture, parsed_body)
            self._written(session)
        return report

    def _store_capture(self, session: Session, capture: Capture, parsed_body: ParsedFeed | ParseError | None) -> IngestReport:
        """A capture (not refused) with its parse, stored inside the caller's write transaction."""
        parsed = with_whole_links(parsed_body, capture.feed_url) if isinstance(parsed_body, ParsedFeed) else None
        problem = capture.error or (str(parsed_body) if isinstance(parsed_body, ParseError) else None)
        problem_kind = capture.error_kind or ("parse" if isinstance(parsed_body, ParseError) else None)
        return self._store(session, capture, parsed, problem, problem_kind, IngestReport())

    def _store(
        self, session: Session, capture: Capture, parsed: ParsedFeed | None, problem: str | None, problem_kind: str | None,
        report: IngestReport,
    ) -> IngestReport:
        """The body of `_process`, inside its transaction."""
        feed_id = self._feed(session, capture.feed_url, parsed)
        publisher_id = self.directory.feed_publisher[feed_id]
        # Identity, sightings and paragraph counts of one publisher: one writer at a time.
        locks.lock(session, locks.PUBLISHER, [publisher_id])
        digest = body_digest(capture)
        stored, following, previous = evidence.stored_and_next(session, feed_id, capture.captured_at, capture.kind, digest)
        if stored:
            report.skipped_known = 1
            return report
        row = {
            "feed_id": feed_id, "captured_at": capture.captured_at, "kind": capture.kind, "body_digest": digest,
            "source": capture.source, "status": capture.status, "payload_digest": capture.payload_digest,
            "bytes": len(capture.body) if capture.body is not None else None,
            "entries": len(parsed.entries) if parsed else 0, "new_items": 0, "updates": 0, "error": problem,
            "error_kind": problem_kind, "duration_ms": capture.duration_ms,
        }
        report.captures = 1
        if problem:
            evidence.insert_capture(session, row)
            report.errors = 1
            report.warnings.append(f"{capture.feed_url} at {iso(capture.captured_at)}: {problem}")
            return report
        dirty: set[int] = set()
        if following is not None:
            # An earlier capture arrived late: it may disprove the dates of the items first seen
            # after it — only up to the next capture, which stays the last one before the rest.
            dirty |= evidence.first_seen_between(session, feed_id, capture.captured_at, following)
        rematch: set[int] = set()
        # What the capture stores is known to it: items that no match and no decision touches yet.
        known = Known(remember=locks.single_writer(self.sessions), previous=previous)
        if parsed:
            rematch = self._entries(
                session, feed_id, publisher_id, parsed.entries, capture.captured_at, report, dirty, capture.feed_url, known,
            )
        known.decided.update(dict.fromkeys(known.unmatched, False))
        # Stored once its entries are (nothing there reads captures), with what they brought:
        # before matching and deciding, whose dates it can disprove.
        evidence.insert_capture(session, {**row, "new_items": report.new_items, "updates": report.updates})
        # In batches, as the rebuild does: one batch's facts are read at once, and a capture
        # of 20,000 new items would otherwise hold all of theirs (1.4 GB). A pair is judged
        # the same from either side, so the batches decide what one batch would.
        ordered = sorted(rematch)
        for start in range(0, len(ordered), MATCH_BATCH):
            dirty |= self.detector.match(session, ordered[start : start + MATCH_BATCH], known)
        self.detector.decide(session, dirty, lambda: self._current(session), report, known)
        # In this transaction: an alert is queued exactly when its copy is recorded.
        self.alerts.enqueue(session, report.new_copies, report.changed_copies)
        return report

    def ingest(self, captures: Iterable[Capture]) -> IngestReport:
        """Process captures in the order given (the result does not depend on it)."""
        total = IngestReport()
        for capture in captures:
            total.add(self.process(capture))
        return total

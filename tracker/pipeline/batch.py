"""`Pipeline`'s entry points for `ingest`: several captures in one transaction, and the
check that skips stored captures before they are parsed.

A mixin of `tracker.pipeline.capture.Pipeline`. A transaction costs more than storing a capture
that repeats what its feed showed before (the most common kind), so `ingest` stores its
captures in batches where that gives the same result: on SQLite, whose one writer holds
the whole database anyway. On PostgreSQL, where writers run side by side and a lost race
runs one capture again, every capture keeps its own transaction, as the daemon's do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tracker.detection.identity import content_digest
from tracker.errors import ParseError
from tracker.model import Capture, IngestReport, ParsedFeed
from tracker.reader.parse import parse_capture_body
from tracker.store import evidence, locks

if TYPE_CHECKING:
    from tracker.pipeline.capture import Pipeline

Parsed = ParsedFeed | ParseError | None
# A feed row's URL column is bounded: a longer URL is refused.
FEED_URL_MAX = 2000


def refusal(capture: Capture) -> IngestReport | None:
    """The report of a capture no feed row can hold (refused, the ingest goes on), or None."""
    if len(capture.feed_url) <= FEED_URL_MAX and capture.feed_url.isprintable():
        return None
    report = IngestReport(errors=1)
    report.warnings.append(
        f"{capture.feed_url[:80]!r}: not a usable feed URL (over {FEED_URL_MAX} characters, or control characters); capture skipped"
    )
    return report


class BatchMixin:
    """`Pipeline`'s batched storing of captures, for `ingest`."""

    _latest: dict[int, datetime | None]

    def batches(self: Pipeline) -> bool:
        """Whether `process_many` stores a batch in one transaction (else one by one)."""
        return locks.single_writer(self.sessions)

    def process_many(
        self: Pipeline, batch: Sequence[tuple[Capture, Parsed]], stop: Callable[[], bool] = lambda: False,
    ) -> list[IngestReport]:
        """Store captures in the order given, each as `process` would, in one transaction
        when `batches()`; the reports of those stored, in that order. `stop()` is asked
        before each capture: once true, the rest of the batch is left unstored (Ctrl-C).

        When the database refuses anything in the batch, the batch is undone and its captures
        go through `process` one by one: each then fails or succeeds alone, as without batches.
        """
        if len(batch) < 2 or not self.batches():
            return self._one_by_one(batch, stop)
        try:
            reports: list[IngestReport] = []
            with self.sessions.begin() as session:
                self._writing(session)
                for capture, parsed in batch:
                    if stop():
                        break
                    reports.append(self._store_one(session, capture, parsed))
                self._written(session)
            return reports
        except SQLAlchemyError:
            self.reload()
            return self._one_by_one(batch, stop)
        except BaseException:
            self.reload()
            raise

    def _one_by_one(self: Pipeline, batch: Sequence[tuple[Capture, Parsed]], stop: Callable[[], bool]) -> list[IngestReport]:
        reports = []
        for capture, parsed in batch:
            if stop():
                break
            reports.append(self.process(capture, parsed))
        return reports

    def _store_one(self: Pipeline, session: Session, capture: Capture, parsed: Parsed) -> IngestReport:
        refused = refusal(capture)
        if refused is not None:
            return refused
        if parsed is None:
            parsed = parse_capture_body(capture.body, capture.content_type, capture.captured_at)
        return self._store_capture(session, capture, parsed)

    def is_stored(self: Pipeline, capture: Capture) -> bool:
        """Whether this capture is already in the database (so a re-run need not parse it).

        A capture later than its feed's latest when the feed was first asked about is taken
        as new without asking again: storing it checks once more, in its transaction, so a
        capture another process stored meanwhile is only parsed for nothing.
        """
        latest = getattr(self, "_latest", None)
        if latest is None:
            latest = self._latest = {}
        feed_id = self.directory.feed_ids.get(capture.feed_url)
        if feed_id is not None and feed_id in latest:
            last = latest[feed_id]
            if last is None or capture.captured_at > last:
                return False
        with self.sessions() as session:
            if feed_id is None:
                self._catch_up(session)
                feed_id = self.directory.feed_ids.get(capture.feed_url)
                if feed_id is None:
                    return False
            if feed_id not in latest:
                latest[feed_id] = evidence.latest_capture(session, feed_id)
            return evidence.has_capture(session, feed_id, capture.captured_at, capture.kind, content_digest(capture.body, capture.payload_digest))


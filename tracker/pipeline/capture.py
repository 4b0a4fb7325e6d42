"""The pipeline: one capture in, items, versions, matches and provenance out.

`ingest` (WARC files, feed files) and the polling daemon both hand captures to
`Pipeline.process`, one transaction per capture: an interrupted run loses nothing
already committed, and a capture already stored is recognised and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.pipeline.alerts import Alerts
from tracker.config import Config, FeedConfig
from tracker.pipeline.detect import Detector
from tracker.provenance.publishers import Directory
from tracker.errors import ParseError
from tracker.detection.fingerprint import Fingerprinter, Fingerprints, pack_keys, shingles
from tracker.detection.identity import (
    DUPLICATE_MARK,
    content_digest,
    entry_keys,
    key_hash,
    lookup_hash,
    raw_hash,
    resolve,
    text_hash,
)
from tracker.model import Attribution, Capture, Document, IngestReport, ParsedEntry, ParsedFeed, VersionPrints
from tracker.detection.normalise import document_from_paragraphs, story_paragraphs, to_document, words_without_urls
from tracker.timefmt import iso
from tracker.reader.parse import parse_capture_body
from tracker.pipeline.publishers import DirectoryMixin
from tracker.pipeline.pages import PagesMixin
from tracker.store import evidence, items, locks, matching
from tracker.store import publishers as directory_store
from tracker.store.publishers import Generation
from tracker.pipeline.rebuild import prepare, settings_of
from tracker.store.feeds import SubscriptionFacts, sync_subscriptions
from tracker.store.state import version_columns

log = logging.getLogger(__name__)

# The lead: an aggregator's excerpt is the first paragraphs, so leads are indexed too.
LEAD_TOKENS = 60
# A feed row's URL column is bounded: a longer URL is refused.
FEED_URL_MAX = 2000
# Items matched at once after a capture (see `_store`).
MATCH_BATCH = 500
# A capture that lost a race with another writer (PostgreSQL) runs again, this many times.
_RETRIES = 5


def body_digest(capture: Capture) -> str:
    """What tells two captures of one feed at one moment apart: the body they served."""
    return content_digest(capture.body, capture.payload_digest)


def _warn_of_reused_guids(entries: list[ParsedEntry], report: IngestReport) -> None:
    """One GUID on two different entries of a capture: the first is kept (a GUID is an
    identity), and the user hears of the other."""
    seen: dict[str, str] = {}
    warned: set[str] = set()
    for entry in entries:
        if not entry.guid:
            continue
        digest = raw_hash(entry)
        if seen.setdefault(entry.guid, digest) != digest and entry.guid not in warned:
            warned.add(entry.guid)
            report.warnings.append(f"GUID {entry.guid[:120]!r} is on two different entries of one capture; the first is kept")


class Pipeline(DirectoryMixin, PagesMixin):
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

    def is_stored(self, capture: Capture) -> bool:
        """Whether this capture is already in the database (so a re-run need not parse it)."""
        with self.sessions() as session:
            if capture.feed_url not in self.directory.feed_ids:
                self._catch_up(session)
            feed_id = self.directory.feed_ids.get(capture.feed_url)
            return feed_id is not None and evidence.has_capture(
                session, feed_id, capture.captured_at, capture.kind, body_digest(capture)
            )

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
        report = IngestReport()
        if len(capture.feed_url) > FEED_URL_MAX or not capture.feed_url.isprintable():
            # No feed row can hold it; the capture is refused, the ingest goes on.
            report.errors = 1
            report.warnings.append(
                f"{capture.feed_url[:80]!r}: not a usable feed URL (over {FEED_URL_MAX} characters, or control characters); capture skipped"
            )
            return report
        parsed = parsed_body if isinstance(parsed_body, ParsedFeed) else None
        problem = capture.error or (str(parsed_body) if isinstance(parsed_body, ParseError) else None)
        problem_kind = capture.error_kind or ("parse" if isinstance(parsed_body, ParseError) else None)
        with self.sessions.begin() as session:
            self._writing(session)
            report = self._store(session, capture, parsed, problem, problem_kind, report)
            self._written(session)
        return report

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
        if evidence.has_capture(session, feed_id, capture.captured_at, capture.kind, digest):
            report.skipped_known = 1
            return report
        capture_id = evidence.insert_capture(session, {
            "feed_id": feed_id, "captured_at": capture.captured_at, "kind": capture.kind, "body_digest": digest,
            "source": capture.source, "status": capture.status, "payload_digest": capture.payload_digest,
            "bytes": len(capture.body) if capture.body is not None else None,
            "entries": len(parsed.entries) if parsed else 0, "new_items": 0, "updates": 0, "error": problem,
            "error_kind": problem_kind, "duration_ms": capture.duration_ms,
        })
        report.captures = 1
        if problem:
            report.errors = 1
            report.warnings.append(f"{capture.feed_url} at {iso(capture.captured_at)}: {problem}")
            return report
        dirty: set[int] = set()
        following = evidence.next_capture(session, feed_id, capture.captured_at)
        if following is not None:
            # An earlier capture arrived late: it may disprove the dates of the items first seen
            # after it — only up to the next capture, which stays the last one before the rest.
            dirty |= evidence.first_seen_between(session, feed_id, capture.captured_at, following)
        rematch: set[int] = set()
        if parsed:
            rematch = self._entries(session, feed_id, publisher_id, parsed.entries, capture.captured_at, report, dirty, capture.feed_url)
        if report.new_items or report.updates:
            evidence.count_capture(session, capture_id, report.new_items, report.updates)
        # In batches, as the rebuild does: one batch's facts are read at once, and a capture
        # of 20,000 new items would otherwise hold all of theirs (1.4 GB). A pair is judged
        # the same from either side, so the batches decide what one batch would.
        ordered = sorted(rematch)
        for start in range(0, len(ordered), MATCH_BATCH):
            dirty |= self.detector.match(session, ordered[start : start + MATCH_BATCH])
        self.detector.decide(session, dirty, lambda: self._current(session), report)
        # In this transaction: an alert is queued exactly when its copy is recorded.
        self.alerts.enqueue(session, report.new_copies)
        return report

    def ingest(self, captures: Iterable[Capture]) -> IngestReport:
        """Process captures in the order given (the result does not depend on it)."""
        total = IngestReport()
        for capture in captures:
            total.add(self.process(capture))
        return total

    # -- entries, items, versions ---------------------------------------------------
    def _entries(
        self, session: Session, feed_id: int, publisher_id: int, entries: Iterable[ParsedEntry], when: datetime,
        report: IngestReport, dirty: set[int], feed_url: str,
    ) -> set[int]:
        """Store the entries of a capture; return the items whose matches must be recomputed."""
        rematch: set[int] = set()
        sightings: list[dict[str, object]] = []
        entries = list(entries)
        _warn_of_reused_guids(entries, report)
        lookup = items.PublisherItems(session, publisher_id, {key for entry in entries for key in entry_keys(entry)})
        new: list[tuple[int, int, str | None, bool]] = []  # not the documents: a capture may hold 20,000
        for resolution in resolve(entries, feed_id, lookup):
            entry = resolution.entry
            if resolution.item_id is None:
                document = self._document(entry, report)
                if document is None:
                    continue
                item_id = self._new_item(session, publisher_id, feed_id, entry, resolution.keys, document, when)
                report.new_items += 1
                rematch |= self._new_version(session, publisher_id, item_id, (), entry, document, when)
                new.append((item_id, publisher_id, entry.link or None, self._wants_page(feed_url, document.text)))
                continue
            item = lookup.items[resolution.item_id]
            missing = lookup.missing_keys(item.item_id, resolution.keys)
            if missing:
                items.add_keys(session, publisher_id, item.item_id, missing)
            previous = item.feeds.get(feed_id)
            if previous is None:
                items.add_sighting(session, item.item_id, feed_id, when)
            else:
                sightings.append({"i": item.item_id, "f": feed_id, "w": when})
            if previous is None or when < previous:
                item.feeds[feed_id] = when
                if when < item.first_seen_at or previous is not None:
                    items.set_first_seen(session, item.item_id, feed_id, min(when, item.first_seen_at))
                if when < item.first_seen_at:
                    item.first_seen_at = when
                    dirty.add(item.item_id)
            digest = raw_hash(entry)
            if digest in item.raw_hashes:
                continue
            item.raw_hashes.add(digest)
            items.add_raw(session, item.item_id, digest)
            document = self._document(entry, report)
            if document is None or items.has_text(session, item.item_id, text_hash(entry.title, document.paragraphs)):
                continue
            report.updates += 1
            self._add_credits(session, item.item_id, document)
            versions = matching.versions_of(session, [item.item_id])[item.item_id]
            rematch |= self._new_version(session, publisher_id, item.item_id, versions, entry, document, when)
        items.touch_sightings(session, sightings)
        if new:
            rematch |= self._pages_for_new_items(session, feed_url, new, report)
        return rematch

    @staticmethod
    def _document(entry: ParsedEntry, report: IngestReport) -> Document | None:
        """An entry's text, or None (and a warning) when its body cannot be read: one bad
        entry never costs the rest of its feed."""
        try:
            return to_document(entry)
        except Exception as error:  # whatever a hostile body makes an HTML reader raise
            report.warnings.append(f"entry {(entry.guid or entry.link or entry.title)[:120]!r} skipped: {type(error).__name__}: {error}")
            return None

    def _new_item(
        self, session: Session, publisher_id: int, feed_id: int, entry: ParsedEntry, keys: tuple[str, ...],
        document: Document, when: datetime,
    ) -> int:
        identity = keys[0]
        if items.has_identity(session, publisher_id, identity):
            # Another entry under the same link (a shared news page): its own text tells it apart.
            identity = f"{identity}{DUPLICATE_MARK}{raw_hash(entry)}"
        url = entry.link or None
        item_id = items.insert_item(session, {
            "publisher_id": publisher_id, "identity": identity, "identity_hash": key_hash(identity), "url": url,
            "url_hash": lookup_hash(url) if url else None, "title": entry.title, "author": entry.author,
            "claimed_at": entry.claimed_at, "claimed_date_rejected": entry.claimed_rejected, "first_seen_at": when,
        })
        items.add_sighting(session, item_id, feed_id, when)
        items.add_raw(session, item_id, raw_hash(entry))
        items.add_keys(session, publisher_id, item_id, keys)
        self._add_credits(session, item_id, document)
        return item_id

    def _add_credits(self, session: Session, item_id: int, document: Document) -> None:
        given: list[Attribution] = items.credits_of(session, [item_id]).get(item_id, [])
        for credit in document.attributions:
            if credit not in given:
                given.append(credit)
                items.add_credit(session, item_id, credit)

    def fingerprints(self, session: Session, publisher_id: int, document: Document, title: str) -> Fingerprints:
        """Story text, story and lead fingerprints, and full-text shingles of a document,
        given what is known now of the publisher's boilerplate."""
        boilerplate = evidence.boilerplate_among(session, publisher_id, document.keys, self.detection.boilerplate_min_items)
        indices = story_paragraphs(document, title, boilerplate, self.directory.names_of(publisher_id))
        words = document.words(indices)
        return Fingerprints(
            story_text="\n".join(document.paragraphs[i] for i in indices),
            story=self.fingerprinter.fingerprint(words),
            lead=self.fingerprinter.fingerprint(words[:LEAD_TOKENS]),
            full=shingles(words_without_urls(document), self.detection.shingle_size),
        )

    def _new_version(
        self, session: Session, publisher_id: int, item_id: int, versions: Sequence[VersionPrints],
        entry: ParsedEntry, document: Document, when: datetime,
    ) -> set[int]:
        """Store a new text of an item; return the items whose matches must be recomputed."""
        served = entry.content_chars if entry.content_chars is not None else len(entry.content)
        return self._store_version(session, publisher_id, item_id, versions, entry.title, raw_hash(entry), document, when,
                                   body_chars=served)

    def _store_version(
        self, session: Session, publisher_id: int, item_id: int, versions: Sequence[VersionPrints], title: str, raw: str,
        document: Document, when: datetime, from_page: bool = False, body_chars: int | None = None,
    ) -> set[int]:
        """Store a text of an item (from its feed, or its page's article); return the items
        whose matches must be recomputed."""
        held = {k for v in versions for k in v.paragraph_keys}
        fresh = evidence.count_paragraphs(
            session, publisher_id, item_id, set(document.keys) - held, self.detection.boilerplate_min_items
        )
        prints = self.fingerprints(session, publisher_id, document, title)
        items.insert_version(
            session,
            {
                "item_id": item_id, "version": len(versions) + 1, "content_hash": text_hash(title, document.paragraphs),
                "seen_at": when, "raw_hash": raw, "title": title, "text": document.text,
                "body_chars": body_chars, "text_truncated": document.truncated,
                **version_columns(prints), "paragraph_keys": pack_keys(document.keys), "from_page": from_page,
            },
        )
        matching.add_buckets(session, item_id, self.detector.buckets(
            [VersionPrints(0, item_id, 0, prints.story.shingles, prints.full, prints.story.signature, prints.lead.signature, ())]
        ), new=not versions)
        rematch = {item_id}
        if fresh.keys:
            for other in sorted(fresh.holders - {item_id}):
                self._reclean(session, publisher_id, other)
                rematch.add(other)
        return rematch

    def _reclean(self, session: Session, publisher_id: int, item_id: int) -> None:
        """Fingerprint an item's versions again after its publisher's boilerplate grew."""
        old = self.detector.buckets(matching.versions_of(session, [item_id])[item_id])
        # Whoever is matching a text against the old fingerprints commits first, or waits.
        locks.lock(session, locks.BUCKET, old)
        matching.remove_buckets(session, item_id, old)
        signatures = []
        for version_id, text, title in items.texts_of_item(session, item_id):
            prints = self.fingerprints(session, publisher_id, document_from_paragraphs(text.split("\n") if text else []), title)
            items.update_version(session, version_id, version_columns(prints))
            signatures.append(VersionPrints(
                version_id, item_id, 0, prints.story.shingles, prints.full, prints.story.signature, prints.lead.signature, ()
            ))
        matching.add_buckets(session, item_id, self.detector.buckets(signatures))

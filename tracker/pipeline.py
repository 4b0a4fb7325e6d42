"""The pipeline: one capture in, items, versions, matches and provenance out.

`ingest` (WARC files, feed files) and the polling daemon both hand captures to
`Pipeline.process`, one transaction per capture: an interrupted run loses nothing
already committed, and a capture already stored is recognised and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.alerts import Alerts
from tracker.config import Config, FeedConfig
from tracker.corpus import Corpus, ItemState, VersionState
from tracker.errors import ParseError
from tracker.fingerprint import Fingerprinter, overlap, pack_keys, pack_shingles, shingles, similarity
from tracker.identity import (
    DUPLICATE_MARK,
    content_digest,
    host_of,
    key_hash,
    lookup_hash,
    raw_hash,
    resolve,
    text_hash,
)
from tracker.index import CandidateIndex
from tracker.model import (
    Capture,
    Document,
    Fingerprint,
    IngestReport,
    ParsedEntry,
    ParsedFeed,
    Similarity,
    utcnow,
)
from tracker.normalise import (
    document_from_paragraphs,
    story_paragraphs,
    to_document,
    words_without_urls,
)
from tracker.parse import parse_capture_body
from tracker.provenance import Edge, components, decide
from tracker.store import schema
from tracker.store.feeds import SubscriptionFacts, sync_subscriptions
from tracker.store.loader import load_corpus
from tracker.store.writer import generation, serialise

log = logging.getLogger(__name__)

# The lead: an aggregator's excerpt is the first paragraphs, so leads are indexed too.
LEAD_TOKENS = 60
# Bounded columns that hold strings from feeds (everything else from a feed is Text).
PUBLISHER_NAME_MAX = 300
FEED_URL_MAX = 2000


def _bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_digest(capture: Capture) -> str:
    """What tells two captures of one feed at one moment apart: the body they served."""
    return content_digest(capture.body, capture.payload_digest)


@dataclass(frozen=True, eq=False)
class Fingerprints:
    """Everything detection keeps of one text."""

    story_text: str
    story: Fingerprint
    lead: Fingerprint
    full: np.ndarray


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


def stored_prints(prints: Fingerprints) -> dict[str, bytes]:
    """The columns of `item_versions` that keep a version's fingerprints."""
    return {
        "story_shingles": pack_shingles(prints.story.shingles),
        "full_shingles": pack_shingles(prints.full),
        "lead_signature": prints.lead.signature,
    }


class Pipeline:
    """Turns captures into stored provenance; holds the corpus cache between captures."""

    def __init__(self, sessions: sessionmaker[Session], config: Config) -> None:
        self.sessions = sessions
        self.detection = config.detection
        self.fingerprinter = Fingerprinter(self.detection.num_perm, self.detection.shingle_size)
        self.alerts = Alerts.from_config(config)
        self.subscriptions = {feed.url: feed for feed in config.feeds}
        self.reload()

    def reload(self, session: Session | None = None) -> None:
        """Rebuild the caches from SQL: after a transaction failed half-way through them, or
        (with the writer's `session`, under its lock) after another process wrote."""
        d = self.detection
        index = CandidateIndex(d.num_perm, d.lsh_bands, d.lsh_rows)
        self.corpus = Corpus(index, d.boilerplate_min_items, timedelta(seconds=d.claim_tolerance_seconds))
        params = (d.num_perm, d.shingle_size)
        # The generation is read before the corpus: a write that lands while it loads (no
        # lock is held here) then shows as a newer generation, and the next write reloads.
        if session is not None:
            self._seen = generation(session)
            self.corpus, self.decisions = load_corpus(session, self.corpus, self.fingerprints, params, commit=False)
            return
        with self.sessions() as own:
            self._seen = generation(own)
            self.corpus, self.decisions = load_corpus(own, self.corpus, self.fingerprints, params, commit=True)

    def _writing(self, session: Session) -> None:
        """Start a write: take the writer lock, and catch up with what other processes wrote."""
        serialise(session)
        if generation(session) != self._seen:
            log.info("the database changed under this process: caches reloaded")
            self.reload(session)

    # -- feeds --------------------------------------------------------------------
    def register_feeds(self, feeds: Iterable[FeedConfig] | None = None) -> None:
        """Make sure every configured feed has a row (so `stats` lists feeds never captured);
        with `feeds`, those become the configured ones (a reloaded config)."""
        if feeds is not None:
            self.subscriptions = {feed.url: feed for feed in feeds}
        with self.sessions.begin() as session:
            self._writing(session)
            facts = {}
            for url, feed in self.subscriptions.items():
                facts[self._feed(session, url, None)] = SubscriptionFacts(feed.title, feed.site_url, feed.tags)
            sync_subscriptions(session, facts)
            self._seen = generation(session)

    def is_stored(self, capture: Capture) -> bool:
        """Whether this capture is already in the database (so a re-run need not parse it)."""
        feed_id = self.corpus.feed_ids.get(capture.feed_url)
        return feed_id is not None and self.corpus.has_capture(feed_id, capture.captured_at, capture.kind, body_digest(capture))

    def rename_feed(self, old: str, new: str) -> None:
        """A permanent redirect moved a feed: find it under both URLs from now on."""
        feed_id = self.corpus.feed_ids[old]
        self.corpus.feed_ids[new] = feed_id

    def _new_publisher(self, session: Session, name: str, source: str, host: str | None) -> int:
        row = schema.Publisher(name=self._free_name(name, host), site_host=host, name_source=source)
        session.add(row)
        session.flush()
        self.corpus.add_publisher(row.id, row.name, host, source)
        return row.id

    def _free_name(self, name: str, host: str | None) -> str:
        """`name`, or `name (host)` / `name #2` when another publisher already has it."""
        name = _bounded(name, PUBLISHER_NAME_MAX)
        # The cache is current: every write reloads it first if another process wrote.
        taken = set(self.corpus.publisher_names.values())
        if name not in taken:
            return name
        for suffix in ([f" ({host})"] if host else []) + [f" #{n}" for n in range(2, 10_000)]:
            candidate = _bounded(name, PUBLISHER_NAME_MAX - len(suffix)) + suffix
            if candidate not in taken:
                return candidate
        raise AssertionError("unreachable: 10,000 publishers of one name")

    def _feed(self, session: Session, url: str, parsed: ParsedFeed | None) -> int:
        known = self.corpus.feed_ids.get(url)
        if known is not None:
            if parsed is not None and parsed.title:
                self._learn_title(session, known, parsed)
            return known
        site = parsed.site_url if parsed else None
        host = host_of(site) or host_of(url)
        title = parsed.title if parsed else None
        subscription = self.subscriptions.get(url)
        configured = subscription is not None
        named = subscription.publisher if subscription else None
        publisher_id = None
        if named:
            publisher_id = self.corpus.publisher_named(named)
            if publisher_id is None:
                publisher_id = self._new_publisher(session, named, "config", host)
        elif title and site:
            # The same site's other feed (its RSS beside its Atom): same title, same site link.
            publisher_id = self.corpus.same_site(title, site)
        if publisher_id is None:
            publisher_id = self._new_publisher(session, title or host or url, "feed_title" if title else "feed_url", host)
        row = schema.Feed(
            url=url, publisher_id=publisher_id, title=title, site_url=site, added_at=utcnow(),
            # A feed first seen in an archive is evidence, not a subscription: polled only when configured.
            active=configured,
        )
        session.add(row)
        session.flush()
        self.corpus.add_feed(row.id, url, publisher_id, title, site)
        return row.id

    def _learn_title(self, session: Session, feed_id: int, parsed: ParsedFeed) -> None:
        """A feed registered before its first capture learns its title (and its publisher's name)."""
        if not parsed.title or not self.corpus.learn_feed(feed_id, parsed.title, parsed.site_url):
            return
        f = schema.Feed.__table__
        p = schema.Publisher.__table__
        session.execute(update(f).where(f.c.id == feed_id).values(title=parsed.title, site_url=parsed.site_url))
        placeholder = self.corpus.feed_publisher[feed_id]
        if self.corpus.publisher_source.get(placeholder) != "feed_url" or self.corpus.feeds_of(placeholder) != {feed_id}:
            return
        # Its first capture: the feed is named after its title, or joins the same site's publisher.
        same_site = self.corpus.same_site(parsed.title, parsed.site_url, exclude=placeholder) if parsed.site_url else None
        if same_site is not None:
            session.execute(update(f).where(f.c.id == feed_id).values(publisher_id=same_site))
            session.execute(delete(p).where(p.c.id == placeholder))
            self.corpus.move_feed(feed_id, same_site)
            return
        name = self._free_name(parsed.title, self.corpus.publisher_host(placeholder))
        session.execute(update(p).where(p.c.id == placeholder).values(name=name, name_source="feed_title"))
        self.corpus.rename_publisher(placeholder, name, "feed_title")

    # -- captures -----------------------------------------------------------------
    def process(self, capture: Capture, parsed_body: ParsedFeed | ParseError | None = None) -> IngestReport:
        """Store one capture and everything it teaches; one transaction.

        `parsed_body` is the capture's body already parsed (by a worker process, say);
        without it the body is parsed here. A capture the database refuses is recorded as
        a failed capture (`report.store_error`) and the run goes on; only a database that
        cannot be reached raises.
        """
        try:
            return self._process(capture, parsed_body)
        except (OperationalError, InterfaceError):
            raise
        except SQLAlchemyError as error:
            message = " ".join(str(getattr(error, "orig", None) or error).split())[:500]
            self.reload()
            failed = replace(
                capture, body=None, payload_digest=body_digest(capture), error=f"cannot store capture: {message}", error_kind="store"
            )
            report = self._process(failed)
            report.store_error = message
            return report

    def _process(self, capture: Capture, parsed_body: ParsedFeed | ParseError | None = None) -> IngestReport:
        report = IngestReport()
        if len(capture.feed_url) > FEED_URL_MAX or not capture.feed_url.isprintable():
            # No feed row can hold it; the capture is refused, the ingest goes on.
            report.errors = 1
            report.warnings.append(
                f"{capture.feed_url[:80]!r}: not a usable feed URL (over {FEED_URL_MAX} characters, or control characters); capture skipped"
            )
            return report
        if parsed_body is None:
            parsed_body = parse_capture_body(capture.body, capture.content_type)
        parsed = parsed_body if isinstance(parsed_body, ParsedFeed) else None
        problem = capture.error or (str(parsed_body) if isinstance(parsed_body, ParseError) else None)
        problem_kind = capture.error_kind or ("parse" if isinstance(parsed_body, ParseError) else None)
        with self.sessions.begin() as session:
            self._writing(session)
            report = self._store(session, capture, parsed, problem, problem_kind, report)
            self._seen = generation(session)
        return report

    def _store(
        self, session: Session, capture: Capture, parsed: ParsedFeed | None, problem: str | None, problem_kind: str | None,
        report: IngestReport,
    ) -> IngestReport:
        """The body of `_process`, inside its transaction."""
        feed_id = self._feed(session, capture.feed_url, parsed)
        digest = body_digest(capture)
        if self.corpus.has_capture(feed_id, capture.captured_at, capture.kind, digest):
            report.skipped_known = 1
            return report
        capture_id = session.execute(
            insert(schema.Capture).returning(schema.Capture.id),
            {
                "feed_id": feed_id, "captured_at": capture.captured_at, "kind": capture.kind, "body_digest": digest,
                "source": capture.source, "status": capture.status, "payload_digest": capture.payload_digest,
                "bytes": len(capture.body) if capture.body is not None else None,
                "entries": len(parsed.entries) if parsed else 0, "new_items": 0, "updates": 0, "error": problem,
                "error_kind": problem_kind, "duration_ms": capture.duration_ms,
            },
        ).scalar_one()
        self.corpus.add_capture(feed_id, capture.captured_at, capture.kind, digest)
        report.captures = 1
        if problem:
            report.errors = 1
            report.warnings.append(f"{capture.feed_url} at {capture.captured_at.isoformat()}: {problem}")
            return report
        dirty: set[int] = set()
        if self.corpus.add_capture_time(feed_id, capture.captured_at):
            # An earlier capture arrived late: it may disprove dates of items seen after it.
            dirty |= {i for i in self.corpus.feed_items[feed_id] if self.corpus.items[i].feeds[feed_id] > capture.captured_at}
        if parsed:
            self._entries(session, feed_id, parsed.entries, capture.captured_at, report, dirty)
        if report.new_items or report.updates:
            session.execute(
                update(schema.Capture).where(schema.Capture.id == capture_id).values(new_items=report.new_items, updates=report.updates)
            )
        self._decide(session, dirty, report)
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
        self, session: Session, feed_id: int, entries: Iterable[ParsedEntry], when: datetime,
        report: IngestReport, dirty: set[int],
    ) -> None:
        publisher_id = self.corpus.feed_publisher[feed_id]
        rematch: set[int] = set()
        sightings: list[dict[str, object]] = []
        entries = list(entries)
        _warn_of_reused_guids(entries, report)
        for resolution in resolve(entries, feed_id, self.corpus.lookup(publisher_id)):
            entry = resolution.entry
            if resolution.item_id is None:
                document = self._document(entry, report)
                if document is None:
                    continue
                item = self._new_item(session, publisher_id, feed_id, entry, resolution.keys, document, when)
                report.new_items += 1
                rematch |= self._new_version(session, item, entry, document, when)
                continue
            item = self.corpus.items[resolution.item_id]
            self.corpus.register_keys(item, resolution.keys)
            if feed_id not in item.feeds:
                session.execute(insert(schema.ItemFeed), {"item_id": item.item_id, "feed_id": feed_id, "first_seen_at": when, "last_seen_at": when})
            else:
                sightings.append({"i": item.item_id, "f": feed_id, "w": when})
            if self.corpus.see(item, feed_id, when):
                session.execute(update(schema.Item).where(schema.Item.id == item.item_id).values(first_seen_at=when))
                dirty.add(item.item_id)
            digest = raw_hash(entry)
            if digest in item.raw_hashes:
                continue
            item.raw_hashes.add(digest)
            document = self._document(entry, report)
            if document is None or text_hash(entry.title, document.paragraphs) in item.text_hashes:
                continue
            report.updates += 1
            self._add_credits(session, item, document)
            rematch |= self._new_version(session, item, entry, document, when)
        if sightings:
            table = schema.ItemFeed.__table__
            session.execute(
                update(table)
                .where(table.c.item_id == bindparam("i"), table.c.feed_id == bindparam("f"))
                .values(last_seen_at=bindparam("w")),
                sightings,
            )
        for item_id in rematch:
            dirty |= self._match(session, item_id)

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
    ) -> ItemState:
        identity = keys[0]
        if self.corpus.has_identity(publisher_id, identity):
            # Another entry under the same link (a shared news page): its own text tells it apart.
            identity = f"{identity}{DUPLICATE_MARK}{raw_hash(entry)}"
        url = entry.link or None
        item_id = session.execute(
            insert(schema.Item).returning(schema.Item.id),
            {
                "publisher_id": publisher_id, "identity": identity, "identity_hash": key_hash(identity), "url": url,
                "url_hash": lookup_hash(url) if url else None, "title": entry.title, "author": entry.author,
                "claimed_at": entry.claimed_at, "first_seen_at": when,
            },
        ).scalar_one()
        session.execute(insert(schema.ItemFeed), {"item_id": item_id, "feed_id": feed_id, "first_seen_at": when, "last_seen_at": when})
        item = ItemState(
            item_id, publisher_id, url or identity, entry.title, entry.claimed_at, when, feed_id, {feed_id: when}, guid=entry.guid,
        )
        item.raw_hashes.add(raw_hash(entry))
        self.corpus.add_item(item, keys, identity)
        self.corpus.feed_items[feed_id].add(item_id)
        self._add_credits(session, item, document)
        return item

    def _add_credits(self, session: Session, item: ItemState, document: Document) -> None:
        for credit in document.attributions:
            if credit not in item.credits:
                self.corpus.add_credit(item, credit)
                session.execute(
                    insert(schema.ItemAttribution),
                    {"item_id": item.item_id, "kind": credit.kind, "name": credit.name, "url": credit.url},
                )

    def fingerprints(self, publisher_id: int, document: Document, title: str) -> Fingerprints:
        """Story text, story and lead fingerprints, and full-text shingles of a document,
        given what is known now of the publisher's boilerplate."""
        indices = story_paragraphs(document, title, self.corpus.boilerplate[publisher_id], self.corpus.names_of(publisher_id))
        words = document.words(indices)
        return Fingerprints(
            story_text="\n".join(document.paragraphs[i] for i in indices),
            story=self.fingerprinter.fingerprint(words),
            lead=self.fingerprinter.fingerprint(words[:LEAD_TOKENS]),
            full=shingles(words_without_urls(document), self.detection.shingle_size),
        )

    def _new_version(self, session: Session, item: ItemState, entry: ParsedEntry, document: Document, when: datetime) -> set[int]:
        """Store a new text of an item; return the items whose matches must be recomputed."""
        fresh = self.corpus.count_paragraphs(item, document.keys)
        prints = self.fingerprints(item.publisher_id, document, entry.title)
        number = len(item.versions) + 1
        digest = text_hash(entry.title, document.paragraphs)
        version_id = session.execute(
            insert(schema.ItemVersion).returning(schema.ItemVersion.id),
            {
                "item_id": item.item_id, "version": number, "content_hash": digest, "seen_at": when, "raw_hash": raw_hash(entry),
                "title": entry.title, "text": document.text, "story_text": prints.story_text,
                "signature": prints.story.signature, "sig_scheme": prints.story.scheme,
                "num_perm": prints.story.num_perm, "shingle_size": prints.story.shingle_size,
                "shingle_count": prints.story.size, **stored_prints(prints), "paragraph_keys": pack_keys(document.keys),
            },
        ).scalar_one()
        item.text_hashes.add(digest)
        version = VersionState(version_id, number, document.keys, prints.story, prints.full, prints.lead)
        item.versions.append(version)
        self.corpus.index_version(item.item_id, version)
        rematch = {item.item_id}
        if fresh:
            for other in self.corpus.items_with_paragraphs(item.publisher_id, fresh) - {item.item_id}:
                self._reclean(session, self.corpus.items[other])
                rematch.add(other)
        return rematch

    def _reclean(self, session: Session, item: ItemState) -> None:
        """Fingerprint an item's versions again after its publisher's boilerplate grew."""
        table = schema.ItemVersion.__table__
        rows = session.execute(select(table.c.version, table.c.text, table.c.title).where(table.c.item_id == item.item_id))
        stored = {number: (text, title) for number, text, title in rows}
        for version in item.versions:
            text, title = stored[version.number]
            prints = self.fingerprints(item.publisher_id, document_from_paragraphs(text.split("\n") if text else []), title)
            session.execute(
                update(table).where(table.c.id == version.version_id).values(
                    story_text=prints.story_text, signature=prints.story.signature, shingle_count=prints.story.size,
                    **stored_prints(prints),
                )
            )
            version.story, version.lead = prints.story, prints.lead
            self.corpus.index_version(item.item_id, version)

    # -- matching and provenance --------------------------------------------------------
    def _verified(self, sim: Similarity) -> bool:
        d = self.detection
        if sim.shared < d.min_shared_shingles:
            return False
        if sim.jaccard >= d.min_jaccard or sim.containment >= d.min_containment:
            return True
        # A rewrite (synonyms, a paragraph dropped) keeps much of its source in both senses.
        return sim.jaccard >= d.rewrite_min_jaccard and sim.containment >= d.rewrite_min_containment

    def _match(self, session: Session, item_id: int) -> set[int]:
        """Recompute an item's verified matches; return the items whose matches changed."""
        item = self.corpus.items[item_id]
        candidates = set(self.corpus.edges[item_id])
        for version in item.versions:
            candidates.update(self.corpus.candidates(version))
        # "Read the full story at X: <url>" names its source exactly: linked whatever the text.
        credited = self.corpus.linked_by_credit(item)
        candidates |= credited
        candidates.discard(item_id)
        edges: list[Edge] = []
        for other_id in sorted(candidates):
            other = self.corpus.items[other_id]
            if other.publisher_id == item.publisher_id:
                continue
            best: tuple[tuple[float, float], Similarity, VersionState, VersionState] | None = None
            for mine in item.versions:
                for theirs in other.versions:
                    sim = similarity(mine.story.shingles, theirs.story.shingles)
                    linked = self._verified(sim) or other_id in credited
                    if linked and (best is None or (sim.jaccard, sim.containment) > best[0]):
                        best = ((sim.jaccard, sim.containment), sim, mine, theirs)
            if best is None:
                continue
            _, sim, mine, theirs = best
            shared_full = overlap(mine.full, theirs.full)
            full_mine = shared_full / max(1, mine.full.size)
            full_theirs = shared_full / max(1, theirs.full.size)
            if item_id < other_id:
                edges.append(Edge(item_id, other_id, sim, full_mine, full_theirs))
            else:
                edges.append(Edge(other_id, item_id, sim.flipped(), full_theirs, full_mine))
        table = schema.Match.__table__
        session.execute(delete(table).where((table.c.item_a == item_id) | (table.c.item_b == item_id)))
        now = utcnow()
        if edges:
            session.execute(
                table.insert(),
                [
                    {"item_a": e.a, "item_b": e.b, "jaccard": e.similarity.jaccard, "a_in_b": e.similarity.a_in_b,
                     "b_in_a": e.similarity.b_in_a, "shared": e.similarity.shared, "full_a_in_b": e.full_a_in_b,
                     "full_b_in_a": e.full_b_in_a, "found_at": now}
                    for e in edges
                ],
            )
        return self.corpus.set_edges(item_id, edges)

    def _decide(self, session: Session, dirty: set[int], report: IngestReport) -> None:
        """Decide again the provenance of every group of matches holding a dirty item."""
        now = utcnow()
        for group in components(sorted(dirty), self.corpus.edges):
            facts = [self.corpus.facts(i) for i in sorted(group)]
            edges = {(e.a, e.b): e for i in group for e in self.corpus.edges[i].values()}
            for decision in decide(facts, edges.values()):
                key = decision.key
                previous = self.decisions.get(decision.item_id)
                if previous == key:
                    continue
                if decision.parent_item_id is not None and (previous is None or previous[1] is None):
                    report.republications += 1
                    report.new_copies.append(decision.item_id)
                self.decisions[decision.item_id] = key
                values = {
                    "story_id": decision.story_id,
                    "original_item_id": decision.original_item_id,
                    "parent_item_id": decision.parent_item_id,
                    "relation": decision.relation,
                    "similarity": decision.similarity,
                    "containment": decision.containment,
                    "coverage": decision.coverage,
                    "estimated_published_at": decision.estimated_at,
                    "lag_seconds": decision.lag_seconds,
                    "attributed_origin": decision.attributed_origin,
                    "evidence": decision.evidence_json(),
                    "decided_at": now,
                }
                if previous is None:
                    session.execute(insert(schema.Provenance), {"item_id": decision.item_id, **values})
                else:
                    session.execute(update(schema.Provenance).where(schema.Provenance.item_id == decision.item_id).values(**values))

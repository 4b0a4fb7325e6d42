"""The pipeline's entries: each entry of a capture recognised as an item (or a new one), its
text normalised and fingerprinted into a version, its credits stored.

A mixin of `tracker.pipeline.capture.Pipeline` (the transaction and its retries are there).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from tracker.detection.fingerprint import Fingerprints, pack_keys, shingles
from tracker.detection.identity import (
    DUPLICATE_MARK,
    canonical_url,
    entry_keys,
    key_hash,
    lookup_hash,
    raw_hash,
    resolve,
    text_hash,
)
from tracker.detection.normalise import (
    document_from_paragraphs,
    document_of,
    story_paragraphs,
    to_document,
    words_without_urls,
)
from tracker.model import (
    Attribution,
    Document,
    IngestReport,
    Known,
    NewItem,
    NewText,
    ParsedEntry,
    StoredItem,
    VersionPrints,
)
from tracker.reader.links import whole_credits
from tracker.store import buckets, evidence, items, locks, matching
from tracker.store.state import version_columns

if TYPE_CHECKING:
    from tracker.pipeline.capture import Pipeline

log = logging.getLogger("tracker.pipeline.capture")  # the pipeline's one logger
# The lead: an aggregator's excerpt is the first paragraphs, so leads are indexed too.
LEAD_TOKENS = 60
# New texts held before they are stored together: a capture of 20,000 new items holds this many documents at most.
PENDING_TEXTS = 200
# New items a capture keeps in memory for its matching and deciding (`Known.items`, ~4 KB each
# with their fingerprints); those past it are read back from SQL. A capture brings a few
# dozen; one of 20,000 new entries would hold 80 MB more at its peak.
KNOWN_ITEMS = 2_000


def _reused_guids(entries: list[ParsedEntry], raws: dict[int, str], report: IngestReport) -> list[ParsedEntry]:
    """The entries, those of a GUID that a capture puts on different articles (different
    links: a CMS that gives every entry its site's address, say) without it — each is then
    its link's article, not lost — and the user hears of it. (`raws`: each entry's raw hash,
    by `id`.) A GUID on different texts of one link stays one item: the first is kept."""
    seen: dict[str, str] = {}
    links: dict[str, set[str | None]] = {}
    warned: set[str] = set()
    for entry in entries:
        if not entry.guid:
            continue
        digest = raws[id(entry)]
        link = canonical_url(entry.link) if entry.link else None
        links.setdefault(entry.guid, set()).add(link)
        if seen.setdefault(entry.guid, digest) != digest and entry.guid not in warned:
            warned.add(entry.guid)
    shared = {guid for guid in warned if len(links[guid]) > 1 and None not in links[guid]}
    for guid in sorted(warned):
        what = "they are told apart by their links" if guid in shared else "the first is kept"
        report.warnings.append(f"GUID {guid[:120]!r} is on different entries of one capture; {what}")
    if not shared:
        return entries
    plain = [replace(e, guid=None) if e.guid in shared else e for e in entries]
    for old, new in zip(entries, plain):
        raws[id(new)] = raws[id(old)]
    return plain


def _sighted(session: Session, item: items.SeenItem, entry: ParsedEntry, feed_id: int, when: datetime, dirty: set[int]) -> bool:
    """Record that the feed shows a stored item at `when` (an earlier first sighting makes the
    item dirty, and its claimed date the one `entry` gives, as if the captures had come in
    order); whether the feed showed it before (its sighting is then only touched)."""
    previous = item.feeds.get(feed_id)
    if previous is None:
        items.add_sighting(session, item.item_id, feed_id, when)
    if previous is None or when < previous:
        item.feeds[feed_id] = when
        if when < item.first_seen_at:
            # The claim of the earliest capture stands: a later one may show the article re-dated on an update.
            items.set_first_seen(session, item.item_id, feed_id, when, entry.claimed_at, entry.claimed_rejected)
            item.first_seen_at, item.claimed_at = when, entry.claimed_at
            dirty.add(item.item_id)
        elif previous is not None:
            items.set_first_sighting(session, item.item_id, feed_id, when)
    return previous is not None


def _fresh_credits(document: Document, given: Sequence[Attribution]) -> list[Attribution]:
    """The document's credits not in `given`, each once, in order."""
    fresh: list[Attribution] = []
    for credit in document.attributions:
        if credit not in given and credit not in fresh:
            fresh.append(credit)
    return fresh


class EntriesMixin:
    """Entries, items and versions of `Pipeline`."""

    def _entries(
        self, session: Session, feed_id: int, publisher_id: int, entries: Iterable[ParsedEntry], when: datetime,
        report: IngestReport, dirty: set[int], feed_url: str, known: Known,
    ) -> set[int]:
        """Store the entries of a capture; return the items whose matches must be recomputed
        (and tell `known` of the items it stores)."""
        rematch: set[int] = set()
        seen_again: list[int] = []
        entries = list(entries)
        # Each entry's raw form hashed once (identity, the warning and the check below ask for it).
        raws = {id(entry): raw_hash(entry) for entry in entries}
        entries = _reused_guids(entries, raws, report)
        lookup = items.PublisherItems(session, publisher_id, feed_id, {key for entry in entries for key in entry_keys(entry)})
        new: list[tuple[int, int, str | None, bool]] = []  # not the documents: a capture may hold 20,000
        # New items' texts, stored together (`_store_versions`) before anything reads texts.
        pending: list[NewText] = []
        later = items.NewItemRows()
        for resolution in resolve(entries, feed_id, lookup):
            entry = resolution.entry
            if resolution.item_id is None:
                document = self._document(entry, report)
                if document is None:
                    continue
                item_id = self._new_item(session, lookup, feed_id, entry, resolution.keys, document, when, known, later)
                report.new_items += 1
                pending.append(self._text_of(item_id, (), entry, document, when))
                new.append((item_id, publisher_id, entry.link or None, self._wants_page(feed_url, document.text)))
                if len(pending) >= PENDING_TEXTS:
                    rematch |= self._store_versions(session, publisher_id, pending, known)
                    pending = []
                continue
            item = lookup.items[resolution.item_id]
            if missing := lookup.missing_keys(item.item_id, resolution.keys):
                lookup.add_keys(session, item.item_id, missing, later)
            if _sighted(session, item, entry, feed_id, when, dirty):
                seen_again.append(item.item_id)
            digest = raws[id(entry)]
            if digest in item.raw_hashes:
                continue
            item.raw_hashes.add(digest)
            items.add_raw(session, item.item_id, digest)
            if (document := self._document(entry, report)) is None:
                continue
            if pending:  # in order: the new texts before this one are counted first
                rematch |= self._store_versions(session, publisher_id, pending, known)
                pending = []
            if items.has_text(session, item.item_id, text_hash(entry.title, document.paragraphs)):
                continue
            report.updates += 1
            self._add_credits(session, item.item_id, document)
            versions = matching.versions_of(session, [item.item_id])[item.item_id]
            rematch |= self._store_versions(session, publisher_id, [self._text_of(item.item_id, versions, entry, document, when)], known)
        rematch |= self._store_versions(session, publisher_id, pending, known)
        later.write(session)
        items.touch_sightings(session, feed_id, seen_again, when)
        if new:
            paged = self._pages_for_new_items(session, feed_url, new, report)
            known.forget(paged)  # a page stored before them gave them a text or credits
            rematch |= paged
        return rematch

    @staticmethod
    def _document(entry: ParsedEntry, report: IngestReport) -> Document | None:
        """An entry's text, or None (and a warning) when its body cannot be read: one bad
        entry never costs the rest of its feed (read already when the parser process read it).
        A credit's link written as a path ("/2024/story/") is on the entry's own site."""
        if entry.read_body is not None:
            document = document_of(entry.read_body)
        else:
            try:
                document = to_document(entry)
            except Exception as error:  # whatever a hostile body makes an HTML reader raise
                report.warnings.append(f"entry {(entry.guid or entry.link or entry.title)[:120]!r} skipped: {type(error).__name__}: {error}")
                return None
        credits = whole_credits(document.attributions, entry.link)
        return document if credits is document.attributions else replace(document, attributions=credits)

    def _new_item(
        self, session: Session, lookup: items.PublisherItems, feed_id: int, entry: ParsedEntry, keys: tuple[str, ...],
        document: Document, when: datetime, known: Known, later: items.NewItemRows,
    ) -> int:
        """Store a new item's row (its other rows go to `later`); its id."""
        url = entry.link or None
        values: dict[str, object] = {
            "publisher_id": lookup.publisher_id, "identity": keys[0], "identity_hash": key_hash(keys[0]), "url": url,
            "url_hash": lookup_hash(url) if url else None, "title": entry.title, "author": entry.author,
            "claimed_at": entry.claimed_at, "claimed_date_rejected": entry.claimed_rejected, "first_seen_at": when,
        }
        item_id = items.insert_item_unless_taken(session, values)
        if item_id is None:
            # Another entry under the same link (a shared news page): its own text tells it apart.
            identity = f"{keys[0]}{DUPLICATE_MARK}{raw_hash(entry)}"
            values = {**values, "identity": identity, "identity_hash": key_hash(identity)}
            item_id = items.insert_item(session, values)
        credits = _fresh_credits(document, [])
        later.add(item_id, feed_id, when, raw_hash(entry), credits)
        lookup.add_keys(session, item_id, keys, later)
        # The item as SQL would give it back (`items.load_items`), for the capture's matching and deciding.
        identity = str(values["identity"])
        guid = identity.removeprefix("guid:") if identity.startswith("guid:") else None
        stored = StoredItem(
            item_id, lookup.publisher_id, url or identity, entry.title, entry.claimed_at, when, guid, {feed_id: when},
            claimed_rejected=entry.claimed_rejected, author=entry.author,
        )
        if len(known.items) < KNOWN_ITEMS:
            known.items[item_id] = NewItem(stored, credits, known.previous)
        known.unmatched.add(item_id)
        return item_id

    def _add_credits(
        self: Pipeline, session: Session, item_id: int, document: Document, given: list[Attribution] | None = None,
    ) -> list[Attribution]:
        """Store the document's credits the item does not give yet (`given`: those it gives,
        when known); return those stored."""
        if given is None:
            given = items.credits_of(session, [item_id]).get(item_id, [])
        fresh = _fresh_credits(document, given)
        items.add_credits(session, item_id, fresh)
        return fresh

    def fingerprints(
        self: Pipeline, session: Session, publisher_id: int, document: Document, title: str,
        boilerplate: Collection[int] | None = None,
    ) -> Fingerprints:
        """Story text, story and lead fingerprints, and full-text shingles of a document,
        given what is known now of the publisher's boilerplate (`boilerplate`: which of the
        document's paragraphs are, when the caller knows it already)."""
        if boilerplate is None:
            boilerplate = evidence.boilerplate_among(session, publisher_id, document.keys, self.detection.boilerplate_min_items)
        indices = story_paragraphs(document, title, boilerplate, self.directory.names_of(publisher_id))
        words = document.words(indices)
        story = self.fingerprinter.fingerprint(words)
        # A text no longer than a lead is its own lead; a story of every paragraph, without
        # links, is the full text: their shingles are not hashed again.
        lead = story if len(words) <= LEAD_TOKENS else self.fingerprinter.fingerprint(words[:LEAD_TOKENS])
        full_words = words_without_urls(document)
        return Fingerprints(
            story_text="\n".join(document.paragraphs[i] for i in indices),
            story=story,
            lead=lead,
            full=story.shingles if full_words == words else shingles(full_words, self.detection.shingle_size),
        )

    @staticmethod
    def _text_of(item_id: int, versions: Sequence[VersionPrints], entry: ParsedEntry, document: Document, when: datetime) -> NewText:
        served = entry.content_chars if entry.content_chars is not None else len(entry.content)
        return NewText(item_id, tuple(versions), entry.title, raw_hash(entry), document, when, body_chars=served)

    def _store_versions(self, session: Session, publisher_id: int, texts: Sequence[NewText], known: Known | None) -> set[int]:
        """Store texts of one publisher's items (an entry's, or a page's article), in turn;
        return the items whose matches must be recomputed (`known`: what the capture knows of
        its items, kept true).

        Their paragraphs are counted in memory and their rows written together: a capture's
        new items cost a few statements, not a few each. Only when a paragraph becomes
        boilerplate is what was counted written at once, for the items holding it to be
        fingerprinted again from SQL.
        """
        counter = evidence.ParagraphCounter(
            session, publisher_id, {k for t in texts for k in t.document.keys}, self.detection.boilerplate_min_items,
        )
        staged: list[tuple[NewText, Fingerprints]] = []
        rematch: set[int] = set()
        for text in texts:
            held = {k for v in text.versions for k in v.paragraph_keys}
            fresh = counter.count(text.item_id, set(text.document.keys) - held, among=text.document.keys)
            staged.append((text, self.fingerprints(session, publisher_id, text.document, text.title, fresh.boilerplate)))
            rematch.add(text.item_id)
            if fresh.keys:
                self._write_versions(session, counter, staged, known)
                staged = []
                holders = fresh.holders - {text.item_id}
                for other in sorted(holders):
                    self._reclean(session, publisher_id, other)
                rematch |= holders
                if known is not None:
                    known.forget(holders)  # fingerprinted again
        self._write_versions(session, counter, staged, known)
        return rematch

    def _write_versions(
        self, session: Session, counter: evidence.ParagraphCounter, staged: Sequence[tuple[NewText, Fingerprints]],
        known: Known | None,
    ) -> None:
        """Write the paragraph counts and the staged texts with their LSH buckets."""
        counter.write(session)
        if not staged:
            return
        version_ids = items.insert_versions(session, [
            {
                "item_id": text.item_id, "version": len(text.versions) + 1, "content_hash": text_hash(text.title, text.document.paragraphs),
                "seen_at": text.when, "raw_hash": text.raw, "title": text.title, "text": text.document.text,
                "body_chars": text.body_chars, "text_truncated": text.document.truncated,
                **version_columns(prints), "paragraph_keys": pack_keys(text.document.keys), "from_page": text.from_page,
            }
            for text, prints in staged
        ])
        additions = []
        for (text, prints), version_id in zip(staged, version_ids, strict=True):
            if known is not None and text.item_id in known.items:
                known.items[text.item_id].versions.append(VersionPrints(
                    version_id, text.item_id, len(text.versions) + 1, prints.story.shingles, prints.full, prints.story.signature,
                    prints.lead.signature, tuple(text.document.keys), text.from_page,
                ))
            indexed = self.detector.buckets([VersionPrints(
                0, text.item_id, 0, prints.story.shingles, prints.full, prints.story.signature, prints.lead.signature, (),
            )])
            additions.append((text.item_id, indexed, not text.versions))
        buckets.add_buckets_many(session, additions)

    def _reclean(self: Pipeline, session: Session, publisher_id: int, item_id: int) -> None:
        """Fingerprint an item's versions again after its publisher's boilerplate grew."""
        old = self.detector.buckets(matching.versions_of(session, [item_id])[item_id])
        # Whoever is matching a text against the old fingerprints commits first, or waits.
        locks.lock(session, locks.BUCKET, old)
        buckets.remove_buckets(session, item_id, old)
        signatures = []
        for version_id, text, title in items.texts_of_item(session, item_id):
            prints = self.fingerprints(session, publisher_id, document_from_paragraphs(text.split("\n") if text else []), title)
            items.update_version(session, version_id, version_columns(prints))
            signatures.append(VersionPrints(
                version_id, item_id, 0, prints.story.shingles, prints.full, prints.story.signature, prints.lead.signature, ()
            ))
        buckets.add_buckets(session, item_id, self.detector.buckets(signatures))

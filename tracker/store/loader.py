"""Rebuilding the in-memory corpus (and its LSH index) from the database.

SQL is the source of truth: this is how a restarted tracker gets back its caches. Every
version's fingerprints (shingles, signatures, paragraph keys) are read as they were stored
when it was written; no text is tokenised or fingerprinted again at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from tracker.corpus import Corpus, ItemState, VersionState
from tracker.fingerprint import SCHEME, pack_keys, pack_shingles, stored_fingerprint, unpack_keys, unpack_shingles
from tracker.identity import stored_keys
from tracker.model import Attribution, Document, Similarity
from tracker.normalise import document_from_paragraphs
from tracker.provenance import DecisionKey, Edge, decision_key
from tracker.store import schema

MakeFingerprints = Callable[[int, Document, str], Any]


def load_corpus(
    session: Session, corpus: Corpus, fingerprints: MakeFingerprints, params: tuple[int, int], commit: bool = True,
) -> tuple[Corpus, dict[int, DecisionKey]]:
    """Fill `corpus` from the database; return it with the stored decisions.

    `params` are the detection settings (num_perm, shingle_size) fingerprints must have.
    Fingerprints backfilled on the way are committed, unless `commit` is off (the caller's
    transaction then carries them).
    """
    for publisher in session.scalars(select(schema.Publisher)):
        corpus.add_publisher(publisher.id, publisher.name, publisher.site_host, publisher.name_source)
    for feed in session.scalars(select(schema.Feed)):
        corpus.add_feed(feed.id, feed.url, feed.publisher_id, feed.title, feed.site_url)
    for old in session.scalars(select(schema.FeedUrl)):
        corpus.feed_ids.setdefault(old.url, old.feed_id)
    for feed_id, when, kind, digest, error in session.execute(
        select(schema.Capture.feed_id, schema.Capture.captured_at, schema.Capture.kind, schema.Capture.body_digest, schema.Capture.error)
    ):
        corpus.add_capture(feed_id, when, kind, digest)
        if error is None:
            corpus.add_capture_time(feed_id, when)
    sightings: dict[int, dict[int, datetime]] = {}
    for item_id, feed_id, first in session.execute(
        select(schema.ItemFeed.item_id, schema.ItemFeed.feed_id, schema.ItemFeed.first_seen_at)
    ):
        sightings.setdefault(item_id, {})[feed_id] = first
        corpus.feed_items[feed_id].add(item_id)
    for row in session.scalars(select(schema.Item)):
        feeds = sightings.get(row.id, {})
        first_feed = min(feeds, key=lambda f: feeds[f]) if feeds else 0
        guid = row.identity.removeprefix("guid:") if row.identity.startswith("guid:") else None
        item = ItemState(
            row.id, row.publisher_id, row.url or row.identity, row.title, row.claimed_at, row.first_seen_at, first_feed,
            dict(feeds), guid=guid,
        )
        corpus.add_item(item, stored_keys(row.identity, row.url), row.identity)
    for credit in session.scalars(select(schema.ItemAttribution)):
        corpus.add_credit(corpus.items[credit.item_id], Attribution(credit.kind, credit.name, credit.url))
    _load_versions(session, corpus, fingerprints, params, commit)
    for m in session.scalars(select(schema.Match)):
        corpus.add_edge(Edge(m.item_a, m.item_b, Similarity(m.jaccard, m.a_in_b, m.b_in_a, m.shared), m.full_a_in_b, m.full_b_in_a))
    decisions: dict[int, DecisionKey] = {
        p.item_id: decision_key(p.story_id, p.parent_item_id, p.relation, p.attributed_origin,
                                p.estimated_published_at, p.similarity, p.coverage)
        for p in session.scalars(select(schema.Provenance))
    }
    return corpus, decisions


def _load_versions(session: Session, corpus: Corpus, fingerprints: MakeFingerprints, params: tuple[int, int], commit: bool) -> None:
    """Every version's fingerprints, as stored when it was written: no text is read, no text
    fingerprinted again. Versions stored before fingerprints were kept (or under other
    detection settings) are fingerprinted from their text once, and the result stored."""
    v = schema.ItemVersion
    rows = session.execute(
        select(v.item_id, v.version, v.id, v.content_hash, v.raw_hash, v.signature, v.num_perm, v.shingle_size,
               v.sig_scheme, v.story_shingles, v.full_shingles, v.lead_signature, v.paragraph_keys)
        .order_by(v.item_id, v.version)
    ).all()
    stale = [
        r.id for r in rows
        if None in (r.story_shingles, r.full_shingles, r.lead_signature, r.paragraph_keys)
        or (r.num_perm, r.shingle_size) != params or r.sig_scheme != SCHEME
    ]
    documents = _documents(session, stale)
    # Boilerplate first: a stale version's story depends on the final counts.
    keys: dict[int, tuple[int, ...]] = {}
    for r in rows:
        keys[r.id] = documents[r.id][0].keys if r.id in documents else unpack_keys(r.paragraph_keys)
        corpus.count_paragraphs(corpus.items[r.item_id], keys[r.id])
    backfill = []
    for r in rows:
        item = corpus.items[r.item_id]
        if r.id in documents:
            document, title = documents.pop(r.id)
            prints = fingerprints(item.publisher_id, document, title)
            story, lead, full = prints.story, prints.lead, prints.full
            backfill.append({"vid": r.id, "story_text": prints.story_text, "signature": story.signature,
                             "sig_scheme": story.scheme, "num_perm": story.num_perm, "shingle_size": story.shingle_size,
                             "shingle_count": story.size, "story_shingles": pack_shingles(story.shingles),
                             "full_shingles": pack_shingles(full), "lead_signature": lead.signature,
                             "paragraph_keys": pack_keys(document.keys)})
        else:
            story = stored_fingerprint(r.story_shingles, r.signature, r.num_perm, r.shingle_size)
            lead = stored_fingerprint(None, r.lead_signature, r.num_perm, r.shingle_size)
            full = unpack_shingles(r.full_shingles)
        version = VersionState(r.id, r.version, keys[r.id], story, full, lead)
        item.versions.append(version)
        item.text_hashes.add(r.content_hash)
        if r.raw_hash:
            item.raw_hashes.add(r.raw_hash)
        corpus.index_version(r.item_id, version)
    if backfill:
        table = v.__table__
        columns = {k: bindparam(k) for k in backfill[0] if k != "vid"}
        session.execute(update(table).where(table.c.id == bindparam("vid")).values(**columns), backfill)
        if commit:
            session.commit()


def _documents(session: Session, version_ids: list[int]) -> dict[int, tuple[Document, str]]:
    """The stored texts of some versions, as documents, with their titles."""
    v = schema.ItemVersion
    found: dict[int, tuple[Document, str]] = {}
    for chunk in range(0, len(version_ids), 500):
        ids = version_ids[chunk : chunk + 500]
        for vid, text, title in session.execute(select(v.id, v.text, v.title).where(v.id.in_(ids))):
            found[vid] = (document_from_paragraphs(text.split("\n") if text else []), title)
    return found

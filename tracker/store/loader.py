"""Rebuilding the in-memory corpus (and its LSH index) from the database.

SQL is the source of truth: this is how a restarted tracker gets back its caches.
Shingles are recomputed from the stored story texts rather than stored themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.corpus import Corpus, ItemState, VersionState
from tracker.identity import stored_keys
from tracker.model import Attribution, Document, Similarity
from tracker.normalise import document_from_paragraphs
from tracker.provenance import DecisionKey, Edge, decision_key
from tracker.store import schema

MakeFingerprints = Callable[[int, Document, str], Any]


def load_corpus(session: Session, corpus: Corpus, fingerprints: MakeFingerprints) -> tuple[Corpus, dict[int, DecisionKey]]:
    """Fill `corpus` from the database; return it with the stored decisions."""
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
    versions = session.execute(
        select(schema.ItemVersion.item_id, schema.ItemVersion.version, schema.ItemVersion.id, schema.ItemVersion.text,
               schema.ItemVersion.title, schema.ItemVersion.content_hash, schema.ItemVersion.raw_hash).order_by(schema.ItemVersion.item_id, schema.ItemVersion.version)
    ).all()
    # Boilerplate first: the story text of every version depends on the final counts.
    documents: dict[int, Document] = {}
    for item_id, _, version_id, text, _, _, _ in versions:
        documents[version_id] = document_from_paragraphs(text.split("\n") if text else [])
        corpus.count_paragraphs(corpus.items[item_id], documents[version_id].keys)
    for item_id, number, version_id, _, title, digest, raw in versions:
        item = corpus.items[item_id]
        document = documents.pop(version_id)
        prints = fingerprints(item.publisher_id, document, title)
        version = VersionState(version_id, number, document.keys, prints.story, prints.full, prints.lead)
        item.versions.append(version)
        item.text_hashes.add(digest)
        if raw:
            item.raw_hashes.add(raw)
        corpus.index_version(item_id, version)
    for m in session.scalars(select(schema.Match)):
        corpus.add_edge(Edge(m.item_a, m.item_b, Similarity(m.jaccard, m.a_in_b, m.b_in_a, m.shared), m.full_a_in_b, m.full_b_in_a))
    decisions: dict[int, DecisionKey] = {
        p.item_id: decision_key(p.story_id, p.parent_item_id, p.relation, p.attributed_origin,
                                p.estimated_published_at, p.similarity, p.coverage)
        for p in session.scalars(select(schema.Provenance))
    }
    return corpus, decisions

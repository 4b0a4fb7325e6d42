"""A restarted tracker gets its caches back from SQL without fingerprinting any text again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tests.test_pipeline import FEEDS, KHAAMA, network
from tracker.pipeline import Pipeline


def fingerprints_of(pipeline: Pipeline) -> dict[int, tuple[bytes, bytes, bytes, tuple[int, ...]]]:
    return {
        version.version_id: (version.story.shingles.tobytes(), version.lead.signature, version.full.tobytes(), tuple(version.paragraph_keys))
        for item in pipeline.corpus.items.values() for version in item.versions
    }


def boilerplate_network() -> list:  # type: ignore[type-arg]
    """The usual network, plus Khaama items that share a disclaimer (it becomes boilerplate)."""
    disclaimer = "The opinions expressed here are the authors' own and not those of the agency, which takes no position."
    extra = [Item(f"Story {n}", f"https://www.khaama.com/s{n}/", [*article(60 + n, paragraphs=4), disclaimer], T0 + hours(n)) for n in range(4)]
    return [*network(article(5, paragraphs=8)), capture(KHAAMA, T0 + hours(6), rss("Khaama Press", "https://www.khaama.com/", extra))]


def test_a_restart_reads_the_stored_fingerprints_and_never_a_text(any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_pipeline(any_db_url, FEEDS)
    first.ingest(boilerplate_network())
    written = fingerprints_of(first)
    # Texts are off limits at start-up: fingerprinting one would fail the test.
    monkeypatch.setattr("tracker.store.loader.document_from_paragraphs", lambda *_a, **_k: pytest.fail("a text was read"))
    again = make_pipeline(any_db_url, FEEDS)
    assert fingerprints_of(again) == written
    assert again.corpus.boilerplate == first.corpus.boilerplate and any(again.corpus.boilerplate.values())


def test_versions_without_stored_fingerprints_are_backfilled_once(any_db_url: str) -> None:
    first = make_pipeline(any_db_url, FEEDS)
    first.ingest(boilerplate_network())
    written = fingerprints_of(first)
    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:  # as a database of the previous revision has them
        conn.execute(sa.text("UPDATE item_versions SET story_shingles = NULL, full_shingles = NULL, lead_signature = NULL, paragraph_keys = NULL"))
    backfilled = make_pipeline(any_db_url, FEEDS)
    assert fingerprints_of(backfilled) == written
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM item_versions WHERE story_shingles IS NULL")).scalar_one() == 0
    engine.dispose()


def test_other_detection_settings_fingerprint_again(sqlite_url: str) -> None:
    make_pipeline(sqlite_url, FEEDS).ingest(network(article(6, paragraphs=8)))
    changed = make_pipeline(sqlite_url, FEEDS, shingle_size=4)
    assert {v.story.shingle_size for i in changed.corpus.items.values() for v in i.versions} == {4}
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT DISTINCT shingle_size FROM item_versions")).scalars().all() == [4]
    engine.dispose()

"""The parser process reads entries' texts ahead for the storing process.

What it reads equals what the storing process would read itself; an entry it has seen
before in its feed is left unread (it is stored already); and an ingest whose texts were
read ahead stores what one that read them itself stores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, hours, rss, write_warc
from tests.conftest import make_pipeline
from tests.ingest.test_concurrency import FEEDS, _captures, _provenance
from tracker.detection.normalise import document_of, to_document
from tracker.ingest import readahead
from tracker.ingest.archives import ingest_paths
from tracker.model import ParsedFeed
from tracker.pipeline import entries

FEED = "https://origin.example/feed"


def _body(*seeds: int) -> bytes:
    items = [Item(f"Story {s}", f"https://origin.example/{s}", article(s, paragraphs=3), T0 + hours(s)) for s in seeds]
    return rss("Origin", FEED, items)


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "_seen", type(readahead._seen)())


def test_entries_are_read_as_the_storing_process_would_read_them() -> None:
    parsed = readahead.parse_and_read(_body(1, 2), "application/rss+xml", T0, FEED)
    assert isinstance(parsed, ParsedFeed) and len(parsed.entries) == 2
    for entry in parsed.entries:
        assert entry.read_body is not None
        assert document_of(entry.read_body) == to_document(entry)
        assert entry.read_body.paragraphs and "Story" not in entry.read_body.paragraphs[0]  # the body, not the title


def test_an_entry_seen_before_in_its_feed_is_not_read_again() -> None:
    readahead.parse_and_read(_body(1), "application/rss+xml", T0, FEED)
    again = readahead.parse_and_read(_body(2, 1), "application/rss+xml", T0 + hours(1), FEED)
    assert isinstance(again, ParsedFeed)
    assert [e.read_body is not None for e in again.entries] == [True, False]
    elsewhere = readahead.parse_and_read(_body(1), "application/rss+xml", T0, "https://mirror.example/feed")
    assert isinstance(elsewhere, ParsedFeed) and elsewhere.entries[0].read_body is not None


def test_an_entry_its_reader_fails_on_is_left_to_the_storing_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(entry: object) -> None:
        raise ValueError("hostile markup")

    monkeypatch.setattr(readahead, "read_body", fails)
    parsed = readahead.parse_and_read(_body(1), "application/rss+xml", T0, FEED)
    assert isinstance(parsed, ParsedFeed) and parsed.entries[0].read_body is None


def _texts(url: str) -> dict[str, str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT i.url, v.text FROM item_versions v JOIN items i ON i.id = v.item_id")).all()
    engine.dispose()
    return dict(rows)  # type: ignore[arg-type]


def test_an_ingest_read_ahead_stores_what_one_read_inline_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warc = write_warc(tmp_path / "stories.warc.gz", _captures(4))
    stored = {}
    for workers in (0, 1):
        if workers:  # the storing process reads no text itself: its reader fails here
            monkeypatch.setattr(entries, "to_document", lambda entry: 1 / 0)
        url = f"sqlite:///{tmp_path}/w{workers}.sqlite3"
        report = ingest_paths(make_pipeline(url, FEEDS), [warc], workers=workers)
        assert report.errors == 0 and report.new_items == 16 and not report.warnings
        stored[workers] = (_texts(url), _provenance(url))
    assert stored[1] == stored[0]
    assert len(stored[1][0]) == 16 and any("Read the full story" in t for t in stored[1][0].values())

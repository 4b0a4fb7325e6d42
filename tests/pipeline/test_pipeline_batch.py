"""Captures stored several to a transaction by `ingest` (`Pipeline.process_many`)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss, write_warc
from tests.conftest import make_pipeline
from tracker.ingest.archives import ingest_paths
from tracker.model import Capture
from tracker.pipeline import entries
from tracker.pipeline.detect import Detector

ORIGIN = "https://origin.example/rss"
MIRROR = "https://mirror.example/rss"
POISON = "https://poison.example/rss"


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = [tuple(row) for row in conn.execute(sa.text(sql))]
    engine.dispose()
    return found


def _network() -> list[Capture]:
    stories = [Item(f"Story {n}", f"https://origin.example/{n}", article(n), T0 + hours(n)) for n in range(4)]
    copies = [Item(f"Copy {n}", f"https://mirror.example/{n}", article(n), T0 + hours(n + 1)) for n in range(4)]
    captures = []
    for hour in range(5):
        captures.append(capture(ORIGIN, T0 + hours(hour), rss("Origin", "https://origin.example/", stories[: hour + 1])))
        captures.append(capture(MIRROR, T0 + hours(hour) + hours(0.5), rss("Mirror", "https://mirror.example/", copies[:hour])))
    return captures


PROVENANCE = (
    "SELECT i.url, o.url, par.url, p.relation FROM provenance p JOIN items i ON i.id = p.item_id "
    "JOIN items o ON o.id = p.original_item_id LEFT JOIN items par ON par.id = p.parent_item_id ORDER BY i.url"
)


def test_a_batch_stores_what_the_captures_one_by_one_store(tmp_path: Path) -> None:
    one_by_one, batched = f"sqlite:///{tmp_path / 'one.sqlite3'}", f"sqlite:///{tmp_path / 'batch.sqlite3'}"
    pipeline = make_pipeline(one_by_one)
    singles = [pipeline.process(c) for c in _network()]
    reports = make_pipeline(batched).process_many([(c, None) for c in _network()])
    assert [(r.captures, r.new_items, r.republications) for r in reports] == [
        (r.captures, r.new_items, r.republications) for r in singles
    ]
    assert sum(r.republications for r in reports) == 4
    assert _rows(batched, PROVENANCE) == _rows(one_by_one, PROVENANCE)


def test_a_capture_the_database_refuses_fails_alone_and_its_batch_is_stored(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    pipeline = make_pipeline(url)
    real = pipeline._entries

    def refuse(session, feed_id, publisher_id, entries, when, report, dirty, feed_url, *rest):  # type: ignore[no-untyped-def]
        found = real(session, feed_id, publisher_id, entries, when, report, dirty, feed_url, *rest)
        if feed_url == POISON:
            raise sa.exc.DataError("INSERT …", {}, Exception("value too long for type character varying(500)"))
        return found

    monkeypatch.setattr(pipeline, "_entries", refuse)
    poison = capture(POISON, T0 + hours(1), rss("Poison", "https://poison.example/", [Item("P", "https://poison.example/p", article(9), T0)]))
    batch = _network()[:2] + [poison] + _network()[2:4]
    reports = pipeline.process_many([(c, None) for c in batch])
    assert [r.store_error is not None for r in reports] == [False, False, True, False, False]
    assert sorted(u for (u,) in _rows(url, "SELECT url FROM items")) == [
        "https://mirror.example/0", "https://origin.example/0", "https://origin.example/1",
    ]
    assert _rows(url, "SELECT COUNT(*) FROM captures WHERE error_kind = 'store'") == [(1,)]


def test_ingest_again_skips_stored_captures_and_stores_a_later_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    captures = _network()
    first = write_warc(tmp_path / "first.warc.gz", captures[:6])
    report = ingest_paths(make_pipeline(url), [first], workers=0)
    assert (report.captures, report.skipped_known) == (6, 0)
    # The same archive and a later one: the stored captures are known, the new ones stored.
    later = write_warc(tmp_path / "later.warc.gz", captures[6:])
    report = ingest_paths(make_pipeline(url), [first, later], workers=0)
    assert (report.captures, report.skipped_known, report.new_items) == (4, 6, 3)
    assert len(_rows(url, PROVENANCE)) == 8


MATCHES = (
    "SELECT a.url, b.url FROM matches m JOIN items a ON a.id = m.item_a JOIN items b ON b.id = m.item_b ORDER BY a.url, b.url"
)


def test_a_capture_of_more_new_items_than_it_keeps_in_memory_decides_the_same(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A mirror publishing six copies in one capture, two of them of one story.
    stories = [Item(f"Story {n}", f"https://origin.example/{n}", article(n), T0 + hours(n)) for n in range(4)]
    copies = [Item(f"Copy {n}", f"https://mirror.example/{n}", article(n % 4), T0 + hours(5)) for n in range(6)]
    network = [
        capture(ORIGIN, T0 + hours(4), rss("Origin", "https://origin.example/", stories)),
        capture(MIRROR, T0 + hours(6), rss("Mirror", "https://mirror.example/", copies)),
    ]
    kept: list[int] = []
    decide = Detector.decide

    def watched(self, session, dirty, current, report, known=None):  # type: ignore[no-untyped-def]
        kept.append(len(known.items))
        return decide(self, session, dirty, current, report, known)

    whole, bounded = f"sqlite:///{tmp_path / 'whole.sqlite3'}", f"sqlite:///{tmp_path / 'bounded.sqlite3'}"
    for c in network:
        make_pipeline(whole).process(c)
    monkeypatch.setattr(entries, "KNOWN_ITEMS", 2)
    monkeypatch.setattr(Detector, "decide", watched)
    for c in network:
        make_pipeline(bounded).process(c)
    assert kept == [2, 2]  # each capture kept two of its new items in memory and read the rest back
    assert _rows(bounded, PROVENANCE) == _rows(whole, PROVENANCE)
    assert _rows(bounded, MATCHES) == _rows(whole, MATCHES)
    assert len(_rows(whole, MATCHES)) >= 6

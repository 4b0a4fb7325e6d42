"""Oversized inputs: one huge entry costs bounded memory, and what a user sees of it is exact.

An entry's body leaves the parse stage cut to `parse.ENTRY_MARKUP_MAX` characters and its
text is read up to `normalise.ENTRY_TEXT_MAX`; the version records the body's full length
and that its text was cut. (Memory itself is shown by bench/memory_bench.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, html, rss, write_warc
from tests.conftest import make_pipeline
from tracker.reader.archive import WARC_BODY_MAX
from tracker.ingest.archives import INLINE_PARSE_BYTES, ingest_paths
from tracker.detection.normalise import ENTRY_TEXT_MAX
from tracker.reader.parse import ENTRY_MARKUP_MAX, FIELD_MAX, parse_feed

ORIGIN = "https://origin.example/feed"
COPIER = "https://copier.example/feed"
OTHER = "https://other.example/feed"
FEEDS = [{"url": ORIGIN, "publisher": "Origin"}, {"url": COPIER, "publisher": "Copier"}, {"url": OTHER, "publisher": "Other"}]
CONFIGURATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _huge(paragraphs: int = 800) -> list[str]:
    # 800 paragraphs of 60 words: about 330,000 characters of text, over ENTRY_TEXT_MAX.
    return article(7, paragraphs=paragraphs, words=60)


def _versions(url: str) -> dict[str, tuple[str, int | None, bool]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT i.url, v.text, v.body_chars, v.text_truncated FROM item_versions v JOIN items i ON i.id = v.item_id"
        )).all()
    engine.dispose()
    return {r.url: (r.text, r.body_chars, bool(r.text_truncated)) for r in rows}


def _parents(url: str) -> dict[str, str | None]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT item_id, url, parent_item_id FROM item_provenance")).all()
    engine.dispose()
    urls = {r.item_id: r.url for r in rows}
    return {r.url: urls.get(r.parent_item_id) for r in rows}


def test_a_huge_entry_is_stored_with_its_text_capped_and_its_full_length_recorded(sqlite_url: str) -> None:
    paragraphs = _huge()
    item = Item("A very long report", "https://origin.example/long", paragraphs, T0)
    body = rss("Origin", "https://origin.example/", [item], full_content=False)
    served = len(html(paragraphs))
    pipeline = make_pipeline(sqlite_url, FEEDS)
    report = pipeline.process(capture(ORIGIN, T0, body))
    assert report.new_items == 1 and not report.errors
    text, body_chars, truncated = _versions(sqlite_url)["https://origin.example/long"]
    assert truncated and body_chars == served
    assert ENTRY_TEXT_MAX - 1000 < len(text) <= ENTRY_TEXT_MAX
    # The stored text is the beginning of the entry, cut between words.
    assert "\n".join(paragraphs).startswith(text)
    assert re.fullmatch(r"[\w .\n]+", text) and not text.endswith(" ")
    assert "\n".join(paragraphs)[len(text)] in " \n"


def test_a_copy_of_the_beginning_of_a_huge_entry_is_found_as_its_republication(sqlite_url: str) -> None:
    paragraphs = _huge()
    original = Item("A very long report", "https://origin.example/long", paragraphs, T0)
    copy = Item("A very long report", "https://copier.example/long", paragraphs[:40], T0 + hours(3))
    pipeline = make_pipeline(sqlite_url, FEEDS)
    pipeline.process(capture(ORIGIN, T0 + hours(1), rss("Origin", "https://origin.example/", [original], full_content=False)))
    report = pipeline.process(capture(COPIER, T0 + hours(4), rss("Copier", "https://copier.example/", [copy], full_content=False)))
    assert report.republications == 1
    assert _parents(sqlite_url)["https://copier.example/long"] == "https://origin.example/long"


def test_a_normal_entry_is_stored_whole_with_its_length(sqlite_url: str) -> None:
    paragraphs = article(3)
    item = Item("A normal story", "https://origin.example/normal", paragraphs, T0)
    pipeline = make_pipeline(sqlite_url, FEEDS)
    pipeline.process(capture(ORIGIN, T0, rss("Origin", "https://origin.example/", [item], full_content=False)))
    assert _versions(sqlite_url)["https://origin.example/normal"] == ("\n".join(paragraphs), len(html(paragraphs)), False)


def test_the_parse_stage_cuts_an_entry_body_and_its_fields_and_counts_the_body() -> None:
    markup = "<p>" + "word " * (ENTRY_MARKUP_MAX // 4) + "</p>"
    title = "T" * (FIELD_MAX * 3)
    document = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>F</title><link>https://f.example/</link>'
        f"<item><title>{title}</title><link>https://f.example/1</link><description><![CDATA[{markup}]]></description>"
        "</item></channel></rss>"
    ).encode()
    entry = parse_feed(document).entries[0]
    assert len(entry.content) == ENTRY_MARKUP_MAX and markup.startswith(entry.content)
    assert entry.content_chars == len(markup) and entry.content_cut
    assert len(entry.title) == FIELD_MAX


def test_an_archive_with_a_large_record_among_small_ones_is_stored_whole_in_order(tmp_path: Path) -> None:
    # The large record is parsed in the ingesting process, the small ones by a parser process.
    large = [Item(f"Long {n}", f"https://other.example/{n}", article(100 + n, paragraphs=300), T0) for n in range(20)]
    large_body = rss("Other", "https://other.example/", large, full_content=False)
    # Made large enough by white space after the document, which a feed may have.
    large_body += b"\n" * (INLINE_PARSE_BYTES - len(large_body))
    small = [Item(f"Story {n}", f"https://origin.example/{n}", article(n), T0) for n in range(3)]
    captures = [
        capture(ORIGIN, T0 + hours(1), rss("Origin", "https://origin.example/", small[:1])),
        capture(OTHER, T0 + hours(2), large_body),
        capture(ORIGIN, T0 + hours(3), rss("Origin", "https://origin.example/", small)),
    ]
    warc = write_warc(tmp_path / "mixed.warc.gz", captures)
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    report = ingest_paths(make_pipeline(url, FEEDS), [warc], workers=1)
    assert (report.captures, report.new_items, report.errors) == (3, 23, 0)
    stored = _versions(url)
    assert len(stored) == 23 and not any(truncated for _, _, truncated in stored.values())


def test_the_configuration_page_documents_the_caps() -> None:
    text = CONFIGURATION_DOC.read_text()
    for figure in (ENTRY_TEXT_MAX, ENTRY_MARKUP_MAX, FIELD_MAX):
        assert f"**{figure:,} characters" in text
    assert f"**{WARC_BODY_MAX // 2**20} MiB**" in text
    assert "body_chars" in text and "text_truncated" in text


def test_a_warc_record_over_the_cap_is_skipped_and_reported_and_the_rest_stored(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tracker.reader.archive

    small = rss("Origin", "https://origin.example/", [Item("Story", "https://origin.example/s", article(1), T0)])
    big = rss("Other", "https://other.example/", [Item("Long", "https://other.example/l", article(2, paragraphs=200), T0)])
    monkeypatch.setattr(tracker.reader.archive, "WARC_BODY_MAX", len(big) - 1)
    warc = write_warc(tmp_path / "a.warc.gz", [capture(OTHER, T0, big), capture(ORIGIN, T0 + hours(1), small)])
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    report = ingest_paths(make_pipeline(url, FEEDS), [warc], workers=0)
    assert (report.captures, report.new_items, report.failed_records) == (1, 1, 1)
    assert any("1 too large" in warning for warning in report.warnings)
    assert list(_versions(url)) == ["https://origin.example/s"]


def test_a_text_of_several_megabytes_in_a_feed_is_cut_before_parsing_and_its_length_kept() -> None:
    markup = "<p>" + "héllo wörld and more " * 250_000 + "</p>"  # 5.25 M characters, 5.75 MB
    document = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>'
        f"<item><title>A</title><link>https://f.example/1</link><description><![CDATA[{markup}]]></description></item>"
        "<item><title>B</title><link>https://f.example/2</link><description>after it</description></item>"
        "</channel></rss>"
    ).encode()
    first, second = parse_feed(document).entries
    assert markup.startswith(first.content) and len(first.content) == ENTRY_MARKUP_MAX
    assert first.content_chars == len(markup) and "[cut" not in first.content
    assert (second.title, second.content, second.content_chars) == ("B", "after it", 8)

"""A large feed document is read a slice of entries at a time (tracker.reader.feedslices), and
gives exactly the entries, title, link and TTL that parsing it whole gives."""

from __future__ import annotations

from datetime import datetime

import pytest

from tracker.reader import parse
from tracker.reader.parse import parse_feed

RSS = (
    '<?xml version="1.0" encoding="windows-1251"?>\n'
    '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<channel><title>Ledger \u0430</title><link>https://ledger.example/</link><ttl>30</ttl>{items}</channel></rss>"
)
RSS_ITEM = (
    "<item><title>Story {i} \u0430 &amp; more</title><link>https://ledger.example/{i}</link><guid>g-{i}</guid>"
    "<dc:creator>Ann {i}</dc:creator><pubDate>Mon, 06 Jan 2025 06:{m:02d}:00 +0000</pubDate>"
    '<source url="https://wire.example/feed">Wire</source>'
    "<description>Short {i}</description><content:encoded><![CDATA[<p>Body {i} &amp; words</p><p>{filler}</p>]]></content:encoded></item>"
)
ATOM = (
    '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Arts</title>'
    '<link href="https://arts.example/"/>{items}</feed>'
)
ATOM_ENTRY = (
    '<entry><id>tag:arts.example,2025:{i}</id><title type="html">Piece {i} &lt;b&gt;x&lt;/b&gt;</title>'
    '<link href="https://arts.example/{i}"/><updated>2025-01-06T06:{m:02d}:00Z</updated>'
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Text {i}</p><p>{filler}</p></div></content></entry>'
)
RDF = (
    '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
    '<channel rdf:about="https://wire.example/"><title>Wire</title><link>https://wire.example/</link></channel>{items}</rdf:RDF>'
)
RDF_ITEM = '<item rdf:about="https://wire.example/{i}"><title>Wire {i}</title><link>https://wire.example/{i}</link><description>{filler}</description></item>'


def _document(frame: str, item: str, count: int = 60) -> bytes:
    items = "".join(item.format(i=i, m=i % 60, filler=f"word{i} " * 300) for i in range(count))
    encoding = "windows-1251" if "windows-1251" in frame else "utf-8"
    return frame.format(items=items).encode(encoding)


@pytest.mark.parametrize("frame,item", [(RSS, RSS_ITEM), (ATOM, ATOM_ENTRY), (RDF, RDF_ITEM)], ids=["rss2", "atom", "rss1"])
def test_a_feed_read_in_slices_gives_what_it_gives_whole(monkeypatch: pytest.MonkeyPatch, frame: str, item: str) -> None:
    body = _document(frame, item)
    captured = datetime(2025, 1, 7)
    whole = parse_feed(body, None, captured)
    calls: list[object] = []
    real = parse._parse_in_slices
    monkeypatch.setattr(parse, "SLICE_FROM_BYTES", 10_000)
    monkeypatch.setattr(parse, "SLICE_BYTES", 20_000)
    monkeypatch.setattr(parse, "_parse_in_slices", lambda *a: calls.append(real(*a)) or calls[-1])
    sliced = parse_feed(body, None, captured)
    assert calls and calls[0] is not None, "the document was not read in slices"
    assert len(whole.entries) == 60
    assert sliced == whole


def test_a_document_lxml_cannot_read_is_parsed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTML entity no XML declares (common in real feeds): feedparser's lenient parser reads it."""
    body = _document(RSS, RSS_ITEM).replace(b"&amp; more", b"&nbsp; more")
    monkeypatch.setattr(parse, "SLICE_FROM_BYTES", 10_000)
    monkeypatch.setattr(parse, "SLICE_BYTES", 20_000)
    feed = parse_feed(body, None)
    assert len(feed.entries) == 60 and feed.title == "Ledger \u0430"


def test_a_charset_named_only_by_the_http_header_is_parsed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _document(RSS, RSS_ITEM).replace(b' encoding="windows-1251"', b"")
    whole = parse_feed(body, "application/rss+xml; charset=windows-1251")
    monkeypatch.setattr(parse, "SLICE_FROM_BYTES", 10_000)
    monkeypatch.setattr(parse, "_parse_in_slices", lambda *a: pytest.fail("sliced"))
    assert parse_feed(body, "application/rss+xml; charset=windows-1251") == whole
    assert whole.entries[0].title.startswith("Story 0 \u0430")

"""A feed parsed again hands feedparser only its new entries (tracker.reader.entrymemory,
tracker.reader.feedlayout), and the result is exactly the result of parsing it whole.

Each test parses a sequence of captures of one feed twice, without the memory (no feed URL)
and with it, and asserts the same ParsedFeed (or the same error) at every capture: entries
added, edited, removed, reordered; a head that changes its namespaces or its xml:base; a
document feedparser complains of; and the documents where feedparser carries state from
one part of the document into an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from tracker.errors import ParseError
from tracker.model import ParsedFeed
from tracker.reader.entrymemory import EntryMemory
from tracker.reader.links import with_whole_links
from tracker.reader.parse import MEMORY, parse_capture_body

FEED = "https://ledger.example/feed"
T0 = datetime(2025, 1, 6, 12, 0)

RSS2 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"{ns} xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n<title>Ledger</title><link>https://ledger.example/</link>'
    "<lastBuildDate>{built}</lastBuildDate><ttl>30</ttl>\n{items}\n</channel>\n</rss>\n"
)
RSS2_ITEM = (
    "<item><title>{title}</title><link>https://ledger.example/{i}</link><guid isPermaLink=\"false\">g-{i}</guid>"
    "<pubDate>Mon, 06 Jan 2025 {hour:02d}:{minute:02d}:00 +0000</pubDate><dc:creator>Ann \u00e9 {i}</dc:creator>"
    "<description><![CDATA[<p>Short {i}</p>]]></description>"
    "<content:encoded><![CDATA[<p>{body}</p><p>Story {i} goes on \u2014 at length.</p>]]></content:encoded></item>"
)
ATOM = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{ns}>\n<title>Arts</title>'
    '<id>urn:arts</id><link href="https://arts.example/"/><updated>{built}</updated>\n{items}\n</feed>\n'
)
ATOM_ITEM = (
    '<entry><id>tag:arts.example,2025:{i}</id><title type="html">{title} &lt;b&gt;{i}&lt;/b&gt;</title>'
    '<link href="https://arts.example/{i}"/><link rel="via" href="https://wire.example/{i}" title="Wire"/>'
    "<published>2025-01-06T{hour:02d}:{minute:02d}:00Z</published><updated>2025-01-06T{hour:02d}:{minute:02d}:00Z</updated>"
    '<author><name>Bo {i}</name></author><summary>Sum {i}</summary>'
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>{body}</p><p>Piece {i}.</p></div></content></entry>'
)
RSS1 = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
    ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"{ns}>\n'
    '<channel rdf:about="https://wire.example/"><title>Wire</title><link>https://wire.example/</link>'
    "<dc:date>{built}</dc:date><items><rdf:Seq/></items></channel>\n{items}\n</rdf:RDF>\n"
)
RSS1_ITEM = (
    '<item rdf:about="https://wire.example/{i}"><title>{title}</title><link>https://wire.example/{i}</link>'
    "<dc:date>2025-01-06T{hour:02d}:{minute:02d}:00Z</dc:date><description>{body} (wire {i})</description></item>"
)
FORMATS = {"rss2": (RSS2, RSS2_ITEM), "atom": (ATOM, ATOM_ITEM), "rss1": (RSS1, RSS1_ITEM)}


def document(frame: str, item: str, ids: Sequence[int], step: int, *, edited: Sequence[int] = (), ns: str = "", extra: str = "") -> bytes:
    """A capture of a feed holding entries `ids` (those in `edited` with a new text)."""
    items = "\n".join(
        item.format(
            i=i, title=f"Story {i}" + (" (updated)" if i in edited else ""), hour=10 + i // 60, minute=i % 60,
            body=f"Text of story {i}" + (" with a correction" if i in edited else ""),
        )
        for i in ids
    )
    built = (T0 + timedelta(minutes=10 * step)).isoformat() + "Z"
    return frame.format(ns=ns, built=built, items=items + extra).encode("utf-8")


def outcome(body: bytes, content_type: str | None, when: datetime, feed: str | None) -> ParsedFeed | str | None:
    parsed = parse_capture_body(body, content_type, when, feed)
    return f"{type(parsed).__name__}: {parsed}" if isinstance(parsed, ParseError) else parsed


def assert_same_with_memory(bodies: Sequence[bytes], content_type: str | None = None) -> list[ParsedFeed | str | None]:
    """Each capture in turn parsed whole and with the memory: the same result every time."""
    MEMORY.clear()
    results = []
    for step, body in enumerate(bodies):
        when = T0 + timedelta(minutes=10 * step)
        whole = outcome(body, content_type, when, None)
        whole = with_whole_links(whole, FEED) if isinstance(whole, ParsedFeed) else whole  # as the feed's URL makes them
        remembered = outcome(body, content_type, when, FEED)
        assert remembered == whole, f"capture {step} differs with the memory"
        results.append(whole)
    return results


@pytest.mark.parametrize("name", FORMATS)
def test_a_feed_that_changes_capture_after_capture_parses_as_it_does_whole(name: str) -> None:
    frame, item = FORMATS[name]
    bodies = [
        document(frame, item, [1, 2, 3], 0),
        document(frame, item, [4, 1, 2, 3], 1),  # one added
        document(frame, item, [4, 1, 2, 3], 2, edited=[2]),  # one edited
        document(frame, item, [4, 2, 3], 3, edited=[2]),  # one removed
        document(frame, item, [3, 4, 2], 4, edited=[2]),  # reordered
        document(frame, item, [3, 4, 2], 5, edited=[2], ns=' xmlns:x="urn:x-other"'),  # the head's namespaces change
        document(frame, item, [3, 4, 2], 6, edited=[2], ns=' xml:base="https://elsewhere.example/base/"'),
        document(frame, item, [5, 3, 4, 2], 7, edited=[2]).replace(b">Story 5", b">Story&nbsp;5"),  # bozo
        document(frame, item, [5, 3, 4, 2], 8, edited=[2]),
    ]
    results = assert_same_with_memory(bodies)
    assert all(isinstance(r, ParsedFeed) for r in results)
    assert [len(r.entries) for r in results] == [3, 4, 4, 3, 3, 3, 3, 4, 4]  # type: ignore[union-attr]
    assert results[7].warning and not results[8].warning  # type: ignore[union-attr]
    # The memory did its work: the entries repeated in the same context were not parsed
    # again (captures 1 to 4; the head's changes and the bozo document start afresh).
    assert MEMORY.recalled == 3 + 3 + 3 + 3


def test_the_memory_is_what_makes_a_repeated_capture_cheap() -> None:
    frame, item = FORMATS["rss2"]
    body = document(frame, item, range(20), 0)
    assert_same_with_memory([body, document(frame, item, [99, *range(20)], 1)])
    assert (MEMORY.recalled, MEMORY.missed) == (20, 21)


def test_a_date_is_judged_against_each_capture_not_the_first_that_carried_it() -> None:
    frame, item = FORMATS["atom"]
    # Entry 140 claims 12:20: after a capture at 12:00 (beyond 15 minutes of clock skew),
    # not after one at 12:10. Remembered from the first capture, it still claims its date in the second.
    body = document(frame, item, [1, 140], 0)
    first, second = assert_same_with_memory([body, body])
    assert isinstance(first, ParsedFeed) and isinstance(second, ParsedFeed)
    assert first.entries[1].claimed_at is None and "after the capture" in (first.entries[1].claimed_rejected or "")
    assert second.entries[1].claimed_at == datetime(2025, 1, 6, 12, 20)


def test_a_base_set_inside_an_entry_reaches_the_entries_after_it() -> None:
    frame = RSS2
    based = '<item><title>A</title><link xml:base="https://other.example/dir/">a</link><guid>ga</guid></item>'
    plain = "<item><title>B</title><link>b</link><guid>gb</guid></item>"
    bodies = [frame.format(ns="", built="x", items=items).encode() for items in (based + plain, plain, based + plain, plain + based)]
    results = assert_same_with_memory(bodies)
    assert [e.link for e in results[0].entries] == ["https://other.example/dir/a", "https://other.example/dir/b"]  # type: ignore[union-attr]
    assert [e.link for e in results[1].entries] == ["https://ledger.example/b"]  # type: ignore[union-attr]


def test_an_entry_read_differently_after_a_channel_summary_is_parsed_where_it_stands() -> None:
    # After a channel-level content:encoded, feedparser reads the next item's second
    # description as its summary, not as its content: that item's parse depends on its place.
    frame = RSS2.replace("<ttl>30</ttl>", "<ttl>30</ttl><content:encoded>About the ledger</content:encoded>")
    entry = "<item><title>{0}</title><description>short {0}</description><description>second, longer {0}</description><guid>g{0}</guid></item>"
    a, b, c = (entry.format(name) for name in "abc")
    again = '<webfeeds:x xmlns:webfeeds="urn:w"/><content:encoded>again</content:encoded>'
    summarised = "<description>The ledger, described</description>"  # after a summary: read as content
    lists = (a + b, b, a + b, c + a + b, a + c + again + b, a + b + c, c + summarised + a + b, c + a + summarised + b)
    results = assert_same_with_memory([frame.format(ns="", built="x", items=items).encode() for items in lists])
    first, second = results[0].entries  # type: ignore[union-attr]
    assert (first.content, first.summary) == ("second, longer a", "")
    assert (second.content, second.summary) == ("second, longer b", "short b")


def test_head_elements_between_entries_and_a_title_after_them() -> None:
    between = '<webfeeds:icon xmlns:webfeeds="http://webfeeds.org/rss/1.0">https://ledger.example/i.png</webfeeds:icon>'
    item = FORMATS["rss2"][1]
    one, two, three = (item.format(i=i, title=f"S{i}", hour=10, minute=i, body=f"B{i}") for i in (1, 2, 3))
    bodies = [
        RSS2.format(ns="", built="x", items=one + between + two).encode(),
        RSS2.format(ns="", built="y", items=three + one + between + two).encode(),
        RSS2.format(ns="", built="y", items=three + one + two + "<title>Ledger, renamed</title>").encode(),
        RSS2.format(ns="", built="z", items=one + two + "<title>Ledger, renamed</title>").encode(),
    ]
    results = assert_same_with_memory(bodies)
    assert results[2].title == "Ledger, renamed"  # type: ignore[union-attr]


def test_namespaces_declared_inside_entries() -> None:
    entry = '<item><title>{0}</title><guid>g{0}</guid><x:note xmlns:x="urn:x-notes">n{0}</x:note><media:title xmlns:media="http://search.yahoo.com/mrss/">m{0}</media:title></item>'
    odd = '<item><title>odd</title><guid>godd</guid><note xmlns="urn:x-notes">bare</note><atom:link xmlns:atom="http://www.w3.org/2005/Atom" href="https://x.example/"/></item>'
    a, b = entry.format("a"), entry.format("b")
    # A prefix an entry binds to another namespace stays bound for feedparser: an element in
    # that namespace in a later entry then takes the prefix, and becomes its content here.
    hijack = '<item><title>h</title><guid>gh</guid><content:note xmlns:content="urn:x-weird">n</content:note></item>'
    hidden = '<item><title>hidden</title><guid>gx</guid><encoded xmlns="urn:x-weird">read as content after the hijack</encoded></item>'
    lists = (a + b, odd + a + b, b + odd, a + b, hidden, hijack + hidden, hidden + hijack, hijack + a + hidden)
    results = assert_same_with_memory([RSS2.format(ns="", built="x", items=items).encode() for items in lists])
    assert results[5].entries[1].content == "read as content after the hijack"  # type: ignore[union-attr]
    assert results[4].entries[0].content == ""  # type: ignore[union-attr]


@pytest.mark.parametrize("content_type", [None, "application/rss+xml; charset=UTF-8", "text/html", "text/xml", "application/rss+xml; charset=windows-1252"])
def test_what_the_content_type_changes_is_the_same_with_the_memory(content_type: str | None) -> None:
    frame, item = FORMATS["rss2"]
    ascii_only = [document(frame, item, ids, step).replace("é".encode(), b"e").replace("—".encode(), b"-") for step, ids in enumerate(([1, 2], [3, 1, 2]))]
    bodies = [document(frame, item, [1, 2], 0), document(frame, item, [3, 1, 2], 1), *ascii_only, document(frame, item, [4, 3, 1, 2], 2)]
    # Entries remembered from a capture feedparser read as UTF-8, then new ones in ASCII alone.
    plain_item = "<item><title>Plain</title><guid>plain</guid><description>ascii only</description></item>"
    head_ascii = frame.replace("<title>Ledger</title>", "<title>Ledger</title>")
    mixed = head_ascii.format(ns="", built="b", items=item.format(i=7, title="S7", hour=10, minute=7, body="\u00e9t\u00e9"))
    bodies += [mixed.encode(), mixed.replace("<item>", plain_item + "<item>", 1).encode()]
    # A comment after the root longer than the 300 bytes looked at for the root's end.
    bodies.append(ascii_only[0].replace(b"</rss>\n", b"</rss>\n<!-- " + b"x" * 400 + b" -->\n"))
    results = assert_same_with_memory(bodies, content_type)
    if content_type == "text/html":
        assert "not an XML media type" in (results[2].warning or "")  # type: ignore[union-attr]
        assert "incomplete feed document" in results[-1]  # type: ignore[operator]


def test_documents_the_memory_cannot_cut_still_parse_as_whole() -> None:
    item = FORMATS["rss2"][1]
    a, b = (item.format(i=i, title=f"S{i}", hour=10, minute=i, body=f"B{i}") for i in (1, 2))
    rss = RSS2.format(ns="", built="x", items=a + b)
    bodies = [
        rss.encode(),
        rss.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", '<?xml version="1.0" encoding="windows-1251"?>').encode("cp1251", "replace"),
        rss.replace("\n<rss", '\n<!DOCTYPE rss [<!ENTITY story "a story">]>\n<rss').replace("B1", "&story;").encode(),
        rss.replace("</channel>", "<item/></channel>").encode(),
        rss.replace("</channel>", "<image><title>Logo</title><url>https://ledger.example/l.png</url></image></channel>").encode(),
        rss.encode()[:-40],  # cut off
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": "1", "content_text": "x"}]}',
        b"<html><body>Not a feed</body></html>",
        rss.encode(),
    ]
    results = assert_same_with_memory(bodies)
    assert isinstance(results[5], str) and "incomplete feed document" in results[5]


def test_the_memory_stays_within_its_bounds() -> None:
    memory = EntryMemory(max_bytes=10_000, per_feed_min=4)
    for feed in range(50):
        keys = [f"{feed}-{i}".encode() for i in range(10)]
        memory.keep(f"feed{feed}", b"ctx", keys, [(key, ("entry", key), 300) for key in keys])
        assert memory.size <= 10_000
    # The feed just parsed is remembered; three fit in the bound (10 entries of 300 bytes each).
    assert memory.recall("feed49", b"ctx", [b"49-0", b"49-9"]) == [("entry", b"49-0"), ("entry", b"49-9")]
    remembered = [feed for feed in range(50) if memory.recall(f"feed{feed}", b"ctx", [f"{feed}-0".encode()]) != [None]]
    assert len(remembered) == 3 and 49 in remembered
    # Per feed: its latest capture's entries and as many again.
    for capture in range(10):
        keys = [f"c{capture}-{i}".encode() for i in range(3)]
        memory.keep("busy", b"ctx", keys, [(key, key, 10) for key in keys])
    assert memory.recall("busy", b"ctx", [b"c9-0", b"c8-0", b"c0-0"]) == [b"c9-0", b"c8-0", None]
    # A feed whose document context changes forgets what it parsed in the old one.
    memory.keep("busy", b"other", [b"n"], [(b"n", "n", 10)])
    assert memory.recall("busy", b"ctx", [b"c9-0"]) == [None]
    # One feed over the whole bound keeps only what fits.
    big = [f"big{i}".encode() for i in range(100)]
    memory.keep("big", b"ctx", big, [(key, key, 1_000) for key in big])
    assert memory.size <= 10_000


def test_feeds_polled_in_turn_more_than_fit_keep_some_remembered() -> None:
    # Room for three feeds of ten entries; twelve feeds polled in turn, one new entry each time.
    memory = EntryMemory(max_bytes=3 * 20 * 100, per_feed_min=10)

    def poll(feed: int, round_: int) -> int:
        keys = [f"{feed}-{round_ + i}".encode() for i in range(10)]
        found = sum(hit is not None for hit in memory.recall(f"feed{feed}", b"ctx", keys))
        memory.keep(f"feed{feed}", b"ctx", keys, [(key, key, 100) for key in keys])
        return found

    recalled = [sum(poll(feed, round_) for feed in range(12)) for round_ in range(6)]
    # Forgetting the feed parsed longest ago would forget each one just before it comes back.
    assert recalled[0] == 0 and all(count >= 2 * 9 for count in recalled[2:])
    # A feed no longer polled does not stay remembered for ever.
    remembered = [feed for feed in range(12) if memory.recall(f"feed{feed}", b"ctx", [f"{feed}-5".encode()]) != [None]]
    for round_ in range(6, 12):
        for feed in [f for f in range(12) if f != remembered[0]]:
            poll(feed, round_)
    assert memory.recall(f"feed{remembered[0]}", b"ctx", [f"{remembered[0]}-5".encode()]) == [None]

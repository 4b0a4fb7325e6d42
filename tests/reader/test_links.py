"""Links written as paths are read against the feed's URL."""

from __future__ import annotations

from tracker.reader.links import feed_base, whole
from tracker.reader.parse import parse_feed

_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title><link>/</link>
<item><title>One</title><link>/2024/one/</link><guid isPermaLink="false">g1</guid>
<source url="/feeds/partner.xml">Partner</source><description>text one</description></item>
<item><title>Two</title><link>https://elsewhere.example/two</link><description>text two</description></item>
</channel></rss>"""

_ATOM = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry xml:base="/Changelog-16/"><title>E</title><id>x</id><link href="notes.html"/><updated>2024-01-01T00:00:00Z</updated></entry></feed>"""


def test_an_entrys_path_is_a_page_on_the_feeds_site_and_never_carries_its_password() -> None:
    parsed = parse_feed(_RSS, "application/rss+xml", feed_url="https://reader:s3cret@news.example.org/rss")
    one, two = parsed.entries
    assert one.link == "https://news.example.org/2024/one/"
    assert one.attributions[0].url == "https://news.example.org/feeds/partner.xml"
    assert two.link == "https://elsewhere.example/two"
    assert parsed.site_url == "https://news.example.org/"
    assert "s3cret" not in repr(parsed) and "reader" not in repr(parsed)


def test_an_atom_base_that_is_a_path_is_read_against_the_feed_too() -> None:
    parsed = parse_feed(_ATOM, "application/atom+xml", feed_url="https://lineageos.example/feed.xml")
    assert parsed.entries[0].link == "https://lineageos.example/Changelog-16/notes.html"


def test_links_with_a_scheme_of_their_own_and_feeds_with_no_web_address_are_left_as_they_are() -> None:
    base = feed_base("https://a.example/feed")
    assert base is not None
    assert whole("mailto:desk@a.example", base) == "mailto:desk@a.example"
    assert whole("tag:a.example,2024:1", base) == "tag:a.example,2024:1"
    assert whole("//cdn.example/x", base) == "https://cdn.example/x"
    assert feed_base("file:///tmp/feed.xml") is None and feed_base("test:label") is None
    assert parse_feed(_RSS, "application/rss+xml", feed_url="file:///tmp/feed.xml").entries[0].link == "/2024/one/"

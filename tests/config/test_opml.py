"""OPML subscription lists: the shapes feed readers export, read (listparser's rules, one lxml pass), written back as OPML 2.0."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tracker.errors import InputError
from tracker.config.opml import Subscription, read_opml, write_opml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "opml"
SHAPES = ["opml_noversion.xml", "opml_v1.0.xml", "opml_v1.1.xml", "opml_v2.0.xml"]


@pytest.mark.parametrize("name", SHAPES)
def test_every_opml_version_gives_the_feed_its_folder_as_tag(name: str) -> None:
    feeds = read_opml((FIXTURES / name).read_bytes())
    assert feeds == [Subscription(url="https://hostname.local/commafeed/feed1.xml", title="feed1",
                                  html_url="https://hostname.local/commafeed", tags=("out1",))]


def test_nested_folders_category_attribute_and_publisher() -> None:
    feeds = {f.url: f for f in read_opml((FIXTURES / "nested_v2.0.xml").read_bytes())}
    assert list(feeds) == ["https://www.khaama.com/feed/", "https://ru24.pro/rss", "https://digest.example/feed.xml",
                           "https://unfiled.example/rss?x=1&y=2"]
    # Listed in two folders: one feed with both tags.
    assert feeds["https://www.khaama.com/feed/"].tags == ("News/Asia", "Watch")
    assert feeds["https://www.khaama.com/feed/"].publisher == "Khaama Press"
    ru24 = feeds["https://ru24.pro/rss"]
    assert ru24.tags == ("Aggregators/Copies", "News/Asia/Mirrors", "Watch")
    assert (ru24.title, ru24.publisher) == ("ru24.pro — Кабул", "ru24.pro")
    assert feeds["https://digest.example/feed.xml"].publisher is None
    assert feeds["https://unfiled.example/rss?x=1&y=2"] == Subscription("https://unfiled.example/rss?x=1&y=2", "Unfiled & Co")


@pytest.mark.parametrize("name", [*SHAPES, "nested_v2.0.xml"])
def test_written_opml_is_version_2_and_reads_back_the_same(name: str) -> None:
    feeds = read_opml((FIXTURES / name).read_bytes())
    written = write_opml(feeds)
    root = etree.fromstring(written)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.find("head/title") is not None
    assert sorted(read_opml(written), key=lambda f: f.url) == sorted(feeds, key=lambda f: f.url)
    assert write_opml(read_opml(written)) == written  # stable: a second round changes nothing


def test_folders_nest_as_outlines() -> None:
    written = write_opml([Subscription("https://a.example/rss", "A", tags=("News/Asia/Mirrors",))])
    root = etree.fromstring(written)
    news = root.find("body/outline")
    assert news.get("text") == "News" and news.get("xmlUrl") is None
    feed = news.find("outline/outline/outline")
    assert feed.get("xmlUrl") == "https://a.example/rss" and feed.get("type") == "rss"


@pytest.mark.parametrize("body", [b"", b"<html><body>not a list</body></html>", b"\x00\x01garbage"])
def test_a_document_that_is_not_opml_is_refused(body: bytes) -> None:
    with pytest.raises(InputError, match="not an OPML subscription list"):
        read_opml(body, "subs.opml")


def test_external_entities_are_not_fetched_or_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<opml version="2.0"><body><outline text="a" xmlUrl="https://a.example/rss" publisher="&x;"/></body></opml>'
    ).encode()
    with pytest.raises(InputError, match="subs.opml: not a well-formed OPML document: .*external entity") as refused:
        read_opml(body, "subs.opml")
    assert "TOP-SECRET" not in str(refused.value)


FEED = '<outline text="{n}" xmlUrl="https://f{n}.example/rss?a=1&amp;b=2"/>'


@pytest.mark.parametrize(("body", "words"), [
    ("<opml><body>" + "".join(FEED.format(n=n) for n in range(10)) + "</body></opml>"[:-20], "line 1"),
    ("<opml><body>" + "<outline text='f'>" * 300 + FEED.format(n=1) + "</outline>" * 300 + FEED.format(n=2) + "</body></opml>",
     "outlines nested deeper than 255"),
    ('<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
     '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>'
     '<opml><body><outline text="&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;" xmlUrl="https://a.example/rss"/></body></opml>', "line"),
], ids=["cut-short", "too-deep", "entity-bomb"])
def test_a_list_that_is_not_whole_is_refused_rather_than_read_as_fewer_or_other_feeds(body: str, words: str) -> None:
    """A recovering parser read these as 4 of 10 feeds, or none after the deep outline: a
    reload would then have stopped polling the feeds lost, without a word."""
    with pytest.raises(InputError, match="subs.opml: not a well-formed OPML document: ") as refused:
        read_opml(body.encode(), "subs.opml")
    assert words in str(refused.value)


def test_characters_xml_cannot_carry_are_dropped_not_fatal() -> None:
    written = write_opml([Subscription("https://a.example/rss", "Evil\x1b[2J\x00 Corp", publisher="P\x07", tags=("Ne\x0bws",))])
    back = read_opml(written)
    assert back == [Subscription("https://a.example/rss", "Evil[2J Corp", publisher="P", tags=("News",))]


def test_names_are_read_without_case_and_nested_lists_are_not_feeds() -> None:
    body = b"""<?xml version="1.0"?><OPML version="1.0"><body>
<outline TEXT="Desk"><outline XMLURL="https://a.example/r" TYPE="rss" Publisher="P"/>
<outline type="source" xmlUrl="https://list.example/opml"/>
<outline type="link" url="https://x.example/" text="Linked"><outline xmlUrl="https://b.example/r" text="B" category="x/y, z"/></outline>
</outline><outline xmlUrl="https://a.example/r" text="again" htmlUrl="https://a.example/"/></body></OPML>"""
    assert read_opml(body) == [
        Subscription("https://a.example/r", None, publisher="P", html_url="https://a.example/", tags=("Desk",)),
        Subscription("https://b.example/r", "B", tags=("Desk", "x/y", "z")),
    ]


def test_a_reference_to_a_character_xml_cannot_carry_is_dropped_not_fatal() -> None:
    body = b'<opml><body><outline text="x" xmlUrl="https://a.example/rss" publisher="Evil&#x1b;[2J&#0; Corp&#65;"/></body></opml>'
    assert [f.publisher for f in read_opml(body)] == ["Evil[2J CorpA"]



def test_quirks_of_real_exports_are_read_as_meant() -> None:
    """A bare "&" (a recovering parser made `?a=1&b=2` into `?a=1=2`), HTML's named entities,
    blanks before the declaration and bytes after the root's end lose nothing when mended."""
    body = (b'  \n<?xml version="1.0"?><opml><body>'
            b'<outline text="Tom & Jerry" xmlUrl="https://a.example/rss?a=1&b=2"/>'
            b'<outline text="Caf&eacute;&nbsp;News &amp; more" xmlUrl="https://b.example/rss"/>'
            b'</body></opml>\x00\x00\n')
    assert [(f.url, f.title) for f in read_opml(body)] == [
        ("https://a.example/rss?a=1&b=2", "Tom & Jerry"), ("https://b.example/rss", "Caf\u00e9\u00a0News & more"),
    ]


@pytest.mark.parametrize("site", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example/", "https:evil"])
def test_a_site_link_that_is_no_web_link_is_not_written(site: str) -> None:
    # The site link is what a feed says of itself; a reader importing the list may show it as a link.
    written = write_opml([Subscription("https://a.example/rss", "A", html_url=site)])
    assert b"htmlUrl" not in written and b"javascript" not in written and b"data:" not in written
    assert b'htmlUrl="https://a.example/"' in write_opml([Subscription("https://a.example/rss", "A", html_url="https://a.example/")])


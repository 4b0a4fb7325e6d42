"""The parse stage on real-looking feeds in many languages, encodings and dialects."""

from __future__ import annotations

import random
import time
from datetime import datetime
from pathlib import Path

import pytest

from tracker.errors import ParseError
from tracker.model import Attribution, ParsedFeed
from tracker.reader.parse import parse_capture_body, parse_feed

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"


def parse_fixture(name: str, content_type: str | None = None) -> ParsedFeed:
    return parse_feed((FEEDS / name).read_bytes(), content_type)


# name, entries, feed title, first entry's title, first entry's date (naive UTC)
FIXTURES = [
    (
        "ru_rss_windows1251.xml",
        3,
        "Новости Сибири",
        "Мэрия Новосибирска утвердила график вывоза снега",
        datetime(2025, 1, 7, 9, 30),
    ),
    (
        "de_rss_iso8859-1.xml",
        2,
        "Münsterländer Zeitung · Lokales",
        "Bürgerentscheid über neue Straßenbahnlinie in Münster",
        datetime(2025, 1, 6, 16, 5),
    ),
    (
        "fr_atom_utf8.xml",
        2,
        "Le Progrès Comtois – Actualités",
        "Grève à la SNCF : le trafic très perturbé jeudi en Franche-Comté",
        datetime(2025, 1, 8, 6, 45),
    ),
    (
        "zh_rss_utf8.xml",
        2,
        "城市快讯",
        "国家统计局：2024年国内生产总值同比增长5%",
        datetime(2025, 1, 17, 2, 0),
    ),
    (
        # 䶮 is outside GBK: it only decodes right if GB18030 itself is used.
        "zh_rss_gb18030.xml",
        3,
        "岭南晚报",
        "广州南汉二陵博物馆展出刘䶮墓出土文物",
        datetime(2025, 1, 9, 0, 20),
    ),
    (
        # The ideographic space in the title is whitespace: it is collapsed to one space.
        "ja_rss_shift_jis.xml",
        2,
        "みなと新聞",
        "東京都、来年度予算案を発表 子育て支援を拡充",
        datetime(2025, 1, 24, 6, 0),
    ),
    (
        "ur_rss_utf8_bom.xml",
        2,
        "روزنامہ شہر",
        "کراچی میں بارش کے بعد ٹریفک کا نظام درہم برہم",
        datetime(2025, 1, 12, 9, 0),
    ),
    (
        "rdf_rss10.xml",
        3,
        "Tech Digest",
        "Linux 6.13 Released With Lazy Preemption",
        datetime(2025, 1, 7, 14, 20),
    ),
    (
        "atom_xhtml_content.xml",
        1,
        "Field Notes",
        "Counting birds in the January frost",
        datetime(2025, 1, 10, 12, 0),
    ),
    (
        "broken_rss.xml",
        2,
        "Harbour Gazette",
        "Fish & chips shop wins national award",
        datetime(2025, 1, 9, 11, 0),
    ),
    (
        "rss_source_element.xml",
        2,
        "Regional Digest",
        "Council approves new cycle lanes on the ring road",
        datetime(2025, 1, 10, 9, 0),
    ),
    (
        "atom_via_link.xml",
        1,
        "Planet Gardening",
        "Pruning apple trees in winter",
        datetime(2025, 1, 11, 8, 0),
    ),
    (
        "wordpress_rss.xml",
        1,
        "Khaama Press",
        "Kabul’s winter fuel prices climb as imports slow",
        datetime(2025, 1, 7, 9, 12),
    ),
    (
        "mirror_ru24_khaama.xml",
        1,
        "ru24.pro – News in English",
        "Pakistani airstrikes kill civilians in eastern Afghanistan",
        datetime(2025, 1, 7, 7, 2),
    ),
]


@pytest.mark.parametrize(("name", "count", "feed_title", "title", "claimed_at"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_fixture_feeds_parse_with_decoded_titles_and_utc_dates(
    name: str, count: int, feed_title: str, title: str, claimed_at: datetime
) -> None:
    """Every fixture parses whole, its text decoded from the encoding it declares."""
    feed = parse_fixture(name)
    assert len(feed.entries) == count
    assert feed.title == feed_title
    first = feed.entries[0]
    assert first.title == title
    assert first.claimed_at == claimed_at
    for entry in feed.entries:
        # Naive UTC everywhere, so that dates of different feeds compare directly.
        assert entry.claimed_at is not None and entry.claimed_at.tzinfo is None
        assert entry.title and "\ufffd" not in entry.title + entry.content
        assert entry.link and entry.link.startswith(("http://", "https://"))


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("ru_rss_windows1251.xml", "«Зимней сказки»"),
        ("de_rss_iso8859-1.xml", "Die Stadt lässt im März"),
        ("zh_rss_gb18030.xml", "展览共展出陶瓷器"),
        ("ja_rss_shift_jis.xml", "一般会計の総額"),
        ("ur_rss_utf8_bom.xml", "شاہراہوں"),
    ],
)
def test_bodies_are_decoded_from_the_declared_encoding(name: str, phrase: str) -> None:
    bodies = " ".join(entry.content for entry in parse_fixture(name).entries)
    assert phrase in bodies


def test_dates_with_offsets_become_utc_across_midnight() -> None:
    """+0900 and -0500 offsets move the date to the previous / next UTC day."""
    japanese = parse_fixture("ja_rss_shift_jis.xml").entries
    assert japanese[1].claimed_at == datetime(2025, 1, 23, 22, 40)
    rdf = parse_fixture("rdf_rss10.xml").entries
    assert rdf[2].claimed_at == datetime(2025, 1, 7, 3, 10)


def test_atom_published_date_is_preferred_over_updated() -> None:
    """The claimed date is when the entry was first published, not its last edit."""
    entries = parse_fixture("fr_atom_utf8.xml").entries
    assert entries[0].claimed_at == datetime(2025, 1, 8, 6, 45)  # published, not updated (08:12 UTC)
    assert entries[1].claimed_at == datetime(2025, 1, 7, 16, 30)  # only <updated> given


def test_guid_atom_id_and_missing_guid() -> None:
    assert parse_fixture("ru_rss_windows1251.xml").entries[0].guid == "ns-118402"
    assert parse_fixture("fr_atom_utf8.xml").entries[0].guid == "tag:progres-comtois.example.fr,2025:article-20931"
    gb = parse_fixture("zh_rss_gb18030.xml").entries[0]
    assert gb.guid is None
    assert gb.link == "http://www.lingnan-wanbao.example.cn/wenhua/2025-01/09/content_88231.htm"


def test_content_encoded_is_chosen_over_description_and_summary_kept() -> None:
    """WordPress: the full text is in content:encoded; the excerpt (with the footer) stays as summary."""
    entry = parse_fixture("wordpress_rss.xml").entries[0]
    assert entry.content_is_html
    assert "Officials at the ministry of commerce" in entry.content
    assert "appeared first on" not in entry.content
    assert "appeared first on" in entry.summary
    assert entry.author == "Khaama Press"
    assert entry.guid == "https://www.khaama.com/?p=301877"


def test_description_wins_when_content_encoded_is_only_a_teaser() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>t</title><link>https://t.example/</link><description>d</description>
<item><title>Teaser</title><link>https://t.example/a</link>
<description>&lt;p&gt;The whole story is in the description: three sentences. Two. Three.&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>Read more</p>]]></content:encoded></item></channel></rss>"""
    entry = parse_feed(body).entries[0]
    assert "The whole story is in the description" in entry.content
    assert entry.summary == ""  # the summary *is* the body; not stored twice


def test_atom_xhtml_content_is_chosen_and_is_html() -> None:
    entry = parse_fixture("atom_xhtml_content.xml").entries[0]
    assert entry.content_is_html
    assert "<p>" in entry.content and "waxwing" in entry.content
    assert entry.summary == "Our volunteers counted 41 species this year."


def test_plain_text_atom_summary_is_not_html() -> None:
    entry = parse_fixture("fr_atom_utf8.xml").entries[1]
    assert not entry.content_is_html
    assert entry.content == "La préfecture salue « une réussite » malgré la pluie du samedi soir."


def test_broken_feed_is_recovered_with_a_warning() -> None:
    """A bare "&" and HTML entities XML does not define: feedparser's lenient parser still reads it."""
    feed = parse_fixture("broken_rss.xml")
    assert feed.warning  # the complaint is kept for the capture history
    first = feed.entries[0]
    assert first.title == "Fish & chips shop wins national award"
    assert "&hellip;" not in first.content and first.content.endswith("country…")
    assert "entries\u00a0from" in first.content  # &nbsp; became a real no-break space
    assert feed.entries[1].title == "Ferry timetable changes from Monday"


def test_well_formed_feed_has_no_warning() -> None:
    assert parse_fixture("fr_atom_utf8.xml").warning is None


def test_rss_source_element_becomes_an_attribution() -> None:
    credited, own = parse_fixture("rss_source_element.xml").entries
    assert credited.attributions == (
        Attribution("source_element", "Northern Echo", "https://northern-echo.example.co.uk/news/rss"),
    )
    assert own.attributions == ()


def test_atom_source_element_becomes_an_attribution() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Agg</title><id>urn:agg</id><updated>2025-01-11T08:00:00Z</updated>
<entry><title>Copied</title><link href="https://agg.example/1"/><id>https://agg.example/1</id>
<updated>2025-01-11T08:00:00Z</updated>
<source><id>https://orig.example/feed</id><title>Original Times</title><link href="https://orig.example/"/></source>
<summary>Text.</summary></entry></feed>"""
    entry = parse_feed(body).entries[0]
    assert entry.attributions == (Attribution("source_element", "Original Times", "https://orig.example/"),)
    assert entry.link == "https://agg.example/1"  # the source's link is not the entry's


def test_dublin_core_source_becomes_an_attribution_unless_it_is_the_entry_own_site() -> None:
    """`dc:source` is how RDF feeds and many CMSs credit the article an entry was taken from."""
    body = b"""<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Agg</title>
<item><title>A</title><link>https://agg.example/1</link><dc:source>https://orig.example/a/</dc:source><description>x</description></item>
<item><title>B</title><link>https://agg.example/2</link><dc:source>Original Times</dc:source><description>x</description></item>
<item><title>C</title><link>https://agg.example/3</link><dc:source>https://agg.example/</dc:source><description>x</description></item>
</channel></rss>"""
    by_url, by_name, own = parse_feed(body).entries
    assert by_url.attributions == (Attribution("dc_source", None, "https://orig.example/a/"),)
    assert by_name.attributions == (Attribution("dc_source", "Original Times", None),)
    assert own.attributions == ()


def test_atom_via_link_becomes_an_attribution_not_the_entry_link() -> None:
    entry = parse_fixture("atom_via_link.xml").entries[0]
    assert entry.attributions == (
        Attribution("via_link", "Orchard Diary", "https://orchard-diary.example.net/2025/01/pruning"),
    )
    assert entry.link == "https://planet-gardening.example.org/posts/pruning-apple-trees"


@pytest.mark.parametrize("content_type", [None, "text/html; charset=utf-8"])
def test_html_page_is_not_a_feed(content_type: str | None) -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_fixture("not_a_feed.html", content_type)


@pytest.mark.parametrize(
    "body",
    [
        random.Random(20250107).randbytes(4096),
        b"",
        b'{"version": "https://example.org/api/v2", "items": []}',
    ],
    ids=["random-bytes", "empty", "json-not-a-json-feed"],
)
def test_non_feeds_raise_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_feed(body)


def test_parse_capture_body_returns_errors_instead_of_raising() -> None:
    """Worker processes hand back the error, so one bad capture does not kill the pool."""
    assert parse_capture_body(None, None) is None
    assert isinstance(parse_capture_body((FEEDS / "not_a_feed.html").read_bytes(), "text/html"), ParseError)
    parsed = parse_capture_body((FEEDS / "rdf_rss10.xml").read_bytes(), "application/rdf+xml")
    assert isinstance(parsed, ParsedFeed) and len(parsed.entries) == 3


def test_a_lone_surrogate_costs_one_character_not_the_feed() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x.example/</link>'
        b"<item><title>half &#xD800; a pair &#56320;</title><link>http://x.example/1</link></item>"
        b"<item><title>whole</title><link>http://x.example/2</link></item></channel></rss>"
    )
    feed = parse_feed(body)
    assert [e.title for e in feed.entries] == ["half \ufffd a pair \ufffd", "whole"]


def test_a_date_before_the_web_claims_nothing() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://x.example/</link>'
        b"<item><title>a</title><link>http://x.example/1</link><pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate></item>"
        b"<item><title>b</title><link>http://x.example/2</link><pubDate>Tue, 07 Jan 2025 09:00:00 GMT</pubDate></item>"
        b"</channel></rss>"
    )
    assert [e.claimed_at is None for e in parse_feed(body).entries] == [True, False]


def test_an_element_with_thousands_of_attributes_is_refused_before_feedparser_reads_it() -> None:
    # feedparser's strict parser looked each attribute up by a walk over all of them: an item
    # with 200,000 attributes (a 2 MB feed) held the parse for half an hour.
    crowded = " ".join(f'a{i}="x"' for i in range(20_000))
    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>P</title><item {crowded}>'
            "<title>T</title><link>https://a.example/1</link></item></channel></rss>").encode()
    started = time.monotonic()
    with pytest.raises(ParseError, match="an element with 20000 attributes"):
        parse_feed(body)
    assert time.monotonic() - started < 5
    # A busy feed whose elements each have a few attributes is read as ever.
    items = "".join(f'<item><guid isPermaLink="false">g{i}</guid><link>https://a.example/{i}</link></item>'
                    for i in range(2_000))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>P</title>{items}</channel></rss>'.encode()
    assert len(parse_feed(body).entries) == 2_000


def test_titles_of_unclosed_angle_brackets_are_read_in_linear_time() -> None:
    # Tags were found by "<[^>]+>", which tries from each "<" of a run to the end of the title.
    items = "".join(f'<item><title type="html"><![CDATA[{"<" * 9_990}]]></title><link>https://a.example/{i}</link></item>'
                    for i in range(100))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>P</title>{items}</channel></rss>'.encode()
    plain = body.replace(b"<" * 9_990, b"a" * 9_990)

    def seconds(document: bytes) -> float:
        started = time.monotonic()
        assert len(parse_feed(document).entries) == 100
        return time.monotonic() - started

    assert seconds(body) < 5 * seconds(plain) + 0.5  # the same as for as many letters
    assert parse_feed(body.replace(b"<" * 9_990, b"a <b>bold</b> &lt; c")).entries[0].title == "a bold < c"


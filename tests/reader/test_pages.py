"""The page stage: the article of a real-looking page, not its chrome; bad pages refused."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest

from tracker.errors import PageError
from tracker.reader.pages import MAX_PAGE_BYTES, MAX_PAGE_ELEMENTS, extract_article, needs_page, public_link, use_page

PAGES = Path(__file__).parents[1] / "fixtures" / "pages"
COURIER = "https://riversidecourier.example/news/2025/03/harbour-bridge-reopens?utm_source=rss"


def test_news_page_gives_the_article_and_none_of_the_chrome() -> None:
    article = extract_article((PAGES / "news_article.html").read_bytes(), COURIER, "text/html; charset=utf-8")
    assert article is not None
    for sentence in ("The harbour bridge reopened to traffic on Monday morning",
                     "Engineers replaced all of the steel cables",
                     "A formal opening ceremony, with a procession of vintage buses"):
        assert sentence in article.text
    for chrome in ("cookies", "Subscribe from", "Related stories", "Ferry timetable extended", "Sign up for our morning",
                   "About time too", "All rights reserved", "Privacy policy", "Share on Facebook"):
        assert chrome not in article.text
    assert article.title == "Harbour bridge reopens after two-year repair"
    assert article.site_name == "The Riverside Courier"
    # The relative canonical link is made absolute; the published time is read in UTC.
    assert article.canonical_url == "https://riversidecourier.example/news/2025/03/harbour-bridge-reopens"
    assert article.date == datetime(2025, 3, 4, 6, 15)


def test_blog_layout_without_article_tag_and_a_canonical_on_another_site() -> None:
    article = extract_article((PAGES / "syndicated_blog.html").read_bytes(), "https://railnotes.example/posts/night-trains", None)
    assert article is not None
    assert "most European rail operators were closing their sleeper services" in article.text
    assert "The remaining obstacle is rolling stock" in article.text
    assert "Popular posts" not in article.text and "slowest train in the Alps" not in article.text
    assert "Powered by" not in article.text
    # <link rel=canonical> wins over og:url.
    assert article.canonical_url == "https://trainsandtracks.example/2025/why-the-night-trains-came-back/"
    assert article.date is None  # the page states none; a year in a URL is not a date


def test_legacy_encoding_named_in_the_page_is_decoded() -> None:
    body = (PAGES / "legacy_cp1251.html").read_bytes()
    article = extract_article(body, "https://vesti.example/most", None)
    assert article is not None
    assert "Мост через реку снова открыт для движения" in article.text
    assert "Главная" not in article.text
    # The header's charset wins over a wrong one in the page (here: the right one given by header).
    assert extract_article(body, "https://vesti.example/most", "text/html; charset=windows-1251").text == article.text


def test_latin1_page_without_any_declared_charset() -> None:
    text = "<html><body><article>" + "<p>Le café de la gare a rouvert ses portes après des travaux très longs à Genève.</p>" * 6
    body = (text + "</article></body></html>").encode("latin-1")
    article = extract_article(body, "https://journal.example/cafe", "text/html")
    assert article is not None and "café de la gare a rouvert" in article.text


def test_page_over_the_size_cap_is_refused() -> None:
    with pytest.raises(PageError) as refused:
        extract_article(b"<html><body><p>" + b"word " * (MAX_PAGE_BYTES // 5 + 10) + b"</p></body></html>", "https://x.example/", "text/html")
    assert refused.value.kind == "too_large"


@pytest.mark.parametrize("content_type, body", [
    ("application/pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj"),
    ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
    (None, b"%PDF-1.4 a PDF served without a type"),
    (None, b"\x89PNG\r\n\x1a\n\x00\x00"),
])
def test_non_html_is_refused(content_type: str | None, body: bytes) -> None:
    with pytest.raises(PageError) as refused:
        extract_article(body, "https://x.example/file", content_type)
    assert refused.value.kind == "not_html"


@pytest.mark.parametrize("href", [
    "javascript:alert(1)", "http://127.0.0.1/admin", "http://10.0.0.5/article", "http://[::1]/a", "http://localhost/a",
    "http://169.254.169.254/latest/meta-data/", "http://printer.local/a", "ftp://files.example/a", "data:text/html,hi",
])
def test_canonical_to_a_private_address_or_script_is_ignored(href: str) -> None:
    page = f'<html><head><link rel="canonical" href="{href}"></head><body><article>'
    page += "<p>A long enough paragraph of article text that the extractor keeps it as the article body here.</p>" * 5
    article = extract_article((page + "</article></body></html>").encode(), "https://news.example/a", "text/html")
    assert article is not None and article.canonical_url is None


def test_public_link_keeps_public_hosts() -> None:
    assert public_link("/a/b", "https://news.example/x/y") == "https://news.example/a/b"
    assert public_link("https://93.184.216.34/a", "https://news.example/") == "https://93.184.216.34/a"


def test_auto_uses_the_page_only_for_a_summary_feed() -> None:
    summary, full = " ".join(["word"] * 25), " ".join(["word"] * 400)
    assert needs_page(summary) and not needs_page(full)
    assert needs_page(full, "always") and not needs_page(summary, "never")
    assert use_page(25, 400) and not use_page(400, 420)
    # A feed carrying the first paragraphs is a summary too, its page fetched when it ends cut short.
    assert use_page(180, 900) and needs_page(" ".join(["word"] * 180) + " […]") and needs_page(full + " Read more »")
    # A short post whose page says no more than the feed: the feed's text stands.
    assert not use_page(25, 40)
    assert use_page(400, 420, "always") and not use_page(25, 400, "never")


def test_feed_entry_naming_another_sites_article_canonical_credits_it() -> None:
    from tracker.reader.parse import parse_feed

    entry = ('<entry><id>{n}</id><title>T{n}</title><updated>2025-01-01T00:00:00Z</updated>'
             '<link rel="alternate" href="https://mirror.example/{n}"/><link rel="canonical" href="{href}"/><summary>x</summary></entry>')
    feed = ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>M</title><id>m</id>'
            '<updated>2025-01-01T00:00:00Z</updated>'
            + entry.format(n=1, href="https://orig.example/story")
            + entry.format(n=2, href="javascript:alert(1)")
            + entry.format(n=3, href="http://192.168.1.1/story")
            + entry.format(n=4, href="https://www.mirror.example/4") + "</feed>")
    credits = [e.attributions for e in parse_feed(feed.encode()).entries]
    assert [c.url for c in credits[0]] == ["https://orig.example/story"] and credits[0][0].kind == "canonical"
    # A script, a private address, or its own site: no credit.
    assert credits[1:] == [(), (), ()]


def test_old_table_layout_without_paragraph_tags() -> None:
    paragraphs = [
        "The council met on Tuesday to discuss the plan for the new library, which would replace the old building on the "
        "square that closed five years ago after the roof began to leak badly.",
        "Several members asked whether the budget would cover the cost of books as well as the building itself, and the "
        "treasurer promised a detailed answer at the next meeting in March.",
    ] * 3
    page = ("<html><body><table><tr><td class='nav'><a href='/'>Home</a><br><a href='/a'>Archive</a><br>"
            "<a href='/links'>Links</a></td><td><font size=2>" + "<br><br>".join(paragraphs) + "</font></td></tr></table></body></html>")
    article = extract_article(page.encode("cp1252"), "https://oldtown.example/news.php?id=7", "text/html; charset=iso-8859-1")
    assert article is not None and paragraphs[1] in article.text
    # The navigation cell is short lines of its own, which the story leaves out as chrome.
    from tracker.detection.normalise import document_from_paragraphs, story_paragraphs

    document = document_from_paragraphs(article.text.split("\n"))
    story = [document.paragraphs[i] for i in story_paragraphs(document, "")]
    assert paragraphs[0] in story and not any("Archive" in line for line in story)


def test_script_rendered_page_gives_its_json_ld_article() -> None:
    body = " ".join(["The regional assembly voted on Thursday to extend the night bus network to the outer districts."] * 4)
    second = "Officials said the first routes would start in spring, once drivers had been recruited and trained."
    ld = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Metro Daily"},
        {"@type": "NewsArticle", "headline": "Night buses", "articleBody": f"{body}\n{second}"},
    ]}
    import json

    page = ("<html><head><script type='application/ld+json'>" + json.dumps(ld) + "</script></head><body>"
            "<div id='root'><nav><a href='/'>Home</a> <a href='/news'>News</a></nav><p>Loading…</p></div>"
            "<noscript>Please enable JavaScript to read Metro Daily.</noscript></body></html>")
    article = extract_article(page.encode(), "https://metrodaily.example/night-buses", "text/html")
    assert article is not None and article.text.splitlines()[-1] == second and "Loading" not in article.text


@pytest.mark.parametrize("published, expected", [
    ("2025-03-01T10:00:00+01:00", datetime(2025, 3, 1, 9, 0)),
    ("2025-03-01T10:00:00+23:59", None),  # beyond ±14:00: a day early if believed
    ("2025-03-01T10:00:00-15:00", None),
    ("1990-06-01T10:00:00+00:00", None),
    ("2025-06-01T10:00:00+00:00", None),  # after the page was fetched
])
def test_a_pages_date_follows_the_rules_of_every_claimed_date(published: str, expected: datetime | None) -> None:
    paragraph = "<p>" + " ".join(["harbour bridge traffic cables"] * 20) + ".</p>"
    page = (f'<html><head><meta property="article:published_time" content="{published}"><title>T</title></head>'
            f"<body><article><h1>T</h1>{paragraph * 3}</article></body></html>").encode()
    article = extract_article(page, "https://x.example/a", "text/html", fetched_at=datetime(2025, 5, 1))
    assert article is not None and article.date == expected


@pytest.mark.parametrize("content_type, meta", [
    ("text/html; charset=zlib", ""), ("text/html; charset=rot13", ""), ("text/html", '<meta charset="base64">'),
])
def test_a_charset_that_is_no_text_encoding_is_ignored(content_type: str, meta: str) -> None:
    """Python's codecs know zlib, base64 and rot13 too: named by a hostile page, they are
    no charset (the page is read as UTF-8), not a crash of the whole ingest."""
    paragraph = "<p>" + " ".join(["Zürich harbour bridge"] * 20) + ".</p>"
    page = f"<html><head>{meta}<title>T</title></head><body><article>{paragraph * 3}</article></body></html>"
    article = extract_article(page.encode(), "https://x.example/a", content_type)
    assert article is not None and "Zürich harbour bridge" in article.text


@pytest.mark.parametrize("attribute", ['a{}="x"', "a{}=x", "a{}"], ids=["quoted", "unquoted", "bare"])
def test_a_page_with_an_element_of_thousands_of_attributes_is_refused_unread(attribute: str) -> None:
    """libxml2's HTML parser checks each attribute against those before it: one paragraph of
    60,000 attributes (650 KB) took 37 s to read, a 5 MB page of them most of an hour."""
    crowded = " ".join(attribute.format(i) for i in range(20_000))
    page = f"<html><body><article><p {crowded}>x</p>{'<p>' + 'word ' * 80 + '</p>'}</article></body></html>"
    for encoding in ("utf-8", "utf-16"):
        with pytest.raises(PageError) as refused:
            extract_article(page.encode(encoding), "https://x.example/a", "text/html")
        assert refused.value.kind == "too_large" and "20,000 attributes" in refused.value.message
    # A long attribute value (a description, inline JSON) holds words, not attributes.
    described = f'<html><head><meta name="description" content="{"word " * 5000}"></head><body><article><p>{"word " * 80}</p></article></body></html>'
    assert extract_article(described.encode(), "https://x.example/a", "text/html") is not None


def test_a_page_of_too_many_elements_is_refused_unread() -> None:
    """Extraction's cost grows with the square of a page's elements: a 3.5 MB page of 200,000
    short paragraphs (under the byte cap) took minutes. It is refused before extraction."""
    many = b"<html><body><article>" + b"<p>a b c d e f</p>" * (MAX_PAGE_ELEMENTS + 1) + b"</article></body></html>"
    with pytest.raises(PageError) as refused:
        extract_article(many, "https://x.example/a", "text/html")
    assert refused.value.kind == "too_large" and "HTML elements" in refused.value.message
    # A long article well under the cap is read.
    long_read = b"<html><body><article>" + b"<p>" + b"word " * 50 + b"</p>" * 1 + b"<p>more words here</p>" * 2000 + b"</article></body></html>"
    assert extract_article(long_read, "https://x.example/a", "text/html") is not None


@pytest.mark.parametrize("body", [b"<!-- nothing -->", b"<html><body></body></html>", b"   "])
def test_a_page_without_an_article_is_said_so_once_not_in_the_readers_errors(body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """trafilatura logs such a page at ERROR ("empty HTML tree"): in the daemon's log that
    read as the daemon's error, while the tracker records the page's failure itself."""
    with caplog.at_level(logging.DEBUG):
        assert extract_article(body, "https://a.example/x", "text/html", datetime(2025, 1, 1)) is None
    assert [r for r in caplog.records if r.name.startswith("trafilatura")] == []



@pytest.mark.parametrize(("bom", "codec"), [
    (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"), (b"\xef\xbb\xbf", "utf-8"),
])
def test_a_byte_order_mark_outranks_the_charset_a_server_names(bom: bytes, codec: str) -> None:
    """Servers label pages wrongly; a byte-order mark is the document's own word (HTML's rule)."""
    text = "Паром снова ходит через залив, и пассажиры довольны новым расписанием движения судов. " * 4
    body = bom + f"<html><body><article><p>{text}</p></article></body></html>".encode(codec)
    article = extract_article(body, "https://a.example/x", "text/html; charset=windows-1252", datetime(2025, 1, 1))
    assert article is not None and "Паром снова ходит" in article.text

"""Article pages in the pipeline: a summary-only original is credited once its page is read,
whatever order the archive holds feeds and pages in; bad pages lose nothing stored."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss, write_warc
from tests.conftest import make_pipeline
from tracker.ingest.archives import ingest_paths
from tracker.model import Capture, PageCapture

ORIGINAL_FEED = "https://capitalpost.example/rss"
MIRROR_FEED = "https://scrapemirror.example/rss"
DIGEST_FEED = "https://digest.example/rss"
CANON_FEED = "https://canonmirror.example/rss"
SYNDICATOR_FEED = "https://syndicator.example/rss"
STORY = "https://capitalpost.example/2025/01/harbour-bridge/"
MIRROR = "https://scrapemirror.example/123.html"
DIGEST = "https://digest.example/9.html"
CANON = "https://canonmirror.example/bridge"
FEEDS = [
    {"url": ORIGINAL_FEED, "publisher": "Capital Post"},
    {"url": MIRROR_FEED, "publisher": "Scrape Mirror"},
    {"url": DIGEST_FEED, "publisher": "Digest"},
    {"url": CANON_FEED, "publisher": "Canon Mirror"},
    {"url": SYNDICATOR_FEED, "publisher": "Syndicator"},
]
TITLE = "Harbour bridge reopens"
TEXT = article(140, paragraphs=7)
TEASER = "Everything you need to know about the reopened harbour bridge, in two minutes."


def page_html(title: str, paragraphs: list[str], canonical: str | None = None) -> bytes:
    """An article page with the chrome of a news site around it."""
    head = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)} | Site</title>{head}</head><body>"
        "<div class='cookie'><p>We use cookies to improve your experience. Accept all cookies to continue.</p></div>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a> <a href='/sport'>Sport</a></nav>"
        f"<article><h1>{escape(title)}</h1>{body}</article>"
        "<aside><h2>Related</h2><ul><li><a href='/x'>Another story about something else entirely here</a></li></ul></aside>"
        "<footer>© 2025 All rights reserved</footer></body></html>"
    ).encode()


def page_capture(url: str, when: datetime, body: bytes, content_type: str = "text/html; charset=utf-8") -> Capture:
    """A page as a WARC response record (write_warc takes a Capture's URL, time and type)."""
    return Capture(url, when, "response", body, f"test:{url}", content_type)


def network_records() -> list[Capture]:
    """Capital Post carries a teaser only (not in the article); its page has the article.
    Scrape Mirror republishes the page's text an hour later with its chrome; Digest
    excerpts it; Canon Mirror's feed is a teaser too, its page a rewrite naming the
    original as canonical."""
    rewritten = [p.replace("the", "a").upper() for p in reversed(TEXT[2:5])]
    return [
        capture(ORIGINAL_FEED, T0, rss("Capital Post", "https://capitalpost.example/", [
            Item(TITLE, STORY, [TEASER], T0 - timedelta(minutes=10))], full_content=False)),
        page_capture(STORY, T0 + timedelta(minutes=7), page_html(TITLE, TEXT, canonical=STORY)),
        capture(MIRROR_FEED, T0 + hours(1), rss("Scrape Mirror", "https://scrapemirror.example/", [
            Item(f"{TITLE} - Scrape Mirror", MIRROR, ["Scrape Mirror", "News", TITLE, *TEXT], T0 + hours(0.9))],
            full_content=False)),
        capture(DIGEST_FEED, T0 + hours(2), rss("Digest", "https://digest.example/", [
            Item(TITLE, DIGEST, [*TEXT[:2], "Read the full story at Capital Post"], T0 + hours(1.9))], full_content=False)),
        capture(CANON_FEED, T0 + hours(3), rss("Canon Mirror", "https://canonmirror.example/", [
            Item("The bridge is back", CANON, ["A bridge story, briefly told for the feed."], T0 + hours(2.9))],
            full_content=False)),
        page_capture(CANON, T0 + hours(3.1), page_html("The bridge is back", rewritten, canonical=STORY)),
        # A syndicator keeping the original's link: the page on Capital Post's site is not its text.
        capture(SYNDICATOR_FEED, T0 + hours(0.5), rss("Syndicator", "https://syndicator.example/", [
            Item(TITLE, STORY, ["Syndicated: a bridge reopens, and what it means for the city's commuters and ferries."],
                 T0 + hours(0.4), guid="syndicator-1")], full_content=False)),
        # A page no item links to: counted, kept.
        page_capture("https://elsewhere.example/unrelated", T0 + hours(4), page_html("Elsewhere", article(141, paragraphs=4))),
    ]


def provenance(url: str) -> dict[str, tuple[str, str | None, str]]:
    """Each item's (original's publisher, parent's publisher, relation), by its publisher
    (each publisher has one item here)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT p.publisher, op.name AS original, pp.name AS parent, p.relation FROM item_provenance p "
            "JOIN items o ON o.id = p.original_item_id JOIN publishers op ON op.id = o.publisher_id "
            "LEFT JOIN items par ON par.id = p.parent_item_id LEFT JOIN publishers pp ON pp.id = par.publisher_id"
        )).all()
    engine.dispose()
    return {r.publisher: (r.original, r.parent, r.relation) for r in rows}


CAPITAL, SCRAPER, DIGESTER, CANONICAL = "Capital Post", "Scrape Mirror", "Digest", "Canon Mirror"


def ingest(url: str, paths: list[Path], feeds: list[dict[str, str]] = FEEDS):  # type: ignore[no-untyped-def]
    return ingest_paths(make_pipeline(url, feeds), paths, workers=0)


def test_summary_only_original_is_credited_from_its_page(any_db_url: str, tmp_path: Path) -> None:
    report = ingest(any_db_url, [write_warc(tmp_path / "net.warc.gz", network_records())])
    rows = provenance(any_db_url)
    assert rows[CAPITAL] == (CAPITAL, None, "original")
    assert rows[SCRAPER][:2] == (CAPITAL, CAPITAL)
    assert rows[DIGESTER] == (CAPITAL, CAPITAL, "excerpt")
    # Its text is a rewrite, but its page names the original as canonical: attributed to it.
    assert rows[CANONICAL][:2] == (CAPITAL, CAPITAL)
    assert report.pages == 3 and report.pages_used == 2 and report.pages_unmatched == 1
    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        with_pages = conn.execute(sa.text(
            "SELECT p.name FROM item_versions v JOIN items i ON i.id = v.item_id JOIN publishers p ON p.id = i.publisher_id "
            "WHERE v.from_page ORDER BY p.name")).scalars().all()
        evidence = json.loads(conn.execute(sa.text(
            "SELECT evidence FROM provenance JOIN items ON items.id = provenance.item_id WHERE items.url = :u"), {"u": MIRROR}
        ).scalar_one())
        first_seen = conn.execute(sa.text("SELECT min(first_seen_at) FROM items WHERE url = :u"), {"u": STORY}).scalar_one()
    engine.dispose()
    assert with_pages == ["Canon Mirror", "Capital Post"]
    assert evidence["parent"]["from_page"] == ["parent"]
    # The page (captured 7 minutes later) gives the original no other date than its feed's.
    assert str(first_seen).startswith(T0.isoformat(sep=" "))


def test_without_its_page_the_mirror_is_taken_for_the_original(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.sqlite3'}"
    feeds = [{**FEEDS[0], "pages": "never"}, *FEEDS[1:]]
    ingest(url, [write_warc(tmp_path / "net.warc.gz", network_records())], feeds)
    rows = provenance(url)
    assert rows[CAPITAL][1] is None
    assert rows[SCRAPER] == (SCRAPER, None, "original")  # the teaser matches nothing: the mirror is taken for the original


@pytest.mark.parametrize("arrangement", ["pages_first", "pages_last", "shuffled", "two_files"])
def test_provenance_does_not_depend_on_where_the_pages_are(arrangement: str, tmp_path: Path) -> None:
    records = network_records()
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    ingest(reference_url, [write_warc(tmp_path / "in_order.warc.gz", records)])
    pages = [r for r in records if r.content_type and "html" in r.content_type]
    feeds = [r for r in records if r not in pages]
    if arrangement == "pages_first":
        files = [pages + feeds]
    elif arrangement == "pages_last":
        files = [feeds + pages]
    elif arrangement == "shuffled":
        shuffled = list(records)
        random.Random(14).shuffle(shuffled)
        files = [shuffled]
    else:
        files = [feeds, pages]
    paths = [write_warc(tmp_path / f"part{i}.warc.gz", part) for i, part in enumerate(files)]
    url = f"sqlite:///{tmp_path / 'arranged.sqlite3'}"
    for path in paths:
        ingest(url, [path])
    assert provenance(url) == provenance(reference_url)


def test_page_reached_through_a_redirect(tmp_path: Path) -> None:
    from tracker.reader.archive import read_warc
    from tracker.model import PageRedirect

    short = "https://capitalpost.example/?p=77"
    records = [r for r in network_records() if r.feed_url != STORY]
    records[0] = capture(ORIGINAL_FEED, T0, rss("Capital Post", "https://capitalpost.example/", [
        Item(TITLE, short, [TEASER], T0 - timedelta(minutes=10))], full_content=False))
    path = write_warc(tmp_path / "net.warc.gz", records + [page_capture(STORY, T0 + timedelta(minutes=8), page_html(TITLE, TEXT))])
    pipeline = make_pipeline(f"sqlite:///{tmp_path / 'r.sqlite3'}", FEEDS)
    ingest_paths(pipeline, [path], workers=0)
    # The redirect arrives last (another archive): the stored page answers for the short link now.
    pipeline.process_redirect(PageRedirect(short, STORY, T0 + timedelta(minutes=8), "test"))
    rows = provenance(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    assert rows[SCRAPER][:2] == (CAPITAL, CAPITAL)
    assert any(True for _ in read_warc(path))


def test_bad_pages_are_recorded_failures_and_lose_nothing(any_db_url: str, tmp_path: Path) -> None:
    records = network_records()[:1]
    pipeline = make_pipeline(any_db_url, FEEDS)
    ingest_paths(pipeline, [write_warc(tmp_path / "feed.warc.gz", records)], workers=0)
    huge = b"<html><body><p>" + b"a word " * (50 * 1024 * 1024 // 7) + b"</p></body></html>"
    reports = [
        pipeline.process_page(PageCapture(STORY, STORY, T0 + hours(1), 200, (("Content-Type", "application/pdf"),), b"%PDF-1.7 x")),
        pipeline.process_page(PageCapture(STORY, STORY, T0 + hours(2), 200, (("Content-Type", "text/html"),), huge)),
        pipeline.process_page(PageCapture(STORY, STORY, T0 + hours(3), 503, (), None, error="HTTP 503", error_kind="http")),
    ]
    assert [r.pages_failed for r in reports] == [1, 1, 1]
    assert "not an HTML page" in reports[0].warnings[0] and "over" in reports[1].warnings[0]
    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        state = conn.execute(sa.text("SELECT state, attempts, error_kind, next_try_at FROM item_pages")).one()
        kept = conn.execute(sa.text("SELECT text FROM item_versions")).scalars().all()
        stored = conn.execute(sa.text("SELECT error_kind, text FROM pages ORDER BY fetched_at")).all()
    engine.dispose()
    # Not HTML and too large are final; the failed fetch after them is counted all the same.
    assert state.state == "gone" and state.attempts == 3 and state.error_kind == "http"
    assert [tuple(r) for r in stored] == [("not_html", None), ("too_large", None)]
    assert kept == [TEASER]


def test_failed_fetch_is_retried_with_backoff_then_the_page_is_used(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.sqlite3'}"
    pipeline = make_pipeline(url, FEEDS)
    ingest_paths(pipeline, [write_warc(tmp_path / "feed.warc.gz", network_records()[:1])], workers=0)
    [wanted] = pipeline.pages_wanted(now=T0 + hours(1))
    assert wanted.url == STORY and wanted.attempts == 0
    pipeline.process_page(PageCapture(STORY, STORY, T0 + hours(1), None, (), None, error="timed out", error_kind="timeout"))
    assert pipeline.pages_wanted(now=T0 + hours(1) + timedelta(minutes=5)) == []
    [again] = pipeline.pages_wanted(now=T0 + hours(1) + timedelta(minutes=16))
    assert again.attempts == 1
    report = pipeline.process_page(PageCapture(
        STORY, STORY, T0 + hours(2), 200, (("Content-Type", "text/html"), ("ETag", '"v1"')), page_html(TITLE, TEXT)))
    assert report.pages_used == 1
    assert pipeline.pages_wanted(now=T0 + hours(30)) == []
    # Fetched again unchanged: nothing new is stored.
    again_report = pipeline.process_page(PageCapture(STORY, STORY, T0 + hours(5), 200, (("Content-Type", "text/html"),),
                                                     page_html(TITLE, TEXT)))
    assert again_report.skipped_known == 1 and again_report.pages == 0
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pages")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM item_versions WHERE from_page")).scalar_one() == 1
    engine.dispose()


def test_page_with_nul_and_lone_surrogates_is_stored_cleanly(any_db_url: str, tmp_path: Path) -> None:
    pipeline = make_pipeline(any_db_url, FEEDS)
    ingest_paths(pipeline, [write_warc(tmp_path / "feed.warc.gz", network_records()[:1])], workers=0)
    hostile = [p + " \x00 &#xD800; end." for p in TEXT]
    body = page_html("Harbour\x00 bridge &#xDFFF;", hostile).replace(b"&amp;#x", b"&#x")
    report = pipeline.process_page(PageCapture(STORY, STORY, T0 + hours(1), 200, (("Content-Type", "text/html"),), body))
    assert report.pages == 1 and report.pages_used == 1, report.warnings
    bad_url = pipeline.process_page(PageCapture(STORY + "\x00x", STORY, T0 + hours(2), 200, (), body))
    assert bad_url.pages_failed == 1 and bad_url.pages == 0
    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        text = conn.execute(sa.text("SELECT text FROM pages")).scalar_one()
    engine.dispose()
    assert "\x00" not in text and TEXT[0][:40] in text


def test_huge_page_in_an_archive_is_read_no_further_than_the_cap(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huge.sqlite3'}"
    huge = b"<html><body><p>" + b"a word " * (50 * 1024 * 1024 // 7) + b"</p></body></html>"
    records = [network_records()[0], page_capture(STORY, T0 + hours(1), huge),
               page_capture(STORY, T0 + hours(2), b"%PDF-1.7 not a page", "application/pdf")]
    report = ingest(url, [write_warc(tmp_path / "huge.warc.gz", records)])
    assert report.pages == 1 and report.pages_failed == 1 and any("over" in w for w in report.warnings)
    assert report.skipped_records == 1  # the PDF: not a feed, not a page
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT error_kind, bytes FROM pages")).one() == ("too_large", 5 * 1024 * 1024 + 1)
        assert conn.execute(sa.text("SELECT text FROM item_versions")).scalars().all() == [TEASER]
    engine.dispose()


def test_page_on_a_site_other_than_the_feeds_is_joined_when_nobody_else_is_there(tmp_path: Path) -> None:
    feed = "https://rss-capital.example/rss"
    feeds = [{"url": feed, "publisher": "Capital Post"}, *FEEDS[1:]]
    records = [capture(feed, T0, rss("Capital Post", "", [Item(TITLE, STORY, [TEASER], T0 - timedelta(minutes=10))],
                                     full_content=False)), *network_records()[1:]]
    url = f"sqlite:///{tmp_path / 'cdn.sqlite3'}"
    report = ingest(url, [write_warc(tmp_path / "cdn.warc.gz", records)], feeds)
    rows = provenance(url)
    # Nobody is known at capitalpost.example: the syndicator keeping that link takes the page too,
    # and is still the later copy.
    assert report.pages_used == 3
    assert rows[CAPITAL] == (CAPITAL, None, "original") and rows[SCRAPER][:2] == (CAPITAL, CAPITAL)
    assert rows["Syndicator"][:2] == (CAPITAL, CAPITAL)


def test_a_page_shared_by_several_items_of_one_publisher_is_asked_for_once_not_at_every_turn(tmp_path: Path) -> None:
    """A publisher's entries that all link to one page (a live blog, a section front): the
    page is none of theirs, and fetched once it is wanted no more (it was fetched again at
    every turn of the daemon, for as long as the items were young)."""
    url = f"sqlite:///{tmp_path / 't.sqlite3'}"
    pipeline = make_pipeline(url, FEEDS)
    shared = "https://capitalpost.example/live/"
    entries = [Item(f"Update {n}", shared, [TEASER + f" Update {n}."], T0 + hours(n), guid=f"update-{n}") for n in range(3)]
    pipeline.process(capture(ORIGINAL_FEED, T0 + hours(3), rss("Capital Post", "https://capitalpost.example/", entries)))
    assert {w.url for w in pipeline.pages_wanted(now=T0 + hours(4))} == {shared}
    page = PageCapture(shared, shared, T0 + hours(4), 200, (("Content-Type", "text/html"),), page_html("Live", TEXT))
    assert pipeline.process_page(page).pages_used == 0
    assert pipeline.pages_wanted(now=T0 + hours(5)) == []
    # Fetched again (an older daemon, an archive): still nobody's, and nothing is wanted.
    pipeline.process_page(PageCapture(shared, shared, T0 + hours(6), 200, (("Content-Type", "text/html"),), page_html("Live", TEXT)))
    assert pipeline.pages_wanted(now=T0 + hours(7)) == []


def test_a_consent_wall_two_sites_send_readers_to_is_neither_sites_article(tmp_path: Path) -> None:
    """Each site's article link redirects to one consent host (a session each), whose page
    says the same words for both: used as their texts, it made one site a copy of the other
    at similarity 1.0. A page a link on its publisher's own site leads away to is not its text."""
    from tracker.model import PageRedirect

    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    sites = ["alpha", "beta"]
    pipeline = make_pipeline(url, [{"url": f"https://{s}.example/feed", "publisher": s.title()} for s in sites])
    wall = [
        "We value your privacy. We and our 842 partners store and access information on your device, such as cookies, "
        "and process personal data such as unique identifiers and standard information sent by a device for "
        "personalised advertising and content, advertising and content measurement and audience research.",
        "With your permission we and our partners may use precise geolocation data and identification through device "
        "scanning. You may click to consent to our and our partners processing as described above, or change your "
        "preferences before consenting or refuse consenting.",
        "Some processing of your personal data may not require your consent, but you have a right to object to such "
        "processing. Your preferences will apply to this website only and can be changed at any time.",
    ]
    for n, site in enumerate(sites):
        link = f"https://{site}.example/news/story-{n}"
        pipeline.process(capture(f"https://{site}.example/feed", T0 + hours(n), rss(site.title(), f"https://{site}.example/", [
            Item(f"Story {n} headline", link, [f"A short summary of story {n}."], T0 + hours(n))], full_content=False)))
        consent = f"https://consent.example/collect?session={n}"
        pipeline.process_redirect(PageRedirect(link, consent, T0 + hours(n) + timedelta(minutes=5), "test"))
        report = pipeline.process_page(PageCapture(
            consent, consent, T0 + hours(n) + timedelta(minutes=5), 200, (("Content-Type", "text/html"),),
            page_html("Before you continue", wall)))
        assert report.pages_used == 0
    rows = provenance(url)
    assert rows == {"Alpha": ("Alpha", None, "original"), "Beta": ("Beta", None, "original")}


def test_an_excerpt_equal_to_the_originals_feed_summary_is_an_excerpt_of_its_page(tmp_path: Path) -> None:
    """The original's feed gives the article's first paragraph; an aggregator quotes that
    paragraph. It matches the feed's text whole, but the article (its page) is seven times
    longer: an excerpt, not a copy of a summary."""
    records = [
        capture(ORIGINAL_FEED, T0, rss("Capital Post", "https://capitalpost.example/", [
            Item(TITLE, STORY, TEXT[:1], T0 - timedelta(minutes=10))], full_content=False)),
        page_capture(STORY, T0 + timedelta(minutes=7), page_html(TITLE, TEXT)),
        capture(DIGEST_FEED, T0 + hours(2), rss("Digest", "https://digest.example/", [
            Item(TITLE, DIGEST, [*TEXT[:1], "Read the full story at Capital Post"], T0 + hours(1.9))], full_content=False)),
    ]
    url = f"sqlite:///{tmp_path / 'excerpt.sqlite3'}"
    ingest(url, [write_warc(tmp_path / "excerpt.warc.gz", records)])
    assert provenance(url)[DIGESTER] == (CAPITAL, CAPITAL, "excerpt")

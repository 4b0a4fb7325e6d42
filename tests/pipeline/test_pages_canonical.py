"""A page's canonical link only ever credits away from the page: it never makes the page
answer for another URL, so a page cannot put its text into someone else's item."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tracker.ingest.archives import ingest_paths

from tests.builders import T0, Item, article, capture, hours, rss, write_warc
from tests.conftest import make_pipeline
from tests.pipeline.test_pages_pipeline import ingest, page_capture, page_html, provenance

# Two blogs on one shared host: site_of() takes them for one site.
ALICE_FEED = "https://alice.github.io/feed.xml"
MALLORY_FEED = "https://mallory.github.io/feed.xml"
ALICE_POST = "https://alice.github.io/2025/harbour-bridge/"
MALLORY_POST = "https://mallory.github.io/p/1"
FEEDS = [{"url": ALICE_FEED, "publisher": "Alice"}, {"url": MALLORY_FEED, "publisher": "Mallory"}]
PLANTED = article(150, paragraphs=6)
REAL = article(151, paragraphs=6)


def publishers_with_page_text(url: str) -> list[str]:
    """The publishers of the items whose text is a page's article."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = conn.execute(sa.text(
            "SELECT p.name FROM item_versions v JOIN items i ON i.id = v.item_id "
            "JOIN publishers p ON p.id = i.publisher_id WHERE v.from_page ORDER BY p.name")).scalars().all()
    engine.dispose()
    return list(names)


def test_a_page_naming_another_blogs_post_canonical_does_not_become_its_text(any_db_url: str, tmp_path: Path) -> None:
    records = [
        capture(MALLORY_FEED, T0, rss("Mallory", "https://mallory.github.io/", [
            Item("Notes", MALLORY_POST, ["A short note, read the page."], T0 - timedelta(minutes=5))], full_content=False)),
        # Mallory's page declares Alice's (future) post its canonical form.
        page_capture(MALLORY_POST, T0 + timedelta(minutes=5), page_html("Notes", PLANTED, canonical=ALICE_POST)),
        capture(ALICE_FEED, T0 + hours(2), rss("Alice", "https://alice.github.io/", [
            Item("Harbour bridge", ALICE_POST, ["The bridge, in a sentence."], T0 + hours(1.9))], full_content=False)),
        page_capture(ALICE_POST, T0 + hours(2.1), page_html("Harbour bridge", REAL)),
    ]
    ingest(any_db_url, [write_warc(tmp_path / "net.warc.gz", records)], FEEDS)
    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        from_page = conn.execute(sa.text(
            "SELECT p.name, count(*) FROM item_versions v JOIN items i ON i.id = v.item_id "
            "JOIN publishers p ON p.id = i.publisher_id WHERE v.from_page GROUP BY p.name ORDER BY p.name")).all()
    engine.dispose()
    # Alice's item has one page text (her own), Mallory's one (hers).
    rows = provenance(any_db_url)
    assert rows["Alice"] == ("Alice", None, "original")
    assert [tuple(r) for r in from_page] == [("Alice", 1), ("Mallory", 1)]


@pytest.mark.parametrize("host", ["github.io", "substack.com"])  # on the Public Suffix List, and not
def test_a_link_blog_on_the_same_shared_host_does_not_take_the_posts_text(any_db_url: str, tmp_path: Path, host: str) -> None:
    """Mallory's feed links to Alice's post (a link blog) before Alice's feed is read: the
    page at Alice's URL is Alice's text, not Mallory's, though both blog under one host."""
    alice_feed, mallory_feed = f"https://alice.{host}/feed.xml", f"https://mallory.{host}/feed.xml"
    alice_post = f"https://alice.{host}/2025/harbour-bridge/"
    records = [
        capture(mallory_feed, T0, rss("Mallory", f"https://mallory.{host}/", [
            Item("Worth reading", alice_post, ["Alice on the bridge, worth a read."], T0 - timedelta(minutes=5),
                 guid="mallory-1")], full_content=False)),
        page_capture(alice_post, T0 + timedelta(minutes=5), page_html("Harbour bridge", REAL)),
        capture(alice_feed, T0 + hours(2), rss("Alice", f"https://alice.{host}/", [
            Item("Harbour bridge", alice_post, ["The bridge, in a sentence."], T0 + hours(1.9))], full_content=False)),
    ]
    pipeline = make_pipeline(any_db_url, [{"url": alice_feed, "publisher": "Alice"}, {"url": mallory_feed, "publisher": "Mallory"}])
    pipeline.register_feeds()  # as `tracker ingest` does: every configured publisher is known
    ingest_paths(pipeline, [write_warc(tmp_path / "net.warc.gz", records)], workers=0)
    assert publishers_with_page_text(any_db_url) == ["Alice"]
    assert provenance(any_db_url)["Alice"] == ("Alice", None, "original")


def test_a_link_blogs_own_redirect_to_anothers_post_does_not_make_the_post_its_text(any_db_url: str, tmp_path: Path) -> None:
    """A link blog's links go through its own redirector (linkblog.example/r/1 → Alice's
    post): the page is served by Alice's site, so it is Alice's text, not the link blog's,
    though the link blog's item was seen first."""
    from tracker.model import PageRedirect

    alice_feed, blog_feed = "https://alice.example/feed.xml", "https://linkblog.example/feed.xml"
    alice_post, short = "https://alice.example/2025/harbour-bridge/", "https://linkblog.example/r/1"
    pipeline = make_pipeline(any_db_url, [{"url": alice_feed, "publisher": "Alice"}, {"url": blog_feed, "publisher": "Links"}])
    pipeline.register_feeds()
    pipeline.process(capture(blog_feed, T0, rss("Links", "https://linkblog.example/", [
        Item("Worth reading", short, ["Alice on the bridge."], T0 - timedelta(minutes=5))], full_content=False)))
    pipeline.process(capture(alice_feed, T0 + hours(0.5), rss("Alice", "https://alice.example/", [
        Item("Harbour bridge", alice_post, ["The bridge, in a sentence."], T0 + hours(0.4))], full_content=False)))
    pipeline.process_redirect(PageRedirect(short, alice_post, T0 + hours(1), "test"))
    from tracker.model import PageCapture

    body = page_html("Harbour bridge", REAL, canonical=alice_post)
    pipeline.process_page(PageCapture(url=alice_post, final_url=alice_post, fetched_at=T0 + hours(1), status=200,
                                      headers=(("Content-Type", "text/html; charset=utf-8"),), body=body))
    assert publishers_with_page_text(any_db_url) == ["Alice"]
    assert provenance(any_db_url)["Alice"] == ("Alice", None, "original")


def test_a_link_blog_does_not_take_the_text_of_an_unfollowed_sites_article(any_db_url: str, tmp_path: Path) -> None:
    """A link blog (its items link to articles on other sites) is followed; the sites it links
    to are not, and one article is scraped by a followed mirror. The page at the link is that
    site's article, not the link blog's text: the link blog is no original of it, nor its copy."""
    blog_feed, mirror_feed = "https://linkblog.example/feed.xml", "https://scraper.example/rss"
    linked = ["https://harbourtimes.example/2025/bridge/", "https://valleynews.example/a/77", "https://coastpost.example/p/3"]
    records = [
        capture(blog_feed, T0, rss("Links", "https://linkblog.example/", [
            Item(f"Worth reading {n}", url, [f"Worth a read, number {n}."], T0 - timedelta(minutes=10 + n), guid=f"links-{n}")
            for n, url in enumerate(linked)], full_content=False)),
        page_capture(linked[0], T0 + timedelta(minutes=5), page_html("Harbour bridge", REAL)),
        capture(mirror_feed, T0 + hours(2), rss("Scraper", "https://scraper.example/", [
            Item("Harbour bridge", "https://scraper.example/9.html", REAL, T0 + hours(1.9))])),
    ]
    ingest(any_db_url, [write_warc(tmp_path / "net.warc.gz", records)],
           [{"url": blog_feed, "publisher": "Links"}, {"url": mirror_feed, "publisher": "Scraper"}])
    assert publishers_with_page_text(any_db_url) == []
    assert provenance(any_db_url)["Scraper"] == ("Scraper", None, "original")
    # Nor are the link blog's linked pages asked for: the daemon fetches none of them.
    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        states = conn.execute(sa.text("SELECT s.state FROM item_pages s JOIN items i ON i.id = s.item_id "
                                      "WHERE i.url LIKE 'https://%' AND i.url NOT LIKE 'https://scraper.example/%'")).scalars().all()
    engine.dispose()
    assert states == ["not_used"] * 3

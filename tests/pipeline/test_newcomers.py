"""A capture's newcomers placed together (`tracker.pipeline.newcomers`): as if one by one."""

from __future__ import annotations

import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tracker.model import Capture

ORIGIN, FIRST, SECOND = "https://origin.example/rss", "https://first.example/rss", "https://second.example/rss"
FEEDS = [{"url": ORIGIN, "publisher": "Origin"}, {"url": FIRST, "publisher": "First Mirror"}, {"url": SECOND, "publisher": "Second Mirror"}]


def story(site: str, n: int, published: object, link: str | None = None) -> Item:
    return Item(f"Story {n}", link or f"https://{site}/story-{n}", article(n), published)  # type: ignore[arg-type]


def grouped_stories() -> list[Capture]:
    """Three stories, each copied once already: three groups of two."""
    return [
        capture(ORIGIN, T0 + hours(1), rss("Origin", "https://origin.example/", [story("origin.example", n, T0) for n in (1, 2, 3)])),
        capture(FIRST, T0 + hours(2), rss("First", "https://first.example/", [story("first.example", n, T0 + hours(1.5)) for n in (1, 2, 3)])),
    ]


def second_mirror() -> list[Item]:
    """Copies of the three stories, and story 1 again under a second link (it joins the group
    the first copy joined a moment before)."""
    return [story("second.example", n, T0 + hours(3)) for n in (1, 2, 3)] + [
        story("second.example", 1, T0 + hours(3), link="https://second.example/story-1-again"),
    ]


def provenance(url: str) -> dict[str, tuple[str | None, str | None, str, int, int]]:
    """url → (original url, parent url, relation, its group's size, its place in the group)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT p.item_id, p.url, p.original_item_id, p.parent_item_id, p.relation, g.size, ig.position "
            "FROM item_provenance p JOIN item_groups ig ON ig.item_id = p.item_id JOIN match_groups g ON g.id = ig.group_id"
        )).all()
    engine.dispose()
    urls = {r.item_id: r.url for r in rows}
    return {r.url: (urls.get(r.original_item_id), urls.get(r.parent_item_id), r.relation, r.size, r.position) for r in rows}


def test_newcomers_of_one_capture_are_placed_as_one_by_one(any_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    together = make_pipeline(any_db_url, FEEDS)
    together.ingest(grouped_stories())
    report = together.ingest([capture(SECOND, T0 + hours(4), rss("Second", "https://second.example/", second_mirror()))])
    assert (report.new_items, report.republications) == (4, 4)

    one_by_one_url = f"sqlite:///{tmp_path / 'one-by-one.db'}"
    one_by_one = make_pipeline(one_by_one_url, FEEDS)
    one_by_one.ingest(grouped_stories())
    items = second_mirror()
    one_by_one.ingest([
        capture(SECOND, T0 + hours(4) + hours(0.01 * n), rss("Second", "https://second.example/", items[:n])) for n in range(1, 5)
    ])

    placed = provenance(any_db_url)
    assert placed == provenance(one_by_one_url)
    assert sorted(size for *_, size, _ in placed.values()) == [3] * 6 + [4] * 4
    assert sorted(place for *_, place in placed.values()) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    for n in (1, 2, 3):
        assert placed[f"https://second.example/story-{n}"][:2] == (f"https://origin.example/story-{n}",) * 2
    assert placed["https://second.example/story-1-again"][0] == "https://origin.example/story-1"


def test_an_aggregator_linking_to_the_article_page_is_its_copy_whichever_comes_first(sqlite_url: str) -> None:
    """An aggregator's entry carries the article's text under the article's own link (on the
    publisher's site) and its date, and is polled a few minutes before the publisher's feed.
    The link names the article: the publisher is the original, in whichever order the
    captures arrive (appended to the aggregator's group, or that group decided whole)."""
    link, paragraphs = "https://origin.example/a/", article(31)
    captures = [
        capture(FIRST, T0 + hours(0.1), rss("First", "https://first.example/", [Item("Story", link, paragraphs, T0, guid="first-1")])),
        capture(ORIGIN, T0 + hours(0.25), rss("Origin", "https://origin.example/", [Item("Story", link, paragraphs, T0)])),
    ]
    for order, into in ((captures, sqlite_url), (captures[::-1], sqlite_url.replace(".sqlite3", "-reversed.sqlite3"))):
        make_pipeline(into, FEEDS).ingest(order)
        engine = sa.create_engine(into)
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT publisher, relation FROM item_provenance")).all())
        engine.dispose()
        assert rows == {"Origin": "original", "First Mirror": "copy"}


def test_a_scraper_keeping_the_original_guid_is_its_copy_whichever_comes_first(sqlite_url: str) -> None:
    """A scraper republishes an entry whole, GUID (the original's permalink) and date kept,
    under a link of its own, and is polled first: the GUID names the original's publisher."""
    guid, paragraphs = "https://origin.example/?p=123", article(32)
    captures = [
        capture(FIRST, T0 + hours(0.1), rss("First", "https://first.example/", [Item("Story", "https://first.example/s", paragraphs, T0, guid=guid)])),
        capture(ORIGIN, T0 + hours(0.25), rss("Origin", "https://origin.example/", [Item("Story", "https://origin.example/a/", paragraphs, T0, guid=guid)])),
    ]
    for order, into in ((captures, sqlite_url), (captures[::-1], sqlite_url.replace(".sqlite3", "-reversed.sqlite3"))):
        make_pipeline(into, FEEDS).ingest(order)
        engine = sa.create_engine(into)
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT publisher, relation FROM item_provenance")).all())
        engine.dispose()
        assert rows == {"Origin": "original", "First Mirror": "copy"}


def test_an_aggregator_naming_the_source_as_its_author_is_its_copy(sqlite_url: str) -> None:
    """An aggregator (WordPress's feed-to-post plugins do so) gives the source feed's name as
    the author of the post it made of its entry, and claims an earlier date."""
    paragraphs = article(33)
    copied = rss("First", "https://first.example/", [Item("Story", "https://first.example/s", paragraphs, T0 - hours(1))])
    copied = copied.replace(b"<pubDate>", b"<author>Origin</author><pubDate>")
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(FIRST, T0 - hours(0.5), copied),
        capture(ORIGIN, T0 + hours(0.25), rss("Origin", "https://origin.example/", [Item("Story", "https://origin.example/a/", paragraphs, T0)])),
    ])
    assert provenance(sqlite_url)["https://first.example/s"][:3] == ("https://origin.example/a/", "https://origin.example/a/", "copy")


def test_an_rss_author_mailbox_at_the_source_site_credits_it(sqlite_url: str) -> None:
    """RSS writes the author as "email (Name)": a copy keeping the original's is its copy."""
    paragraphs = article(34)
    copied = rss("First", "https://first.example/", [Item("Story", "https://first.example/s", paragraphs, T0 - hours(1))])
    copied = copied.replace(b"<pubDate>", b"<author>desk@origin.example (The Desk)</author><pubDate>")
    make_pipeline(sqlite_url, FEEDS).ingest([
        capture(FIRST, T0 - hours(0.5), copied),
        capture(ORIGIN, T0 + hours(0.25), rss("Origin", "https://origin.example/", [Item("Story", "https://origin.example/a/", paragraphs, T0)])),
    ])
    assert provenance(sqlite_url)["https://first.example/s"][:3] == ("https://origin.example/a/", "https://origin.example/a/", "copy")

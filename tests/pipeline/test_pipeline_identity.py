"""Nothing lost, nothing merged: real feed shapes through the pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from html import escape

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tests.daemon.test_poll import scalar
from tracker.model import Capture


def items_of(url: str, feed_url: str | None = None) -> list[dict[str, object]]:
    """Rows of item_provenance (of one feed's items, if given), oldest item first."""
    engine = sa.create_engine(url)
    query = "SELECT p.* FROM item_provenance p"
    if feed_url:
        query += " JOIN item_feeds f ON f.item_id = p.item_id JOIN feeds fd ON fd.id = f.feed_id WHERE fd.url = :feed"
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(query + " ORDER BY p.item_id"), {"feed": feed_url}).mappings()]
    engine.dispose()
    return rows


def raw_rss(title: str, site: str, items: list[str]) -> bytes:
    """An RSS document from ready-made <item> bodies (for shapes the builder does not make)."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>{site}</link><description>d</description>{''.join(f'<item>{i}</item>' for i in items)}</channel></rss>"
    ).encode()


# --------------------------------------------------------------------------- items


def test_microblog_posts_linking_to_one_day_page_with_fragments_stay_distinct(any_db_url: str) -> None:
    feed = "https://micro.example.org/feed.xml"
    posts = [
        f"<title></title><guid>https://micro.example.org/2025/01/09/{n}</guid>"
        f"<link>https://micro.example.org/2025/01/09/#p{n}</link><description>{escape(' '.join(article(n, 1)))}</description>"
        for n in range(12)
    ]
    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture(feed, T0, raw_rss("Micro", "https://micro.example.org/", posts)))
    rows = items_of(any_db_url)
    assert len(rows) == 12
    # The link is stored as published, fragment and all.
    assert {r["url"] for r in rows} == {f"https://micro.example.org/2025/01/09/#p{n}" for n in range(12)}


def test_newsletter_issues_on_one_page_with_numbered_fragments_stay_distinct(any_db_url: str) -> None:
    feed = "https://letter.example.org/rss"
    issues = [
        f"<title>Issue {n}</title><link>https://letter.example.org/archive/#{n}</link><description>{escape(' '.join(article(100 + n, 2)))}</description>"
        for n in range(30, 0, -1)
    ]
    make_pipeline(any_db_url).process(capture(feed, T0, raw_rss("Letter", "https://letter.example.org/", issues)))
    assert len(items_of(any_db_url)) == 30


def test_guidless_entries_sharing_one_news_page_are_distinct_and_found_again(any_db_url: str) -> None:
    feed = "https://project.example.org/news.rss"

    def entry(n: int) -> str:
        return (f"<title>Release 1.{n}</title><link>https://project.example.org/news/</link>"
                f"<description>{escape(' '.join(article(200 + n, 2)))}</description>")

    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture(feed, T0, raw_rss("Project", "https://project.example.org/", [entry(n) for n in range(5)])))
    assert len(items_of(any_db_url)) == 5
    # A later capture adds a release on top; after a restart the five are still found.
    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture(feed, T0 + hours(1), raw_rss("Project", "https://project.example.org/", [entry(n) for n in range(6)])))
    assert len(items_of(any_db_url)) == 6


def test_two_guids_on_one_link_are_two_items(any_db_url: str) -> None:
    feed = "https://site.example.org/feed"
    entries = [
        f"<title>Same page {n}</title><guid isPermaLink='false'>post-{n}</guid><link>https://site.example.org/page</link>"
        f"<description>{escape(' '.join(article(300 + n, 2)))}</description>"
        for n in range(2)
    ]
    make_pipeline(any_db_url).process(capture(feed, T0, raw_rss("Site", "https://site.example.org/", entries)))
    assert len(items_of(any_db_url)) == 2


def test_the_same_article_in_a_publishers_two_feeds_is_still_one_item(any_db_url: str) -> None:
    feeds = [{"url": "https://paper.example.org/feed/", "publisher": "Paper"},
             {"url": "https://paper.example.org/category/world/feed/", "publisher": "Paper"}]
    text = article(7)
    main = Item("World story", "https://paper.example.org/world-story/?utm_source=rss", text, T0, guid="https://paper.example.org/?p=7")
    section = Item("World story", "https://paper.example.org/world-story/", text, T0, guid="https://paper.example.org/?p=7")
    pipeline = make_pipeline(any_db_url, feeds)
    pipeline.process(capture(feeds[0]["url"], T0 + hours(1), rss("Paper", "https://paper.example.org/", [main])))
    pipeline.process(capture(feeds[1]["url"], T0 + hours(2), rss("Paper - World", "https://paper.example.org/", [section])))
    assert len(items_of(any_db_url)) == 1


def test_an_edit_is_a_new_version_not_a_new_item(any_db_url: str) -> None:
    feed = "https://paper.example.org/feed/"
    text = article(8)
    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture(feed, T0, rss("Paper", "https://paper.example.org/", [Item("Story", "https://paper.example.org/s", text, T0)])))
    edited = Item("Story (updated)", "https://paper.example.org/s", [*text, "A correction was added."], T0)
    pipeline.process(capture(feed, T0 + hours(1), rss("Paper", "https://paper.example.org/", [edited])))
    assert len(items_of(any_db_url)) == 1
    assert scalar(any_db_url, "SELECT COUNT(*) FROM item_versions") == 2


def test_a_guid_of_thousands_of_characters_is_found_again_after_a_restart(any_db_url: str) -> None:
    feed = "https://long.example.org/feed"
    guids = ["tag:long.example.org,2025:" + "x" * 3000 + suffix for suffix in ("a", "b")]  # same first 3,000 characters
    items = [Item(f"Post {n}", f"https://long.example.org/{n}", article(400 + n), T0, guid=g) for n, g in enumerate(guids)]
    make_pipeline(any_db_url).process(capture(feed, T0, rss("Long", "https://long.example.org/", items)))
    report = make_pipeline(any_db_url).process(capture(feed, T0 + hours(1), rss("Long", "https://long.example.org/", items)))
    assert report.errors == 0 and report.new_items == 0
    assert len(items_of(any_db_url)) == 2


# --------------------------------------------------------------------------- publishers


def test_two_feeds_on_a_feed_hosting_host_are_two_publishers(any_db_url: str) -> None:
    """Unnamed in the config, each takes its title; the host they share joins nothing."""
    a, b = "https://feeds.hosting.example/alpha-news", "https://feeds.hosting.example/beta-times"
    pipeline = make_pipeline(any_db_url, [{"url": a}, {"url": b}])
    text = article(9)
    pipeline.process(capture(a, T0, rss("Alpha News", "https://alpha.example.org/", [Item("Story", "https://alpha.example.org/s", text, T0)])))
    pipeline.process(capture(b, T0 + hours(2), rss("Beta Times", "https://beta.example.net/", [Item("Story", "https://beta.example.net/s", text, T0 + hours(2))])))
    rows = items_of(any_db_url)
    assert {r["publisher"] for r in rows} == {"Alpha News", "Beta Times"}
    # Two publishers, so the copy is found.
    copy = next(r for r in rows if r["publisher"] == "Beta Times")
    assert copy["relation"] == "copy" and copy["parent_item_id"] == next(r["item_id"] for r in rows if r["publisher"] == "Alpha News")


def test_two_unrelated_sites_with_the_same_title_stay_two_publishers(any_db_url: str) -> None:
    a, b = "https://town-a.example.org/rss", "https://town-b.example.net/rss"
    pipeline = make_pipeline(any_db_url)  # not in the config: registered from the captures
    pipeline.process(capture(a, T0, rss("Latest News", "https://town-a.example.org/", [Item("A", "https://town-a.example.org/a", article(10), T0)])))
    pipeline.process(capture(b, T0, rss("Latest News", "https://town-b.example.net/", [Item("B", "https://town-b.example.net/b", article(11), T0)])))
    assert scalar(any_db_url, "SELECT COUNT(*) FROM publishers") == 2
    names = {r["publisher"] for r in items_of(any_db_url)}
    assert "Latest News" in names and len(names) == 2


def test_a_sites_rss_and_atom_feeds_join_one_publisher_by_title_and_site(any_db_url: str) -> None:
    rss_url, atom_url = "https://blog.example.org/feed/", "https://blog.example.org/feed/atom/"
    pipeline = make_pipeline(any_db_url, [{"url": rss_url}, {"url": atom_url}])
    item = Item("Post", "https://blog.example.org/post/", article(12), T0, guid="https://blog.example.org/?p=12")
    pipeline.process(capture(rss_url, T0, rss("A Blog", "https://blog.example.org/", [item])))
    pipeline.process(capture(atom_url, T0 + hours(1), rss("A Blog", "https://blog.example.org", [item])))
    assert scalar(any_db_url, "SELECT COUNT(*) FROM publishers") == 1
    assert [r["publisher"] for r in items_of(any_db_url)] == ["A Blog"]


def test_a_feed_claiming_another_sites_title_and_link_neither_joins_its_publisher_nor_edits_its_items(any_db_url: str) -> None:
    """Anyone can title a feed "Khaama Press" and link it to Khaama's site: only a feed on
    that site joins its publisher, so a stranger's entry reusing one of Khaama's GUIDs is a
    new item of the stranger's (a copy), never a new version of Khaama's."""
    real, spoof = "https://www.khaama.example/feed/", "https://evil.example/feed"
    pipeline = make_pipeline(any_db_url)  # neither named in the config
    text = article(15)
    guid = "https://www.khaama.example/?p=183400"
    pipeline.process(capture(real, T0, rss("Khaama Press", "https://www.khaama.example/", [
        Item("Story", "https://www.khaama.example/story/", text, T0, guid=guid)])))
    report = pipeline.process(capture(spoof, T0 + hours(2), rss("Khaama Press", "https://www.khaama.example/", [
        Item("Story", "https://www.khaama.example/story/", text + ["Words the stranger added."], T0 + hours(1), guid=guid)])))
    assert report.updates == 0 and report.new_items == 1
    assert scalar(any_db_url, "SELECT COUNT(*) FROM item_versions") == 2  # Khaama's item has its one version
    rows = {r["publisher"]: r for r in items_of(any_db_url)}
    assert set(rows) == {"Khaama Press", "Khaama Press (evil.example)"}
    assert rows["Khaama Press (evil.example)"]["parent_item_id"] == rows["Khaama Press"]["item_id"]
    # Khaama's site stays Khaama's: a credit naming it still finds one publisher there.
    assert scalar(any_db_url, "SELECT site_host FROM publishers WHERE name = 'Khaama Press (evil.example)'") == "evil.example"


def test_a_feed_first_seen_in_an_archive_is_not_polled(any_db_url: str) -> None:
    followed = "https://followed.example.org/rss"
    pipeline = make_pipeline(any_db_url, [{"url": followed, "publisher": "Followed"}])
    pipeline.register_feeds()
    pipeline.process(capture("https://stranger.example.org/rss", T0, rss("Stranger", "https://stranger.example.org/", [])))
    active = scalar(any_db_url, "SELECT COUNT(*) FROM feeds WHERE active = :yes", yes=True)
    assert active == 1
    assert scalar(any_db_url, "SELECT url FROM feeds WHERE active = :yes", yes=True) == followed


# --------------------------------------------------------------------------- hostile strings


def test_over_long_and_nul_bearing_strings_are_stored(any_db_url: str) -> None:
    feed = "https://hostile.example.org/feed"
    long_title = "T" * 5000
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{'Feed title ' * 400}</title><link>https://hostile.example.org/{'p' * 3000}</link><description>d</description>"
        f"<item><title>{long_title}</title><link>https://hostile.example.org/{'a' * 5000}</link>"
        f"<guid>g-1</guid><author>{'x' * 2000}@example.org</author>"
        f"<description>{escape(' '.join(article(13)))} &#0; with a NUL</description></item>"
        f"<item><title>NUL &#0; in a title, \u0007 a bell</title><link>https://hostile.example.org/b</link><guid>g-2</guid>"
        f"<description>{escape(' '.join(article(14)))}</description></item>"
        "</channel></rss>"
    ).encode()
    body = body.replace(b"&#0;", b"\x00")  # raw NUL bytes, as broken feeds serve them
    report = make_pipeline(any_db_url).process(capture(feed, T0, body))
    assert report.errors == 0 and report.new_items == 2
    rows = items_of(any_db_url)
    assert rows[0]["title"] == long_title and len(str(rows[0]["url"])) > 5000
    assert "\x00" not in str(rows[1]["title"]) and "\x07" not in str(rows[1]["title"])
    assert len(str(rows[0]["publisher"])) <= 300


def test_a_feed_url_no_row_can_hold_is_refused_and_the_rest_goes_on(any_db_url: str) -> None:
    pipeline = make_pipeline(any_db_url)
    good = "https://good.example.org/rss"
    for bad_url in ("https://bad.example.org/\x00feed", "https://bad.example.org/" + "f" * 3000):
        report = pipeline.process(Capture(bad_url, T0, "response", b"<rss/>", "test"))
        assert report.errors == 1 and report.captures == 0
    report = pipeline.process(capture(good, T0, rss("Good", "https://good.example.org/", [Item("A", "https://good.example.org/a", article(15), T0)])))
    assert report.new_items == 1


def test_a_capture_the_database_refuses_is_recorded_as_failed_and_nothing_half_stays(any_db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    feed = "https://poison.example.org/rss"
    pipeline = make_pipeline(any_db_url)
    body = rss("Poison", "https://poison.example.org/", [Item("A", "https://poison.example.org/a", article(18), T0)])
    real = pipeline._entries

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        real(*args, **kwargs)  # the items are written, then the database refuses the rest
        raise sa.exc.DataError("INSERT …", {}, Exception("value too long for type character varying(500)"))

    monkeypatch.setattr(pipeline, "_entries", refuse)
    report = pipeline.process(capture(feed, T0, body))
    assert report.errors == 1 and report.store_error and "too long" in report.store_error
    assert scalar(any_db_url, "SELECT COUNT(*) FROM items") == 0
    assert scalar(any_db_url, "SELECT error_kind FROM captures") == "store"
    monkeypatch.undo()
    # Nothing of the failed capture was kept: the next capture of the feed is stored whole.
    report = pipeline.process(capture(feed, T0 + hours(1), body))
    assert report.new_items == 1 and report.errors == 0


# --------------------------------------------------------------------------- captures


def test_two_captures_in_the_same_second_are_both_stored(any_db_url: str) -> None:
    feed = "https://fast.example.org/rss"
    first = rss("Fast", "https://fast.example.org/", [Item("One", "https://fast.example.org/1", article(16), T0)])
    second = rss("Fast", "https://fast.example.org/", [Item("Two", "https://fast.example.org/2", article(17), T0)])
    pipeline = make_pipeline(any_db_url)
    assert pipeline.process(capture(feed, T0, first)).captures == 1
    report = pipeline.process(capture(feed, T0, second))
    assert report.captures == 1 and report.skipped_known == 0 and report.new_items == 1
    # The very same capture again is recognised, after a restart too.
    assert make_pipeline(any_db_url).process(capture(feed, T0, second)).skipped_known == 1
    assert scalar(any_db_url, "SELECT COUNT(*) FROM captures") == 2


def test_a_copy_of_a_lost_article_is_attributed_to_its_own_story(any_db_url: str) -> None:
    """Posts that used to merge into one item took their copies into the wrong story."""
    feeds = [{"url": "https://micro.example.org/feed", "publisher": "Micro"}, {"url": "https://copier.example.net/rss", "publisher": "Copier"}]
    texts = [article(500 + n) for n in range(3)]
    posts = [Item(f"Post {n}", f"https://micro.example.org/day/#p{n}", texts[n], T0, guid=f"micro-{n}") for n in range(3)]
    copies = [Item(f"Copy {n}", f"https://copier.example.net/{n}", texts[n], T0 + hours(3)) for n in range(3)]
    pipeline = make_pipeline(any_db_url, feeds)
    pipeline.process(capture(feeds[0]["url"], T0 + timedelta(minutes=5), rss("Micro", "https://micro.example.org/", posts)))
    pipeline.process(capture(feeds[1]["url"], T0 + hours(3), rss("Copier", "https://copier.example.net/", copies)))
    rows = {r["url"]: r for r in items_of(any_db_url)}
    for n in range(3):
        copy = rows[f"https://copier.example.net/{n}"]
        assert copy["parent_item_id"] == rows[f"https://micro.example.org/day/#p{n}"]["item_id"]


def test_an_entry_whose_body_cannot_be_read_costs_only_itself(any_db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tracker.pipeline.entries

    real = tracker.pipeline.entries.to_document

    def fragile(entry):  # type: ignore[no-untyped-def]
        if "poison" in entry.title:
            raise RecursionError("maximum recursion depth exceeded while parsing HTML")
        return real(entry)

    monkeypatch.setattr(tracker.pipeline.entries, "to_document", fragile)
    feed = "https://mixed.example.org/rss"
    items = [Item(title, f"https://mixed.example.org/{n}", article(600 + n), T0) for n, title in enumerate(["good one", "poison", "good two"])]
    report = make_pipeline(any_db_url).process(capture(feed, T0, rss("Mixed", "https://mixed.example.org/", items)))
    assert report.new_items == 2 and any("poison" in w or "mixed.example.org/1" in w for w in report.warnings)
    assert {r["title"] for r in items_of(any_db_url)} == {"good one", "good two"}


def test_one_guid_on_two_different_entries_of_one_link_keeps_the_first_and_says_so(sqlite_url: str) -> None:
    feed = "https://reuse.example.org/rss"
    entries = [
        f"<title>{title}</title><guid>same-guid</guid><link>https://reuse.example.org/story</link>"
        f"<description>{escape(' '.join(article(700 + n, 2)))}</description>"
        for n, title in enumerate(["First", "Second"])
    ]
    report = make_pipeline(sqlite_url).process(capture(feed, T0, raw_rss("Reuse", "https://reuse.example.org/", entries)))
    assert report.new_items == 1 and [r["title"] for r in items_of(sqlite_url)] == ["First"]
    assert sum("same-guid" in w and "the first is kept" in w for w in report.warnings) == 1


def test_one_guid_on_the_articles_of_several_links_loses_none_of_them(sqlite_url: str) -> None:
    """A CMS that gives every entry its site's address as GUID: each article is its link's."""
    feed = "https://reuse.example.org/rss"
    entries = [
        f"<title>{title}</title><guid>https://reuse.example.org/</guid><link>https://reuse.example.org/{n}</link>"
        f"<description>{escape(' '.join(article(710 + n, 2)))}</description>"
        for n, title in enumerate(["One", "Two", "Three"])
    ]
    pipeline = make_pipeline(sqlite_url)
    report = pipeline.process(capture(feed, T0, raw_rss("Reuse", "https://reuse.example.org/", entries)))
    assert report.new_items == 3 and [r["title"] for r in items_of(sqlite_url)] == ["One", "Two", "Three"]
    assert sum("told apart by their links" in w for w in report.warnings) == 1
    again = pipeline.process(capture(feed, T0 + hours(1), raw_rss("Reuse", "https://reuse.example.org/", entries[1:])))
    assert again.new_items == 0 and again.updates == 0


def test_the_flagship_credit_by_name_finds_a_publisher_named_by_its_own_feed(any_db_url: str) -> None:
    """ru24.pro's mirror says "The post … appeared first on Khaama Press." and was seen first,
    claiming an earlier time; no publisher is named in the config: Khaama Press, named so by
    its own feed's title, is the original all the same (a credit outweighs the dates)."""
    from tests.pipeline.test_pipeline import KHAAMA, MIRROR_URL, ORIGINAL_URL, RU24, khaama_item, mirror_item

    pipeline = make_pipeline(any_db_url)
    text = article(18, paragraphs=8)
    pipeline.process(capture(RU24, T0 + hours(0.5), rss("ru24.pro", "https://ru24.pro/", [mirror_item(text, published=T0)],
                                                         full_content=False)))
    pipeline.process(capture(KHAAMA, T0 + hours(1.5), rss("Khaama Press", "https://www.khaama.com/", [
        khaama_item(text, published=T0 + hours(1))])))
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert rows[ORIGINAL_URL]["relation"] == "original"
    assert rows[MIRROR_URL]["parent_item_id"] == rows[ORIGINAL_URL]["item_id"]


def test_a_feed_titled_as_a_credited_wire_on_a_site_of_another_name_does_not_take_the_credit(any_db_url: str) -> None:
    """A newspaper's wire story says "Source: AFP" (AFP not followed). A feed titled "AFP" on
    a site of another name copies it an hour later: it is a copy of the newspaper, not the
    original the credit meant. A feed titled so on AFP's own site is found by the credit."""
    text = article(41, paragraphs=6)
    paper = Item("Floods close the port", "https://dailypaper.example.org/floods", text, T0, extra_after=["Source: AFP"])
    fake = Item("Floods close the port", "https://impostor.example.net/floods", text, T0 + hours(1))
    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture("https://dailypaper.example.org/rss", T0 + hours(0.2),
                             rss("Daily Paper", "https://dailypaper.example.org/", [paper])))
    pipeline.process(capture("https://impostor.example.net/rss", T0 + hours(1.2), rss("AFP", "https://impostor.example.net/", [fake])))
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert rows[paper.link]["relation"] == "original"
    assert rows[fake.link]["parent_item_id"] == rows[paper.link]["item_id"]

    # AFP's own feed, added last, is what the credit meant: the impostor's title hides it not.
    wire = Item("Floods close the port", "https://www.afp.com/en/floods", text, T0 - hours(1))
    pipeline.process(capture("https://www.afp.com/en/rss", T0 + hours(2.2), rss("AFP", "https://www.afp.com/", [wire])))
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert rows[wire.link]["relation"] == "original"
    assert rows[paper.link]["parent_item_id"] == rows[wire.link]["item_id"]
    assert json.loads(str(rows[paper.link]["evidence"]))["parent"]["credited"] == "publisher"


_RELATIVE = "https://relative.example.org/rss"


def _relative_feed(when_hours: float, text: list[str]) -> Capture:
    body = raw_rss("Relative", "/", [
        f"<title>Harbour reopens</title><link>/2024/harbour/</link><pubDate>Tue, 07 Jan 2025 09:00:00 GMT</pubDate>"
        f"<description>{escape(' '.join(text))}</description>"
    ])
    return capture(_RELATIVE, T0 + hours(when_hours), body)


def test_an_entry_linked_by_a_path_is_its_sites_page_and_a_mirror_crediting_that_page_names_it(any_db_url: str) -> None:
    text = article(77, paragraphs=5)
    pipeline = make_pipeline(any_db_url)
    pipeline.process(_relative_feed(0.2, text))
    mirror = Item("Harbour reopens", "https://mirror.example.net/harbour", text, T0 + hours(3),
                  extra_after=['The post <a href="/2024/harbour/">Harbour reopens</a> appeared first on Relative.'])
    pipeline.process(capture("https://mirror.example.net/rss", T0 + hours(3.2), rss("Mirror", "https://mirror.example.net/", [mirror])))
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert set(rows) == {"https://relative.example.org/2024/harbour/", mirror.link}
    assert rows[mirror.link]["parent_item_id"] == rows["https://relative.example.org/2024/harbour/"]["item_id"]


def test_an_upgrade_makes_stored_paths_whole_and_the_feeds_next_capture_finds_its_items(sqlite_url: str) -> None:
    from tests.conftest import alembic
    from tracker.detection.identity import key_hash, link_key, lookup_hash

    text = article(78, paragraphs=5)
    pipeline = make_pipeline(sqlite_url)
    pipeline.process(_relative_feed(0.2, text))
    whole = "https://relative.example.org/2024/harbour/"
    engine = sa.create_engine(sqlite_url)
    alembic(engine, "downgrade", "0015")
    with engine.begin() as conn:  # as the tracker stored such a link before
        conn.execute(sa.text("UPDATE items SET url = '/2024/harbour/', url_hash = :h"), {"h": lookup_hash("/2024/harbour/")})
        conn.execute(sa.text("DELETE FROM item_keys WHERE key_hash = :k"), {"k": key_hash(str(link_key(whole)))})
    alembic(engine, "upgrade", "head")
    engine.dispose()
    report = make_pipeline(sqlite_url).process(_relative_feed(1.2, text))
    assert report.new_items == 0
    assert [r["url"] for r in items_of(sqlite_url)] == [whole]


def test_a_scraper_between_the_flagships_mirror_and_a_late_khaama_is_a_copy_of_khaama(any_db_url: str) -> None:
    """ru24's mirror (09:00) credits Khaama Press; a scraper copies the story uncredited at
    10:00; Khaama's own item claims 11:00 and is seen last. The credit proves Khaama's
    article existed at 09:00: Khaama is the original."""
    from tests.pipeline.test_pipeline import FEEDS, KHAAMA, MIRROR_URL, ORIGINAL_URL, RU24, khaama_item, mirror_item

    text = article(19, paragraphs=8)
    scraper = Item("Airstrikes", "https://newshub.example/a", text, T0 + hours(1))
    captures = [
        capture(RU24, T0 + hours(0.1), rss("ru24.pro", "https://ru24.pro/", [mirror_item(text, published=T0)], full_content=False)),
        capture("https://newshub.example/rss", T0 + hours(1.1), rss("NewsHub24", "https://newshub.example/", [scraper])),
        capture(KHAAMA, T0 + hours(2.1), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(text, published=T0 + hours(2))])),
    ]
    pipeline = make_pipeline(any_db_url, [*FEEDS, {"url": "https://newshub.example/rss", "publisher": "NewsHub24"}])
    for one in captures:
        pipeline.process(one)
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert rows[ORIGINAL_URL]["relation"] == "original"
    assert rows[MIRROR_URL]["parent_item_id"] == rows[ORIGINAL_URL]["item_id"]
    assert rows[scraper.link]["original_item_id"] == rows[ORIGINAL_URL]["item_id"]


def test_a_late_capture_that_moves_an_original_earlier_moves_its_copies_lag(any_db_url: str) -> None:
    """Alpha's undated story is first captured at 12:00 and Beta copies it at 13:00; an
    archived capture of Alpha from 10:00 arrives last: Beta's lag is then three hours."""
    text = article(88, paragraphs=5)
    alpha = raw_rss("Alpha", "https://alpha.example/", [
        f"<title>Story</title><link>https://alpha.example/s</link><description>{escape(' '.join(text))}</description>"])
    beta = Item("Story", "https://beta.example/s", text, T0 + hours(4))
    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture("https://alpha.example/rss", T0 + hours(3), alpha))
    pipeline.process(capture("https://beta.example/rss", T0 + hours(4.1), rss("Beta", "https://beta.example/", [beta])))
    pipeline.process(capture("https://alpha.example/rss", T0 + hours(1), alpha))
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert rows[beta.link]["parent_item_id"] == rows["https://alpha.example/s"]["item_id"]
    assert rows[beta.link]["lag_seconds"] == 3 * 3600


def test_a_feed_served_empty_for_a_moment_disproves_no_date(any_db_url: str) -> None:
    """Alpha's feed answers once with no entry at all (a CDN's glitch) between two full
    captures; its story dated before the glitch stays the original of Beta's later copy."""
    text, old = article(89, paragraphs=5), article(90, paragraphs=3)
    older = Item("Old", "https://alpha.example/o", old, T0 - hours(30))
    story = Item("Story", "https://alpha.example/s", text, T0)
    beta = Item("Story", "https://beta.example/s", text, T0 + hours(1))
    pipeline = make_pipeline(any_db_url)
    alpha = "https://alpha.example/rss"
    pipeline.process(capture(alpha, T0 - hours(2), rss("Alpha", "https://alpha.example/", [older])))
    pipeline.process(capture(alpha, T0 + hours(0.5), rss("Alpha", "https://alpha.example/", [])))
    pipeline.process(capture("https://beta.example/rss", T0 + hours(1.1), rss("Beta", "https://beta.example/", [beta])))
    pipeline.process(capture(alpha, T0 + hours(2), rss("Alpha", "https://alpha.example/", [story, older])))
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert rows[story.link]["relation"] == "original"
    assert rows[beta.link]["parent_item_id"] == rows[story.link]["item_id"]


@pytest.mark.parametrize("unchanged", ["body", "revisit"])
def test_a_revisit_proves_what_the_feed_lacked_as_its_body_did(any_db_url: str, unchanged: str) -> None:
    """Beta's feed is captured at 06:00 and again, unchanged, at 08:00 — the same body or a
    304 / WARC revisit. Alpha publishes at 09:00; Beta's copy then claims 07:00. Either way
    the 08:00 capture shows Beta had no such item: Alpha's story is the original."""
    text, old = article(94, paragraphs=5), article(95, paragraphs=3)
    older = Item("Old", "https://beta.example/o", old, T0 - hours(30))
    story = Item("Story", "https://alpha.example/s", text, T0)
    copy = Item("Story", "https://beta.example/s", text, T0 - hours(2))
    beta, body = "https://beta.example/rss", rss("Beta", "https://beta.example/", [older])
    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture(beta, T0 - hours(3), body))
    if unchanged == "body":
        pipeline.process(capture(beta, T0 - hours(1), body))
    else:
        pipeline.process(Capture(beta, T0 - hours(1), "revisit", None, "test:304"))
    pipeline.process(capture("https://alpha.example/rss", T0 + hours(0.5), rss("Alpha", "https://alpha.example/", [story])))
    pipeline.process(capture(beta, T0 + hours(1), rss("Beta", "https://beta.example/", [copy, older])))
    rows = {str(r["url"]): r for r in items_of(any_db_url)}
    assert rows[story.link]["relation"] == "original"
    assert rows[copy.link]["parent_item_id"] == rows[story.link]["item_id"]


def test_a_feed_titled_as_a_publisher_in_other_letter_case_is_told_apart_by_its_host(any_db_url: str) -> None:
    pipeline = make_pipeline(any_db_url)
    pipeline.process(capture("https://alpha.example/rss", T0, rss("Alpha News", "https://alpha.example/", [
        Item("A", "https://alpha.example/a", article(91), T0)])))
    pipeline.process(capture("https://evil.example/rss", T0 + hours(1), rss("ALPHA NEWS", "https://evil.example/", [
        Item("B", "https://evil.example/b", article(92), T0)])))
    assert {r["publisher"] for r in items_of(any_db_url)} == {"Alpha News", "ALPHA NEWS (evil.example)"}


def test_an_article_re_dated_on_its_update_keeps_the_date_its_earliest_capture_gave_in_any_order(sqlite_url: str) -> None:
    """Alpha's story is dated 09:00, then updated and re-dated 14:00; Beta copied it at 09:20.
    Ingested newest first, the 09:00 capture still gives Alpha's date: Alpha is the original."""
    text = article(93, paragraphs=5)
    first = Item("Story", "https://alpha.example/s", text, T0)
    updated = Item("Story (updated)", "https://alpha.example/s", [*text, "Update: officials confirmed the figures later."], T0 + hours(5))
    beta = Item("Story", "https://beta.example/s", text, T0 + hours(1 / 3))
    captures = [
        capture("https://beta.example/rss", T0 + hours(0.4), rss("Beta", "https://beta.example/", [beta])),
        capture("https://alpha.example/rss", T0 + hours(0.5), rss("Alpha", "https://alpha.example/", [first])),
        capture("https://alpha.example/rss", T0 + hours(5.1), rss("Alpha", "https://alpha.example/", [updated])),
    ]
    pipeline = make_pipeline(sqlite_url)
    for one in reversed(captures):
        pipeline.process(one)
    rows = {str(r["url"]): r for r in items_of(sqlite_url)}
    assert rows[first.link]["relation"] == "original"
    assert rows[beta.link]["parent_item_id"] == rows[first.link]["item_id"]

"""The public views as the commands read them: an article found by its URL."""

from __future__ import annotations

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tracker.store import views
from tracker.store.database import open_database


def test_an_articles_url_finds_its_publishers_item_before_an_older_link_to_it(any_db_url: str) -> None:
    """A link blog's entry links to the article itself and was stored first: `origin URL`
    answered with the link blog's item for the article's own URL."""
    story = "https://victim.example/2025/bridge-reopens"
    pipeline = make_pipeline(any_db_url, [
        {"url": "https://digest.example/feed", "publisher": "Link Digest"},
        {"url": "https://victim.example/feed", "publisher": "Victim News"},
    ])
    pipeline.process(capture("https://digest.example/feed", T0, rss("Link Digest", "https://digest.example/", [
        Item("Bridge reopens", story, ["Worth reading: the bridge reopens."], T0, guid="digest-1")])))
    pipeline.process(capture("https://victim.example/feed", T0 + hours(1), rss("Victim News", "https://victim.example/", [
        Item("Bridge reopens", story, article(17), T0 + hours(0.5), guid="victim-1")])))
    with open_database(any_db_url)() as session:
        found = views.item_by_url(session, story)
    assert found is not None and found["publisher"] == "Victim News"

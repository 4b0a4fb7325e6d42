"""JSON Feed 1.0 and 1.1: parsed into the same entries as RSS, copies found across formats,
bad JSON reported as bad XML is, and JSON feeds in WARC archives ingested."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss, write_warc
from tests.conftest import make_pipeline
from tests.feedserver import FeedServer
from tracker.reader.archive import looks_like_feed
from tracker.config import parse_config
from tracker.errors import ParseError
from tracker.ingest.archives import ingest_paths
from tracker.model import Attribution, Capture
from tracker.reader.parse import parse_feed
from tracker.daemon.poll_once import poll_once

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"
ORIGINAL = "https://www.khaama.com/feed/"
MIRROR = "https://mirror.example/feed.json"


def json_feed(items: list[dict[str, object]], version: str = "https://jsonfeed.org/version/1.1") -> bytes:
    return json.dumps({"version": version, "title": "Mirror", "home_page_url": "https://mirror.example/", "items": items}).encode()


def rows(url: str, query: str) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(sa.text(query)).all()
    engine.dispose()
    return list(found)


def test_json_feed_1_0_fixture() -> None:
    feed = parse_feed((FEEDS / "jsonfeed_1_0.json").read_bytes(), "application/json")
    assert (feed.title, feed.site_url) == ("Brent's Linkblog", "https://linkblog.example.org/")
    assert feed.warning and "2 JSON Feed item(s) skipped" in feed.warning
    first, second = feed.entries
    assert first.guid == "2347259" and first.link == "https://linkblog.example.org/2025/01/07/river-levels"
    assert first.author == "Brent Simmons"  # 1.0's feed-level author stands for the item's
    assert first.claimed_at == datetime(2025, 1, 7, 6, 30)  # +03:00 read as UTC
    assert not first.content_is_html and "late & small" in first.content
    assert first.summary == "Levels &lt;still&gt; falling"  # plain text, escaped for the HTML reader
    assert first.attributions == (Attribution("via_link", None, "https://www.rivernews.example.com/levels-fall-in-january"),)
    # A numeric id is kept digit for digit; a lower-case RFC 3339 date reads.
    assert second.guid == "1234567890123456789012345678901234567890"
    assert second.content_is_html and second.claimed_at == datetime(2025, 1, 6, 12, 0)


def test_json_feed_1_1_fixture() -> None:
    feed = parse_feed((FEEDS / "jsonfeed_1_1.json").read_bytes(), "application/feed+json")
    assert (feed.title, feed.site_url, feed.warning) == ("Kabul Evening Star", "https://eveningstar.example.af/", None)
    bridge, snow = feed.entries
    assert bridge.title == "Salang bridge reopens after &amp; repairs"  # titles are plain text
    assert bridge.author == "Ahmad Zia, Mina Rahimi"
    assert bridge.claimed_at == datetime(2025, 1, 7, 6, 15)  # published beats modified
    assert bridge.content_is_html and bridge.content.startswith("<p>The bridge")
    assert bridge.summary == "The Salang bridge reopened."
    # A summary-only item: the summary is its body; a bad date claims nothing.
    assert (snow.content, snow.summary, snow.claimed_at, snow.author) == ("Schools in four provinces closed for snow.", "", None, "Newsroom")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "application/feed+json", "invalid JSON"),
        (b"\xef\xbb\xbf  {\"title\": 1,}", None, "invalid JSON"),
        (b"", "application/json", "invalid JSON"),
        (b'{"data": [1, 2, 3]}', "application/json", "not a JSON Feed"),
        (b'[{"version": "https://jsonfeed.org/version/1"}]', None, "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/2", "items": []}', None, "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": {"a": 1}}', None, "without an items list"),
        (b"[" * 100_000 + b"]" * 100_000, None, "nested too deeply"),
    ],
    ids=["truncated", "trailing-comma", "empty", "other-json", "array", "version-2", "items-object", "deep"],
)
def test_bad_json_is_a_clear_parse_error(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        parse_feed(body, content_type)
    assert str(caught.value).startswith("not a feed")


def test_a_huge_number_or_odd_values_do_not_break_a_feed() -> None:
    huge = "9" * 5000
    body = json_feed([{"id": "PLACEHOLDER", "url": ["not", "a", "string"], "title": {"x": 1}, "content_text": "Text."}])
    [entry] = parse_feed(body.replace(b'"PLACEHOLDER"', huge.encode())).entries
    assert entry.guid == huge and entry.link is None and entry.title == ""


def test_mislabelled_rss_served_as_json_is_still_read_as_rss() -> None:
    body = rss("Khaama Press", "https://www.khaama.com/", [Item("A", "https://www.khaama.com/a", article(1), T0)])
    assert parse_feed(body, "application/json").entries[0].link == "https://www.khaama.com/a"


def test_bad_json_capture_is_recorded_like_bad_xml(sqlite_url: str) -> None:
    pipeline = make_pipeline(sqlite_url, [{"url": MIRROR, "publisher": "Mirror"}])
    bad_json = Capture(MIRROR, T0, "response", b'{"version": "https://jsonfeed.org/version/1", "items": [}', "test", "application/feed+json")
    bad_xml = Capture(MIRROR, T0 + hours(1), "response", b"<!doctype html><html><body>app</body></html>", "test", "text/html")
    reports = [pipeline.process(bad_json), pipeline.process(bad_xml)]
    assert [r.errors for r in reports] == [1, 1]
    assert "invalid JSON" in reports[0].warnings[0]
    stored = rows(sqlite_url, "SELECT error_kind, error FROM captures ORDER BY captured_at")
    assert [r.error_kind for r in stored] == ["parse", "parse"]
    assert all(r.error.startswith("not a feed") for r in stored)


def mirrored_pair(paragraphs: list[str]) -> list[Capture]:
    original = rss("Khaama Press", "https://www.khaama.com/", [Item("Airstrikes in Paktika", "https://www.khaama.com/a/", paragraphs, T0)])
    copied = json_feed([{
        "id": "m-1", "url": "https://mirror.example/1.html", "title": "Airstrikes in Paktika",
        "content_html": "".join(f"<p>{p}</p>" for p in paragraphs), "date_published": (T0 + hours(2)).isoformat() + "Z",
    }])
    return [
        capture(ORIGINAL, T0 + hours(0.5), original),
        Capture(MIRROR, T0 + hours(2.5), "response", copied, "test:mirror", "application/feed+json"),
    ]


def test_an_item_copied_from_an_rss_feed_into_a_json_feed_is_detected(sqlite_url: str) -> None:
    feeds = [{"url": ORIGINAL, "publisher": "Khaama Press"}, {"url": MIRROR, "publisher": "Mirror"}]
    report = make_pipeline(sqlite_url, feeds).ingest(mirrored_pair(article(31)))
    assert (report.new_items, report.republications, report.errors) == (2, 1, 0)
    found = rows(sqlite_url, "SELECT url, original_item_id, item_id FROM item_provenance ORDER BY url")
    urls = {r.item_id: r.url for r in found}
    assert {r.url: urls.get(r.original_item_id) for r in found}["https://mirror.example/1.html"] == "https://www.khaama.com/a/"


def test_json_feeds_in_a_warc_archive_are_ingested(tmp_path: Path, sqlite_url: str) -> None:
    captures = mirrored_pair(article(32))
    # One served as application/json: the version URL inside it makes it a feed.
    plain_json = Capture(
        "https://linkblog.example.org/feed.json", T0 + hours(3), "response", (FEEDS / "jsonfeed_1_0.json").read_bytes(), "t", "application/json",
    )
    page = Capture("https://mirror.example/api", T0 + hours(3), "response", b'{"results": []}', "t", "application/json")
    archive = write_warc(tmp_path / "crawl.warc.gz", [*captures, plain_json, page])
    report = ingest_paths(make_pipeline(sqlite_url), [archive], workers=0)
    assert (report.captures, report.new_items, report.republications, report.errors) == (3, 4, 1, 0)
    assert report.skipped_records == 1  # the JSON that is no feed


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"items": []}', "application/feed+json; charset=utf-8", True),
        (b' {"version": "https://jsonfeed.org/version/1.1", "items": []}', "application/json", True),
        (b'{"version":"https:\\/\\/jsonfeed.org\\/version\\/1","items":[]}', None, True),
        (b'{"results": []}', "application/json", False),
        (b'["https://jsonfeed.org/version/1"]', "application/json", False),
    ],
    ids=["feed+json", "json-with-version", "escaped-slashes", "other-json", "array"],
)
def test_warc_records_that_are_json_feeds(body: bytes, content_type: str | None, expected: bool) -> None:
    assert looks_like_feed(body, content_type) is expected


def test_a_json_feed_is_polled_and_a_broken_one_fails_like_a_broken_xml_feed(sqlite_url: str) -> None:
    server = FeedServer()
    try:
        server.routes["/feed.json"] = lambda _h: (200, {"Content-Type": "application/feed+json"}, (FEEDS / "jsonfeed_1_1.json").read_bytes())
        server.routes["/broken.json"] = lambda _h: (200, {"Content-Type": "application/feed+json"}, b'{"version": "https://jsonfeed.org/version/1.1", "items": [')
        config = parse_config({
            "database": {"url": sqlite_url},
            "feeds": [{"url": server.url(p), "publisher": p} for p in ("/feed.json", "/broken.json")],
            "polling": {"allow_private_addresses": True, "total_timeout": 5.0},
        })
        outcomes = {o.url.rsplit("/", 1)[1]: o for o in poll_once(config)}
    finally:
        server.close()
    assert "application/feed+json" in server.hits("/feed.json")[0]["Accept"]
    assert outcomes["feed.json"].error_kind is None and outcomes["feed.json"].report.new_items == 2
    broken = outcomes["broken.json"]
    assert broken.error_kind == "parse" and (broken.error_message or "").startswith("not a feed (invalid JSON")
    [row] = rows(sqlite_url, f"SELECT last_error_kind, error_count FROM feeds WHERE url = '{server.url('/broken.json')}'")
    assert (row.last_error_kind, row.error_count) == ("parse", 1)


def test_a_byline_of_thousands_of_authors_is_cut_as_any_one_line_field() -> None:
    """Each item carries the feed's authors: 200 names of 10,000 characters made every item's
    author 2 MB (an RSS author is cut to FIELD_MAX)."""
    from tracker.reader.feedtext import FIELD_MAX

    document = {"version": "https://jsonfeed.org/version/1.1", "authors": [{"name": f"{i} " + "N" * FIELD_MAX} for i in range(200)],
                "items": [{"id": str(i), "content_text": "text", "authors": [{"name": "Ann"}, {"name": "Bo"}] if i == 0 else None}
                          for i in range(3)]}
    entries = parse_feed(json.dumps(document).encode(), "application/feed+json").entries
    assert entries[0].author == "Ann, Bo"
    assert all(e.author is not None and e.author.startswith("0 NNN") and len(e.author) <= FIELD_MAX for e in entries[1:])


def test_a_json_feed_too_large_to_read_whole_is_a_feed_error_and_loses_nothing(sqlite_url: str) -> None:
    """A JSON document is read whole (its objects cost up to ~30 times its bytes): one over
    the cap is refused like a broken feed, and what the feed gave before stays."""
    from tracker.reader.jsonfeed import MAX_JSON_FEED_BYTES

    pipeline = make_pipeline(sqlite_url, [{"url": MIRROR, "publisher": "Mirror"}])
    good = json_feed([{"id": "m-1", "url": "https://mirror.example/1.html", "title": "One", "content_text": "Words " * 50}])
    huge = b'{"version": "https://jsonfeed.org/version/1.1", "items": [' + b"[]," * (MAX_JSON_FEED_BYTES // 3) + b"[]]}"
    first = pipeline.process(Capture(MIRROR, T0, "response", good, "test", "application/feed+json"))
    second = pipeline.process(Capture(MIRROR, T0 + hours(1), "response", huge, "test", "application/feed+json"))
    assert first.new_items == 1 and second.errors == 1
    assert "not read" in second.warnings[0]
    assert [r.url for r in rows(sqlite_url, "SELECT url FROM items")] == ["https://mirror.example/1.html"]

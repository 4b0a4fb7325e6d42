"""How an entry is recognised again: GUID, then canonical link, then title and date, then its text."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tracker.identity import canonical_url, host_of, identity_keys, raw_hash, text_hash
from tracker.model import ParsedEntry
from tracker.parse import parse_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def entry(
    guid: str | None = None,
    link: str | None = None,
    title: str = "",
    claimed_at: datetime | None = None,
    content: str = "<p>Body.</p>",
    summary: str = "",
) -> ParsedEntry:
    return ParsedEntry(guid, link, title, None, claimed_at, content, True, summary)


# --------------------------------------------------------------------------- the fallback chain


def test_guid_comes_first_and_the_link_is_registered_too() -> None:
    keys = identity_keys(
        entry(guid="https://www.khaama.com/?p=301877", link="https://WWW.khaama.com/kabul-fuel/?utm_source=rss#respond", title="Kabul fuel")
    )
    assert keys == ["guid:https://www.khaama.com/?p=301877", "link:https://www.khaama.com/kabul-fuel/"]


def test_link_is_used_when_there_is_no_guid() -> None:
    keys = identity_keys(entry(link="http://www.lingnan-wanbao.example.cn/wenhua/content_88231.htm?utm_medium=rss", title="广州"))
    assert keys == ["link:http://www.lingnan-wanbao.example.cn/wenhua/content_88231.htm"]


def test_the_same_article_in_two_feeds_of_a_publisher_shares_its_link_key() -> None:
    """One feed tags links for analytics, the other does not; the item is still one item."""
    from_main_feed = identity_keys(entry(guid="p-301877", link="https://www.khaama.com/kabul-fuel/?utm_source=rss&utm_campaign=main"))
    from_section_feed = identity_keys(entry(link="https://www.khaama.com/kabul-fuel/#comments"))
    assert set(from_main_feed) & set(from_section_feed) == {"link:https://www.khaama.com/kabul-fuel/"}


def test_title_and_date_when_there_is_neither_guid_nor_link() -> None:
    keys = identity_keys(entry(title="Fish & Chips Shop WINS national award!", claimed_at=datetime(2025, 1, 9, 11, 0)))
    assert keys == ["title:fish chips shop wins national award|2025-01-09T11:00:00"]


def test_title_without_date() -> None:
    assert identity_keys(entry(title="Ferry timetable changes")) == ["title:ferry timetable changes|"]


def test_title_key_survives_case_and_punctuation_edits() -> None:
    when = datetime(2025, 1, 9, 11, 0)
    assert identity_keys(entry(title="Ferry timetable: changes", claimed_at=when)) == identity_keys(
        entry(title="FERRY TIMETABLE CHANGES", claimed_at=when)
    )


def test_text_hash_is_the_last_resort() -> None:
    first = identity_keys(entry(content="<p>An untitled note about the ferry.</p>"))
    again = identity_keys(entry(content="<p>An untitled note about the ferry.</p>"))
    other = identity_keys(entry(content="<p>An untitled note about the bus.</p>"))
    assert len(first) == 1 and first[0].startswith("text:")
    assert first == again
    assert first != other


def test_entries_of_a_guidless_feed_are_keyed_by_link() -> None:
    feed = parse_feed((FEEDS / "zh_rss_gb18030.xml").read_bytes())
    keys = [identity_keys(e) for e in feed.entries]
    assert all(len(k) == 1 and k[0].startswith("link:http://www.lingnan-wanbao.example.cn/") for k in keys)
    assert len({k[0] for k in keys}) == 3


def test_raw_hash_changes_with_what_was_served() -> None:
    base = entry(title="Ferry", content="<p>7.15 moves to 7.45</p>")
    assert raw_hash(base) == raw_hash(entry(title="Ferry", content="<p>7.15 moves to 7.45</p>"))
    assert raw_hash(base) != raw_hash(entry(title="Ferry", content="<p>7.15 moves to 8.00</p>"))
    assert raw_hash(base) != raw_hash(entry(title="Ferry", content="<p>7.15 moves to 7.45</p>", summary="x"))


def test_text_hash_changes_with_title_or_paragraphs() -> None:
    base = text_hash("Ferry", ("7.15 moves to 7.45",))
    assert base == text_hash("Ferry", ("7.15 moves to 7.45",))
    assert base != text_hash("Ferry times", ("7.15 moves to 7.45",))
    assert base != text_hash("Ferry", ("7.15 moves", "to 7.45"))  # paragraph boundaries count


# --------------------------------------------------------------------------- canonical_url, host_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://WWW.Example.COM/News/Story-1?utm_source=rss&utm_medium=feed&id=7#comments",
            "https://www.example.com/News/Story-1?id=7",
        ),
        ("https://example.com/a?fbclid=xyz&UTM_Campaign=x&page=2", "https://example.com/a?page=2"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("http://example.com", "http://example.com/"),
        ("  https://example.com/a/  ", "https://example.com/a/"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"),
        ("urn:uuid:1d6c6e7c-3b1a-4f7e-9d9b-0a3e4f0b8c21", "urn:uuid:1d6c6e7c-3b1a-4f7e-9d9b-0a3e4f0b8c21"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", [None, ""])
def test_canonical_url_of_nothing(url: str | None) -> None:
    assert canonical_url(url) is None


def test_canonical_url_keeps_a_non_default_port() -> None:
    assert canonical_url("https://example.com:80/a") == "https://example.com:80/a"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://WWW.Example.com/a", "example.com"),
        ("https://www.example.com:8443/x", "example.com"),
        ("http://www2.example.com/", "www2.example.com"),
        ("https://news.example.co.uk/a", "news.example.co.uk"),
        ("not a url", None),
        ("http://[bad", None),
        (None, None),
    ],
)
def test_host_of(url: str | None, expected: str | None) -> None:
    assert host_of(url) == expected

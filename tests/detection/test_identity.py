"""How an entry is recognised again, and how distinct entries stay distinct."""

from __future__ import annotations

from datetime import datetime
import pytest

from tracker.detection.identity import (
    ItemLookup,
    KnownItem,
    canonical_url,
    entry_keys,
    host_of,
    lookup_hash,
    lookup_key,
    raw_hash,
    resolve,
    stored_keys,
    text_hash,
)
from tracker.model import ParsedEntry


def entry(
    guid: str | None = None,
    link: str | None = None,
    title: str = "",
    claimed_at: datetime | None = None,
    content: str = "<p>Body.</p>",
    summary: str = "",
) -> ParsedEntry:
    return ParsedEntry(guid, link, title, None, claimed_at, content, True, summary)


# --------------------------------------------------------------------------- keys


def test_guid_and_link_both_find_the_item() -> None:
    keys = entry_keys(
        entry(guid="https://www.khaama.com/?p=301877", link="https://WWW.khaama.com/kabul-fuel/?utm_source=rss", title="Kabul fuel")
    )
    assert keys == ("guid:https://www.khaama.com/?p=301877", "link:https://www.khaama.com/kabul-fuel/")


def test_a_fragment_that_tells_entries_apart_is_kept() -> None:
    assert entry_keys(entry(link="https://news.example.org/issues/#111")) == ("link:https://news.example.org/issues/#111",)
    assert entry_keys(entry(link="https://news.example.org/issues/#110")) != entry_keys(entry(link="https://news.example.org/issues/#111"))


def test_title_and_date_when_there_is_neither_guid_nor_link() -> None:
    keys = entry_keys(entry(title="Fish & Chips Shop WINS national award!", claimed_at=datetime(2025, 1, 9, 11, 0)))
    assert keys == ("title:fish chips shop wins national award|2025-01-09T11:00:00",)


def test_title_key_survives_case_and_punctuation_edits() -> None:
    when = datetime(2025, 1, 9, 11, 0)
    assert entry_keys(entry(title="Ferry timetable: changes", claimed_at=when)) == entry_keys(
        entry(title="FERRY TIMETABLE CHANGES", claimed_at=when)
    )


def test_text_hash_is_the_last_resort() -> None:
    first = entry_keys(entry(content="<p>An untitled note about the ferry.</p>"))
    again = entry_keys(entry(content="<p>An untitled note about the ferry.</p>"))
    other = entry_keys(entry(content="<p>An untitled note about the bus.</p>"))
    assert len(first) == 1 and first[0].startswith("text:")
    assert first == again
    assert first != other


def test_stored_keys_find_the_item_again_after_a_restart() -> None:
    long_guid = "tag:example.org,2025:" + "x" * 5000
    assert stored_keys(f"guid:{long_guid}", "https://example.org/a") == (f"guid:{long_guid}", "link:https://example.org/a")
    assert stored_keys("link:https://example.org/news|raw:abc", "https://example.org/news") == ("link:https://example.org/news",)


def test_lookup_key_ignores_scheme_www_slash_tracking_and_fragment() -> None:
    variants = [
        "https://www.example.org/a/b/?utm_source=rss",
        "http://example.org/a/b",
        "https://EXAMPLE.org/a/b/#comments",
    ]
    assert len({lookup_key(v) for v in variants}) == 1
    assert lookup_hash(variants[0]) == lookup_hash(variants[1])
    assert lookup_key("https://example.org/a/c") != lookup_key(variants[0])


# --------------------------------------------------------------------------- resolving a capture


class FakeStore(ItemLookup):
    """Items as a store would answer for them."""

    def __init__(self) -> None:
        self.guids: dict[str, int] = {}
        self.groups: dict[str, list[KnownItem]] = {}

    def add(self, item_id: int, e: ParsedEntry, feed_id: int = 1) -> None:
        for key in entry_keys(e):
            if key.startswith("guid:"):
                self.guids[key] = item_id
            else:
                self.groups.setdefault(key, []).append(
                    KnownItem(item_id, e.guid, e.title, e.claimed_at, frozenset({raw_hash(e)}), frozenset({feed_id}))
                )

    def by_guid(self, key: str) -> int | None:
        return self.guids.get(key)

    def under(self, key: str) -> list[KnownItem]:
        return self.groups.get(key, [])


def ingest(store: FakeStore, entries: list[ParsedEntry], feed_id: int = 1) -> list[int]:
    """Resolve a capture and store its new items like the pipeline does; the item of each entry."""
    items = []
    for resolution in resolve(entries, feed_id, store):
        item_id = resolution.item_id
        if item_id is None:
            item_id = 1 + max([0, *store.guids.values(), *(k.item_id for ks in store.groups.values() for k in ks)])
            store.add(item_id, resolution.entry, feed_id)
        items.append(item_id)
    return items


def test_distinct_guids_on_one_link_are_distinct_items() -> None:
    posts = [entry(guid=f"post-{n}", link="https://micro.example.org/2025/01/09/#p", title="", content=f"<p>Post {n}</p>") for n in range(5)]
    assert len(set(ingest(FakeStore(), posts))) == 5


def test_guidless_entries_sharing_one_link_are_told_apart_by_title_and_text() -> None:
    store = FakeStore()
    news = [entry(link="https://project.example.org/news/", title=f"Release {n}", content=f"<p>Notes {n}</p>") for n in range(4)]
    first = ingest(store, news)
    assert len(set(first)) == 4
    # The next capture adds one entry on top: the four are found again, one item is new.
    again = ingest(store, [entry(link="https://project.example.org/news/", title="Release 4", content="<p>Notes 4</p>"), *news])
    assert again[1:] == first and again[0] not in first


def test_an_edited_article_stays_one_item() -> None:
    store = FakeStore()
    when = datetime(2025, 1, 9, 11, 0)
    [item] = ingest(store, [entry(link="https://example.org/a", title="Ferry times", claimed_at=when, content="<p>7.15</p>")])
    assert ingest(store, [entry(link="https://example.org/a", title="Ferry times change", claimed_at=when, content="<p>7.45</p>")]) == [item]
    [guid_item] = ingest(store, [entry(guid="g-1", link="https://example.org/b", title="Bus", content="<p>1</p>")])
    assert ingest(store, [entry(guid="g-1", link="https://example.org/b", title="Bus times", content="<p>2</p>")]) == [guid_item]


def test_the_same_article_in_two_feeds_of_a_publisher_is_one_item() -> None:
    store = FakeStore()
    [item] = ingest(store, [entry(guid="https://example.org/?p=7", link="https://example.org/a/?utm_source=rss", title="A")], feed_id=1)
    # The category feed gives no GUID; the Atom feed another id scheme, same title.
    assert ingest(store, [entry(link="https://example.org/a/", title="A")], feed_id=2) == [item]
    assert ingest(store, [entry(guid="tag:example.org,2025:7", link="https://example.org/a/", title="A")], feed_id=3) == [item]


def test_a_new_guid_in_the_same_feed_never_takes_over_another_items_link() -> None:
    store = FakeStore()
    [first] = ingest(store, [entry(guid="g-1", link="https://example.org/page", title="Same title")], feed_id=1)
    [second] = ingest(store, [entry(guid="g-2", link="https://example.org/page", title="Same title")], feed_id=1)
    assert first != second


def test_identical_entries_in_one_capture_are_one() -> None:
    e = entry(link="https://example.org/a", title="A")
    assert len(resolve([e, e], 1, FakeStore())) == 1


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


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://bücher.de/feed/", "https://xn--bcher-kva.de/a/1", True),  # one name, two spellings
    ("https://news.example.co.uk/x", "https://www.example.co.uk/", True),
    ("http://10.0.0.1/", "http://192.168.0.1/", False),  # addresses were both "0.1"
    ("http://[::1]:8080/", "http://[::2]/", False),
    ("https://alice.github.io/", "https://bob.github.io/", False),
])
def test_a_site_is_one_whatever_the_spelling_of_its_name_and_an_address_is_its_own(a: str, b: str, same: bool) -> None:
    from tracker.detection.identity import site_of

    assert (site_of(a) == site_of(b)) is same

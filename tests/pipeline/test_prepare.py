"""Entries read ahead in a parser process (`tracker.pipeline.prepare`)."""

from __future__ import annotations

import pytest

from tests.builders import T0, Item, article, rss
from tracker.detection import normalise
from tracker.errors import ParseError
from tracker.model import ParsedFeed
from tracker.pipeline import prepare
from tracker.reader.parse import parse_feed


def feed() -> ParsedFeed:
    items = [Item(f"Story {n}", f"https://site.example/{n}", article(n), T0) for n in (1, 2)]
    return parse_feed(rss("Site", "https://site.example/", items), "application/rss+xml")


def test_each_entry_not_read_before_carries_its_document() -> None:
    read: set[str] = set()
    first = prepare.with_documents(feed(), read)
    assert [e.document for e in first.entries] == [normalise.to_document(e) for e in feed().entries]
    # Listed again in the feed's next capture: already read, left to the storing process.
    assert [e.document for e in prepare.with_documents(feed(), read).entries] == [None, None]


def test_an_entry_that_cannot_be_read_is_left_to_the_storing_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(entry: object) -> object:
        raise ValueError("hostile body")

    monkeypatch.setattr(prepare, "to_document", refuse)
    assert [e.document for e in prepare.with_documents(feed(), set()).entries] == [None, None]


def test_a_body_that_is_not_a_feed_is_returned_as_its_error() -> None:
    assert isinstance(prepare.parse_and_read(b"<html><body>not a feed</body></html>", "text/html"), ParseError)
    assert prepare.parse_and_read(None, None) is None

"""Dates a feed claims are believed only within bounds.

A mirror that republishes an article after the original was seen, but claims an
impossible date (an offset of +99:00, year -0001, year 2999, garbage), must not become
the original: its date string claims nothing, it is dated by its first sighting, and
the evidence says why the date was refused.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, html, rss
from tests.conftest import make_pipeline
from tracker.reader.dates import claimed_date
from tracker.reader.parse import parse_feed

ORIGIN = "https://origin.example/feed"
MIRROR = "https://mirror.example/feed"
FEEDS = [{"url": ORIGIN, "publisher": "Origin News"}, {"url": MIRROR, "publisher": "Mirror Daily"}]
ORIGINAL_URL = "https://origin.example/story"
MIRROR_URL = "https://mirror.example/copied-story"


def atom_mirror(paragraphs: list[str], date: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Mirror Daily</title><id>urn:mirror</id>
<link href="https://mirror.example/"/><updated>2025-01-07T10:00:00Z</updated>
<entry><title>Harvest talks resume</title><id>{MIRROR_URL}</id><link href="{MIRROR_URL}"/>
<published>{escape(date)}</published><updated>{escape(date)}</updated>
<content type="html">{escape(html(paragraphs))}</content></entry></feed>""".encode()


def rss_mirror(paragraphs: list[str], date: str) -> bytes:
    body = rss("Mirror Daily", "https://mirror.example/", [Item("Harvest talks resume", MIRROR_URL, paragraphs, T0)])
    return body.replace(format_datetime(T0.replace(tzinfo=UTC)).encode(), escape(date).encode())


CASES = [
    ("rss", "Tue, 07 Jan 2025 09:00:00 +9900", "offset +99:00 beyond ±14:00"),
    ("atom", "2025-01-07T09:00:00+99:00", "offset +99:00 beyond ±14:00"),
    ("atom", "-0001-01-01T00:00:00Z", "year -0001 before 1991"),
    ("rss", "Mon, 01 Jan -001 00:00:00 GMT", "year -001 before 1991"),
    ("atom", "2999-01-01T00:00:00Z", "after the capture"),
    ("rss", "Tue, 07 Jan 2999 09:00:00 GMT", "after the capture"),
    ("rss", "yesterday, around lunch", "not an RFC 822 or ISO 8601 date"),
    ("atom", "2025-01-06", "a date without a time of day"),
]


@pytest.mark.parametrize(("kind", "date", "reason"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_a_mirror_claiming_an_impossible_date_stays_a_copy(any_db_url: str, kind: str, date: str, reason: str) -> None:
    paragraphs = article(41)
    original = rss("Origin News", "https://origin.example/", [Item("Harvest talks resume", ORIGINAL_URL, paragraphs, T0)])
    mirror = (atom_mirror if kind == "atom" else rss_mirror)(paragraphs, date)
    content_type = "application/atom+xml" if kind == "atom" else "application/rss+xml"
    mirror_capture = dataclasses.replace(capture(MIRROR, T0 + hours(2), mirror), content_type=content_type)
    make_pipeline(any_db_url, FEEDS).ingest([capture(ORIGIN, T0 + hours(0.5), original), mirror_capture])

    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        rows = {r.url: r for r in conn.execute(sa.text(
            "SELECT p.url, p.relation, p.original_item_id, p.evidence, i.claimed_at, i.claimed_date_rejected "
            "FROM item_provenance p JOIN items i ON i.id = p.item_id"
        ))}
        ids = dict(conn.execute(sa.text("SELECT url, id FROM items")).all())
    engine.dispose()
    assert rows[ORIGINAL_URL].relation == "original"
    assert rows[MIRROR_URL].relation == "copy" and rows[MIRROR_URL].original_item_id == ids[ORIGINAL_URL]
    assert rows[MIRROR_URL].claimed_at is None and reason in rows[MIRROR_URL].claimed_date_rejected
    evidence = rows[MIRROR_URL].evidence
    evidence = json.loads(evidence) if isinstance(evidence, str) else evidence
    assert reason in evidence["claimed_date_rejected"]
    assert evidence["time_evidence"].startswith("no claimed date (rejected: ")


@pytest.mark.parametrize(("raw", "expected"), [
    ("Tue, 07 Jan 2025 09:00:00 GMT", datetime(2025, 1, 7, 9)),
    ("Tue, 7 Jan 25 09:00 -0500", datetime(2025, 1, 7, 14)),
    ("Tue, 07 Jan 2025 09:00:00 +1400", datetime(2025, 1, 6, 19)),
    ("Tue, 07 Jan 2025 09:00:00 CEST", datetime(2025, 1, 7, 7)),
    ("2025-01-07T09:00:00.250+05:30", datetime(2025, 1, 7, 3, 30)),
    ("2025-01-07T09:00:00Z", datetime(2025, 1, 7, 9)),
    ("2025-01-07T09:00:00-14:00", datetime(2025, 1, 7, 23)),
    ("2025-01-07 09:00:00", datetime(2025, 1, 7, 9)),  # no zone: read as UTC
    ("Tue Jan 07 2025 10:00:00 GMT+0100 (CET)", datetime(2025, 1, 7, 9)),  # JavaScript's Date.toString
])
def test_well_formed_dates_within_bounds_are_believed(raw: str, expected: datetime) -> None:
    assert claimed_date(raw, datetime(2025, 1, 8)) == (expected, None)


@pytest.mark.parametrize(("raw", "reason"), [
    ("Tue, 07 Jan 2025 09:00:00 -1401", "offset -14:01 beyond ±14:00"),
    ("Tue, 07 Jan 2025 09:00:00 XYZ", "unknown time zone 'XYZ'"),
    ("Sat, 31 Feb 2025 09:00:00 GMT", "not a calendar date"),
    ("1990-12-31T23:59:59Z", "year 1990 before 1991"),
    ("0000-00-00T00:00:00Z", "year 0000 before 1991"),
    ("2025-01", "a date without a time of day"),
    ("2025-01-08T00:16:00Z", "after the capture"),
    # Later in UTC than any moment a date can hold: no claim (it once stopped the parse).
    ("9999-12-31T23:30:00-14:00", "not a calendar date"),
    ("Fri, 31 Dec 9999 23:30:00 -1400", "not a calendar date"),
])
def test_dates_out_of_bounds_claim_nothing_and_say_why(raw: str, reason: str) -> None:
    when, why = claimed_date(raw, datetime(2025, 1, 8))
    assert when is None and why is not None and reason in why


def test_the_first_believable_date_of_an_entry_is_its_claim() -> None:
    """A broken <published> with a sound <updated>: the update time is the claim."""
    body = atom_mirror(["text"], "2025-01-07T09:00:00+99:00").replace(
        b"<updated>2025-01-07T09:00:00+99:00</updated>", b"<updated>2025-01-07T11:00:00Z</updated>"
    )
    [entry] = parse_feed(body).entries
    assert (entry.claimed_at, entry.claimed_rejected) == (datetime(2025, 1, 7, 11), None)


@pytest.mark.parametrize(("raw", "captured", "expected"), [
    # An Indian paper's IST, captured 45 minutes later: Ireland's and Israel's readings lie ahead of the capture.
    ("Tue, 07 Jan 2025 14:30:00 IST", datetime(2025, 1, 7, 9, 45), datetime(2025, 1, 7, 9)),
    # An Irish one's IST: its own reading is the latest, and not after the capture.
    ("Tue, 07 Jan 2025 10:00:00 IST", datetime(2025, 1, 7, 9, 30), datetime(2025, 1, 7, 9)),
    # India's reading of it would be 04:30: never a claim earlier than a sound reading.
    ("Tue, 07 Jan 2025 10:00:00 IST", datetime(2025, 1, 8), datetime(2025, 1, 7, 9)),
    ("Tue, 07 Jan 2025 17:00:00 CST", datetime(2025, 1, 7, 9, 30), datetime(2025, 1, 7, 9)),  # China
    ("Tue, 07 Jan 2025 03:00:00 CST", datetime(2025, 1, 7, 9, 30), datetime(2025, 1, 7, 9)),  # US Central
    ("Tue, 07 Jan 2025 14:00:00 PKT", datetime(2025, 1, 7, 9, 30), datetime(2025, 1, 7, 9)),
    ("Tue, 07 Jan 2025 14:45:00 NPT", datetime(2025, 1, 7, 9, 30), datetime(2025, 1, 7, 9)),
])
def test_zone_names_of_asian_papers_are_read(raw: str, captured: datetime, expected: datetime) -> None:
    assert claimed_date(raw, captured) == (expected, None)


def test_an_indian_original_dated_in_ist_is_not_the_copy_of_a_quicker_mirror(sqlite_url: str) -> None:
    """The original says 14:30 IST (09:00 UTC) and is polled at 09:45; a mirror copied it at
    09:20 and says so in UTC. Refused as an unknown zone, the original was dated by its
    sighting, after the mirror's claim, and recorded as the mirror's copy."""
    paragraphs = article(42)
    original = rss("Origin News", "https://origin.example/", [Item("Harvest talks resume", ORIGINAL_URL, paragraphs, T0)])
    original = original.replace(format_datetime(T0.replace(tzinfo=UTC)).encode(), b"Tue, 07 Jan 2025 14:30:00 IST")
    mirror = rss("Mirror Daily", "https://mirror.example/", [Item("Harvest talks resume", MIRROR_URL, paragraphs, T0 + hours(1 / 3))])
    make_pipeline(sqlite_url, FEEDS).ingest([capture(MIRROR, T0 + hours(0.4), mirror), capture(ORIGIN, T0 + hours(0.75), original)])
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT url, relation FROM item_provenance")).all())
    engine.dispose()
    assert rows == {ORIGINAL_URL: "original", MIRROR_URL: "copy"}

"""What provenance believes of one item: its time, and the words of the evidence for it."""

from __future__ import annotations

from datetime import datetime, timedelta

from tracker.model import Attribution
from tracker.provenance.facts import credit_target, estimated_time, publisher_at_link
from tracker.provenance.publishers import Directory


def test_a_claimed_date_no_capture_could_check_is_believed_and_said_to_be_unchecked() -> None:
    """A feed first captured with an item dated the day before: nothing disproves the date,
    and the evidence must not call it consistent with captures that never saw its feed."""
    seen, claimed = datetime(2025, 3, 1, 11, 10), datetime(2025, 2, 28, 9, 0)
    when, evidence = estimated_time(seen, claimed, None, timedelta(minutes=15))
    assert when == claimed and evidence == "claimed date, unchecked: its feed's first capture (2025-03-01T11:10:00Z) already had it"
    when, evidence = estimated_time(seen, claimed, datetime(2025, 2, 28, 8, 0), timedelta(minutes=15))
    assert when == claimed and evidence == "claimed date, consistent with captures"


def test_a_link_to_the_mobile_or_amp_form_of_a_publisher_page_names_that_publisher() -> None:
    """Aggregators credit the page they read, often its mobile or AMP form: "Read the full
    story at Khaama: https://m.khaama.com/a/" credits Khaama Press, followed at www.khaama.com."""
    directory = Directory()
    directory.add_publisher(1, "Khaama Press", None)
    directory.add_feed(10, "https://www.khaama.com/feed/", 1)
    for link in ("https://m.khaama.com/a/", "https://amp.khaama.com/a/", "https://mobile.khaama.com/a/",
                 "https://www-khaama-com.cdn.ampproject.org/c/s/www.khaama.com/a/amp/", "https://www.khaama.com/a/"):
        assert publisher_at_link(directory, link) == 1, link
        assert credit_target(Attribution("read_full", "Khaama", link), directory, {}, {}) == (None, 1), link
    for link in ("https://english.khaama.com/a/", "https://m.example.org/a/", "https://x.cdn.ampproject.org/c/s/other.example/a"):
        assert publisher_at_link(directory, link) is None, link

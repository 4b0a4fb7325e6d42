"""What provenance believes of one item: its time, and the words of the evidence for it."""

from __future__ import annotations

from datetime import datetime, timedelta

from tracker.provenance.facts import estimated_time


def test_a_claimed_date_no_capture_could_check_is_believed_and_said_to_be_unchecked() -> None:
    """A feed first captured with an item dated the day before: nothing disproves the date,
    and the evidence must not call it consistent with captures that never saw its feed."""
    seen, claimed = datetime(2025, 3, 1, 11, 10), datetime(2025, 2, 28, 9, 0)
    when, evidence = estimated_time(seen, claimed, None, timedelta(minutes=15))
    assert when == claimed and evidence == "claimed date, unchecked: its feed's first capture (2025-03-01T11:10:00Z) already had it"
    when, evidence = estimated_time(seen, claimed, datetime(2025, 2, 28, 8, 0), timedelta(minutes=15))
    assert when == claimed and evidence == "claimed date, consistent with captures"

"""Times as the tracker gives them: ISO 8601 UTC with a Z for machines (`iso`), the same
moment with a space for people (`when`). Nothing else formats a time; `read_iso` reads
the times people and archives give it."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 UTC with a Z, to the second: the one form every machine output
    (JSON, CSV, PROV, logs) and every stored evidence text gives a time in. A naive time is
    UTC already (as the database holds it).

    Evidence stored before this form was used has no Z (`2025-01-07T04:00:00`); readers of
    evidence must take both, as `datetime.fromisoformat` does."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


def when(value: datetime | str | None, unknown: str = "unknown") -> str:
    """A time as every text for people shows it: "2025-01-07 08:00:00Z" (UTC, to the
    second, the Z saying so); `unknown` when there is none. A string is read as ISO 8601
    (SQLite hands raw SQL times back as text)."""
    if value is None:
        return unknown
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(iso(value)).replace("T", " ")


def read_iso(value: str) -> datetime | None:
    """An ISO 8601 date or time as naive UTC (a missing zone means UTC), or None when it is
    not one. Any year: what is plausible depends on who asks (a capture, a query)."""
    try:
        found = datetime.fromisoformat(value.strip())  # (a trailing Z included, since Python 3.11)
    except ValueError:
        return None
    try:
        return found.astimezone(UTC).replace(tzinfo=None) if found.tzinfo is not None else found
    except OverflowError:  # 0001-01-01T00:00+05:00 is before the year 1 in UTC
        return None

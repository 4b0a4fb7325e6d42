"""Times as every output and every stored evidence text gives them: ISO 8601 UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime

def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 UTC with a Z, to the second: the one form every output and every
    stored evidence text gives a time in. A naive time is UTC already (as the database holds it).

    Evidence stored before this form was used has no Z (`2025-01-07T04:00:00`); readers of
    evidence must take both, as `datetime.fromisoformat` does."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"

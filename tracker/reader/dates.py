"""Claimed dates read strictly: a feed's date string is believed only within bounds.

feedparser reads any date it can and silently coerces what it cannot (an offset of
+99:00 becomes four days, year -0001 becomes 2000, a missing zone becomes UTC), and a
mirror that claims an early date that way becomes the original. Here the raw string is
read by strict grammars, RFC 822 (RSS `pubDate`) and ISO 8601 / W3C-DTF (Atom,
`dc:date`) above all, and refused, with the reason, when:

- it fits none of the grammars (JavaScript's `Date.toString` and C's `asctime` are read
  too), or is partial (a date without a time of day leaves the moment open by a day; a
  time without a zone is read as UTC);
- its offset lies beyond ±14:00 (the widest real zone, UTC+14 in Kiribati) or its zone
  name is unknown (a name that stands for several offsets, IST or CST, is read as each, and
  the latest moment not after the capture is the claim);
- its year is before 1991 (the first year of the web: no feed item is older);
- it is not a calendar date (31 February, 25:00);
- it lies after the capture that carried it by more than `CLOCK_SKEW` (a publisher's
  clock may run a little fast; a date from the future is no claim).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from tracker.timefmt import iso

EARLIEST_YEAR = 1991
MAX_OFFSET = timedelta(hours=14)
CLOCK_SKEW = timedelta(minutes=15)

_MONTHS = {name: i for i, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
# Zone names whose offset is not in doubt.
_ZONES = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0, "wet": 0,
    "est": -5, "edt": -4, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
    "akst": -9, "akdt": -8, "hst": -10, "west": 1, "cet": 1, "cest": 2, "met": 1, "mest": 2,
    "eet": 2, "eest": 3, "msk": 3, "hkt": 8, "sgt": 8, "awst": 8, "jst": 9, "kst": 9,
    "acst": 9.5, "aest": 10, "acdt": 10.5, "aedt": 11, "nzst": 12, "nzdt": 13,
    "brt": -3, "art": -3, "nst": -3.5, "ndt": -2.5, "adt": -3, "wat": 1, "cat": 2, "sast": 2, "eat": 3, "trt": 3,
    "irst": 3.5, "gst": 4, "aft": 4.5, "pkt": 5, "uzt": 5, "npt": 5.75, "ict": 7, "wib": 7, "wita": 8, "pht": 8,
    "myt": 8, "wit": 9,
}
# Zone names that stand for several offsets: IST is India, Ireland or Israel; CST the US
# Central or China; BST British summer or Bangladesh; AST Atlantic or Arabia. Each reading
# is tried, the latest moment first (`_at`): the claim is the latest one not after the
# capture, never earlier than the true moment, so nobody gains by the name, and an Indian
# or Chinese feed keeps its date instead of being dated by its sighting.
_AMBIGUOUS = {"ist": (1, 2, 5.5), "cst": (-6, 8), "bst": (1, 6), "ast": (-4, 3)}
_RFC822 = re.compile(
    r"(?:[a-z]{2,9}\.?,?\s*)?(?P<d>\d{1,2})(?:\s+|-)(?P<mon>[a-z]{3,9})\.?(?:\s+|-)(?P<y>[+-]?\d+)"
    r"(?:\s+|T)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"\s*(?P<zone>[+-]\d{1,2}:?\d{2}|[a-z]{1,5})?\s*(?:\([^)]*\))?", re.IGNORECASE,
)
# JavaScript's Date.toString ("Sat Oct 06 2018 00:00:00 GMT+0000 (UTC)") and C's asctime
# ("Sat Oct  6 00:00:00 2018", no zone): month before day.
_MONTH_FIRST = re.compile(
    r"(?:[a-z]{2,9},?\s+)?(?P<mon>[a-z]{3,9})\.?\s+(?P<d>\d{1,2}),?\s+(?:(?P<y>[+-]?\d+)\s+)?"
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?(?:\s+(?P<y2>[+-]?\d+))?"
    r"\s*(?:(?:GMT|UTC)(?=[+-]))?(?P<zone>[+-]\d{1,2}:?\d{2}|[a-z]{1,5})?\s*(?:\([^)]*\))?", re.IGNORECASE,
)
_ISO = re.compile(
    r"(?P<y>[+-]?\d{4,})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[T\s](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?\s*(?P<zone>[+-]\d{2}(?::?\d{2})?|Z)?)?)?)?",
    re.IGNORECASE,
)


class Rejected(ValueError):
    """A date string that claims nothing, and why."""


def _offsets(zone: str) -> tuple[timedelta, ...]:
    """The UTC offsets a zone field may name, smallest first; Rejected when it names none or an impossible one."""
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:-2] or 0), int(digits[-2:])
        sign = -1 if zone[0] == "-" else 1
        if minutes >= 60 or timedelta(hours=hours, minutes=minutes) > MAX_OFFSET:
            raise Rejected(f"offset {zone[0]}{hours:02d}:{minutes:02d} beyond ±14:00")
        return (sign * timedelta(hours=hours, minutes=minutes),)
    hours = _ZONES.get(zone.lower())
    if hours is not None:
        return (timedelta(hours=hours),)
    if zone.lower() in _AMBIGUOUS:
        return tuple(timedelta(hours=h) for h in _AMBIGUOUS[zone.lower()])
    raise Rejected(f"unknown time zone {zone!r}")


def _year(text: str, two_digit_ok: bool) -> int:
    if two_digit_ok and len(text) == 2 and text.isdigit():
        return 2000 + int(text) if int(text) < 50 else 1900 + int(text)  # RFC 2822's reading
    year = int(text)
    if year < EARLIEST_YEAR or len(text.lstrip("+-")) != 4:
        raise Rejected(f"year {text} before {EARLIEST_YEAR}" if year < EARLIEST_YEAR else f"year {text} not a year")
    return year


def _moment(year: int, month: int, day: int, hour: str, minute: str, second: str | None, zone: str | None) -> tuple[datetime, ...]:
    """The moments a date names, the latest first (several for an ambiguous zone name)."""
    # A time without a zone is read as UTC, as feed readers do: a lying feed gains nothing
    # by it (it could write any zone), an honest one keeps its date, hours off at worst.
    offsets = _offsets(zone) if zone is not None else (timedelta(0),)
    try:
        local = datetime(year, month, day, int(hour), int(minute), int(second or 0))
    except ValueError as error:
        raise Rejected(f"not a calendar date ({error})") from None
    try:
        return tuple(local - offset for offset in offsets)
    except OverflowError:  # 9999-12-31T23:00-14:00 lies past the last moment a datetime holds
        raise Rejected("not a calendar date (beyond year 9999 in UTC)") from None


def _read(raw: str) -> tuple[datetime, ...]:
    """A date string as naive UTC, its readings the latest first; Rejected with the reason when it claims nothing."""
    text = " ".join(raw.split())
    iso = _ISO.fullmatch(text)
    if iso:
        if iso["H"] is None:
            raise Rejected("a date without a time of day")
        return _moment(_year(iso["y"], False), int(iso["m"]), int(iso["d"]), iso["H"], iso["M"], iso["S"], iso["zone"])
    rfc = _RFC822.fullmatch(text)
    if rfc:
        month = _MONTHS.get(rfc["mon"][:3].lower())
        if month is None:
            raise Rejected(f"unknown month {rfc['mon']!r}")
        return _moment(_year(rfc["y"], True), month, int(rfc["d"]), rfc["H"], rfc["M"], rfc["S"], rfc["zone"])
    other = _MONTH_FIRST.fullmatch(text)
    if other and bool(other["y"]) != bool(other["y2"]):
        month = _MONTHS.get(other["mon"][:3].lower())
        if month is not None:
            year = _year(other["y"] or other["y2"], False)
            return _moment(year, month, int(other["d"]), other["H"], other["M"], other["S"], other["zone"] or "UTC")
    raise Rejected("not an RFC 822 or ISO 8601 date")


# A date string read without a capture time: the moment it claims (naive UTC) or None and
# why it claims none, the string as shown in messages, and the earlier moments it may mean
# (an ambiguous zone name's other readings, latest first). What a capture time adds (a
# date too far after it claims nothing) is applied by `claim_at`, so that a reading can be
# kept and applied to another capture (tracker.reader.parse keeps entries parsed before).
Reading = tuple[datetime | None, str | None, str, tuple[datetime, ...]]


def _reading(raw: str) -> Reading:
    shown = raw.strip()[:40]
    try:
        latest, *earlier = _read(raw)
        return latest, None, shown, tuple(earlier)
    except Rejected as why:
        return None, f"{why} (in {shown!r})", shown, ()


def _at(reading: Reading, captured_at: datetime | None) -> tuple[datetime | None, str | None]:
    when, why, shown, earlier = reading
    if when is not None and captured_at is not None and when > captured_at + CLOCK_SKEW:
        sound = next((moment for moment in earlier if moment <= captured_at + CLOCK_SKEW), None)
        if sound is not None:
            return sound, None
        return None, f"after the capture at {iso(captured_at)}, 15 minutes of clock skew allowed (in {shown!r})"
    return when, why


def claimed_date(raw: str | None, captured_at: datetime | None = None) -> tuple[datetime | None, str | None]:
    """(the moment `raw` claims as naive UTC, None) or (None, why it claims nothing).

    (None, None) when there is no date at all. With `captured_at` (naive UTC), a date
    after the capture by more than CLOCK_SKEW is refused."""
    if raw is None or not raw.strip():
        return None, None
    return _at(_reading(raw), captured_at)


def read_claims(raws: Iterable[object]) -> tuple[Reading, ...]:
    """An entry's date strings (published, then updated, ...) read, each without a capture
    time; the blank and the missing are left out. `claim_at` then dates the entry."""
    return tuple(_reading(raw) for raw in raws if isinstance(raw, str) and raw.strip())


def claim_at(readings: Iterable[Reading], captured_at: datetime | None = None) -> tuple[datetime | None, str | None]:
    """The first reading that claims a moment for a capture at `captured_at`, as
    `claimed_date`; else (None, why the first one claims nothing)."""
    rejected = None
    for reading in readings:
        when, why = _at(reading, captured_at)
        if when is not None:
            return when, None
        rejected = rejected or why
    return None, rejected


def first_claim(raws: Iterable[object], captured_at: datetime | None = None) -> tuple[datetime | None, str | None]:
    """The first of an entry's date strings (published, then updated, ...) that claims a
    moment, as `claimed_date`; else (None, why the first one given claims nothing)."""
    return claim_at(read_claims(raws), captured_at)

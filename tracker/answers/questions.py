"""The query commands' answers, as rows: stories, copies, publishers, find, origin, stats.

Everything is read from the public views (through `tracker.store.views`); medians and
percentiles are computed here, in Python, so that SQLite and PostgreSQL give the same
numbers. Each function returns plain dicts with stable keys; `tracker.answers.output` turns them
into a table, JSON lines or CSV, and the `*_COLUMNS` below say what the table shows.
"""

from __future__ import annotations

import difflib
import re
import statistics
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tracker.answers.output import Column, duration, percent
from tracker.errors import InputError
from tracker.model import utcnow
from tracker.store import views
from tracker.timefmt import read_iso

Row = dict[str, Any]
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(value: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when no zone), or a span back from now: "90m", "24h", "7d", "2w"."""
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        try:
            return (now or utcnow()) - timedelta(seconds=amount * _UNITS[unit])
        except OverflowError:
            raise InputError(f"{value!r} reaches back before the year 1") from None
    found = read_iso(value)
    if found is None:
        raise InputError(f"not a time: {value!r} (ISO 8601 like 2025-01-07T09:00Z, or a span back from now like 24h, 7d)")
    return found


def resolve_publisher(session: Session, name: str) -> str:
    """The stored spelling of a publisher's name, matched without regard to case; an error suggests near names."""
    names = views.publisher_names(session)
    if name in names:
        return name
    folded = {n.casefold(): n for n in names}
    if name.casefold() in folded:
        return folded[name.casefold()]
    close = difflib.get_close_matches(name.casefold(), list(folded), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(folded[c]) for c in close)}?)" if close else ""
    raise InputError(f"no publisher named {name!r}{hint}")


def median(values: Sequence[float]) -> float | None:
    """The median, or None for no values."""
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[float], pct: int) -> float | None:
    """The pct-th percentile (linear interpolation between closest ranks), or None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[pct - 1])


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier).total_seconds()


# -- origin ----------------------------------------------------------------------------------
def find_item(session: Session, url: str) -> Row:
    """The item_provenance row of an article, by its URL as published or any variant of it."""
    row = views.item_by_url(session, url)
    if row is None:
        raise InputError(f"no item with URL {url} (has it been ingested?)")
    return row


def origin_rows(sessions: sessionmaker[Session], url: str) -> list[Row]:
    """Every item of the article's story, depth first from the original (the tree), each an
    item_provenance row plus `depth` (0 for the original), `in_chain` (on the way from the
    article back to the original) and `queried` (the article asked about)."""
    with sessions() as session:
        item = find_item(session, url)
        rows = views.story_items(session, int(item["story_id"]))
    by_id = {r["item_id"]: r for r in rows}
    chain = {item["item_id"]}
    step = item
    while step["parent_item_id"] is not None and step["parent_item_id"] in by_id and step["parent_item_id"] not in chain:
        step = by_id[step["parent_item_id"]]
        chain.add(step["item_id"])
    children: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        if row["parent_item_id"] is not None and row["parent_item_id"] in by_id:
            children[row["parent_item_id"]].append(row)
    out: list[Row] = []
    seen: set[Any] = set()

    def walk(row: Row, depth: int) -> None:
        if row["item_id"] in seen:
            return
        seen.add(row["item_id"])
        out.append({**row, "depth": depth, "in_chain": row["item_id"] in chain, "queried": row["item_id"] == item["item_id"]})
        for child in children.get(row["item_id"], []):
            walk(child, depth + 1)

    for root in [r for r in rows if r["parent_item_id"] is None or r["parent_item_id"] not in by_id]:
        walk(root, 0)
    return out


ORIGIN_KEYS = (*views.ITEM_COLUMNS, "depth", "in_chain", "queried")


# -- stories ---------------------------------------------------------------------------------
def story_list(sessions: sessionmaker[Session], *, publisher: str | None = None, since: datetime | None = None,
               until: datetime | None = None, min_copies: int = 0, limit: int | None = None) -> list[Row]:
    """Rows of the `stories` view, newest first; `publisher` is the original's."""
    with sessions() as session:
        name = resolve_publisher(session, publisher) if publisher else None
        return views.stories(session, publisher=name, since=since, until=until, min_copies=min_copies, limit=limit)


STORY_TABLE = (
    Column("published_at", "published"),
    Column("publisher", "publisher", width=24),
    Column("copies", "copies", right=True),
    Column("publishers", "publishers", right=True),
    Column("title", "title", width=60),
    Column("original_url", "url"),
)


# -- copies ----------------------------------------------------------------------------------
def copies_of(sessions: sessionmaker[Session], publisher: str, since: datetime | None = None) -> list[Row]:
    """Who republishes `publisher`'s stories (copies at any depth), most copies first: how many,
    how many straight from it, how fast after its original (median, 90th percentile), how much
    of each copy is found in its parent (median containment)."""
    with sessions() as session:
        name = resolve_publisher(session, publisher)
        rows = views.republications(session, original_publisher=name, since=since)
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row["copy_publisher"]].append(row)
    out = []
    for copier, copies in groups.items():
        delays = [d for r in copies if (d := _seconds(r["copy_published_at"], r["original_published_at"])) is not None]
        containments = [float(r["containment"]) for r in copies if r["containment"] is not None]
        out.append({
            "publisher": copier,
            "source": name,
            "copies": len(copies),
            "direct_copies": sum(1 for r in copies if r["parent_publisher"] == name),
            "stories": len({r["story_id"] for r in copies}),
            "median_delay_seconds": median(delays),
            "p90_delay_seconds": percentile(delays, 90),
            "median_containment": median(containments),
            "first_copy_at": min((r["copy_published_at"] for r in copies if r["copy_published_at"]), default=None),
            "last_copy_at": max((r["copy_published_at"] for r in copies if r["copy_published_at"]), default=None),
        })
    return sorted(out, key=lambda r: (-r["copies"], r["publisher"]))


COPIES_KEYS = ("publisher", "source", "copies", "direct_copies", "stories", "median_delay_seconds", "p90_delay_seconds",
               "median_containment", "first_copy_at", "last_copy_at")
COPIES_TABLE = (
    Column("publisher", "republished by", width=30),
    Column("copies", "copies", right=True),
    Column("direct_copies", "direct", right=True),
    Column("median_delay_seconds", "median delay", duration, right=True),
    Column("p90_delay_seconds", "90% within", duration, right=True),
    Column("median_containment", "containment", percent, right=True),
)


# -- publishers ------------------------------------------------------------------------------
def publisher_pairs(sessions: sessionmaker[Session], since: datetime | None = None) -> list[Row]:
    """Who copies whom: one row per (copier, source) pair, source being the parent copied from;
    copies, median and 90th-percentile delay after the parent, and the share of the copier's
    items (published since `since`) that are copies from this source."""
    with sessions() as session:
        rows = views.republications(session, since=since)
        items = views.items_per_publisher(session, since)
    pairs: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        pairs[(row["copy_publisher"], row["parent_publisher"])].append(row)
    copied_total: dict[str, int] = defaultdict(int)
    for (copier, _), copies in pairs.items():
        copied_total[copier] += len(copies)
    out = []
    for (copier, source), copies in pairs.items():
        lags = [float(r["lag_seconds"]) for r in copies if r["lag_seconds"] is not None]
        total = items.get(copier, 0)
        out.append({
            "copier": copier,
            "source": source,
            "copies": len(copies),
            "median_delay_seconds": median(lags),
            "p90_delay_seconds": percentile(lags, 90),
            "median_similarity": median([float(r["similarity"]) for r in copies if r["similarity"] is not None]),
            "copier_items": total,
            "share_of_copier_items": len(copies) / total if total else None,
            "copier_copy_share": copied_total[copier] / total if total else None,
        })
    return sorted(out, key=lambda r: (-r["copies"], r["copier"], r["source"]))


PAIR_KEYS = ("copier", "source", "copies", "median_delay_seconds", "p90_delay_seconds", "median_similarity", "copier_items",
             "share_of_copier_items", "copier_copy_share")
PAIR_TABLE = (
    Column("copier", "copier", width=30),
    Column("source", "copies from", width=30),
    Column("copies", "copies", right=True),
    Column("median_delay_seconds", "median delay", duration, right=True),
    Column("share_of_copier_items", "of its items", percent, right=True),
)


# -- find ------------------------------------------------------------------------------------
def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def find_items(sessions: sessionmaker[Session], words: str, limit: int | None = 50) -> list[Row]:
    """Items whose title contains every word (without regard to case or Unicode width), newest first.

    Matching is done in Python: SQLite's LIKE folds only ASCII letters, and titles in
    Cyrillic or Arabic deserve the same answer on both databases."""
    wanted = [_fold(w) for w in words.split() if w.strip()]
    if not wanted:
        raise InputError("find: give at least one word")
    out = []
    with sessions() as session:
        for row in views.items_newest_first(session):
            title = _fold(row["title"] or "")
            if all(w in title for w in wanted):
                out.append(row)
                if limit is not None and len(out) >= limit:
                    break
    return out


ITEM_TABLE = (
    Column("estimated_published_at", "published"),
    Column("publisher", "publisher", width=24),
    Column("relation", "relation"),
    Column("title", "title", width=60),
    Column("url", "url"),
)


# -- stats -----------------------------------------------------------------------------------
def stats_rows(sessions: sessionmaker[Session]) -> list[Row]:
    """Per publisher: items, originals, copies made, copies others made of its stories, by how many publishers."""
    with sessions() as session:
        return views.publisher_stats(session)


STATS_KEYS = ("publisher", "items", "originals", "copies", "copied_by_others", "copied_by_publishers")
STATS_TABLE = (
    Column("publisher", "publisher"),
    Column("items", "items", right=True),
    Column("originals", "originals", right=True),
    Column("copies", "copies made", right=True),
    Column("copied_by_others", "copied by others", right=True),
    Column("copied_by_publishers", "by publishers", right=True),
)

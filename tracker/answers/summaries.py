"""Read-only questions users ask of the provenance views: `origin` and `stats`.

Everything here reads the public views (`item_provenance`, `republications`,
`stories`), so what the CLI prints is exactly what a user's own SQL would find.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tracker.answers.output import counted, duration, table
from tracker.answers.questions import STATS_TABLE, find_item
from tracker.store import views
from tracker.terminal import inline
from tracker.timefmt import when


def _duration(seconds: int | None) -> str:
    """A lag as origin shows it: signed, every unit ("+1d 2h 5m", "-40s")."""
    return duration(seconds, plus=True, parts=3)


def _time_note(row: dict[str, Any]) -> str:
    """Why an item's time is what it is, when that needs saying: a disproved claim, or a
    copy that appeared before the parent it credits (a negative lag)."""
    evidence = row["evidence"]
    if not isinstance(evidence, dict):
        try:
            evidence = json.loads(str(evidence or "{}"))
        except ValueError:
            evidence = {}
    claimed, estimated = row["published_at"], row["estimated_published_at"]
    lag = row["lag_seconds"]
    notes = []
    if isinstance(lag, int) and lag < 0:
        credits = evidence.get("credits") or []
        by_date = claimed is not None and claimed == estimated  # a believed claim is the credible time
        credited = f"which it credits ({'; '.join(map(str, credits))})" if credits else "which it credits"
        notes.append(
            f"negative lag: {'dated' if by_date else 'seen'} {_duration(-lag)[1:]} before its parent, {credited}; "
            f"the credit outweighs the {'date' if by_date else 'sighting'}"
        )
    if views.claim_disproved(claimed, estimated):
        notes.append("its claimed date was disproved: an earlier capture of its feed did not have it; dated by first sighting")
    elif views.claim_after_sighting(claimed, estimated):
        notes.append("its claimed date is after it was first seen; dated by first sighting")
    elif evidence.get("claimed_date_rejected"):
        notes.append(f"its date string claims no date ({evidence['claimed_date_rejected']}); dated by first sighting")
    return "; ".join(notes)


def page_note(evidence: object, parent_publisher: str) -> str:
    """Which article page a copy was matched on, when its evidence says the match used one
    (`parent.from_page`: the item's side, the parent's, or both); else "" ."""
    parent = evidence.get("parent") if isinstance(evidence, dict) else None
    sides = set(parent.get("from_page") or ()) if isinstance(parent, dict) else set()
    if sides == {"parent"}:
        return f"matched on {parent_publisher}'s article page"
    if sides == {"item"}:
        return "matched on its article page"
    return "matched on both article pages" if sides else ""


def origin_report(sessions: sessionmaker[Session], url: str) -> str:
    """A human-readable answer to "where does this article come from, and who copied it?"."""
    with sessions() as session:
        item = find_item(session, url)
        rows = views.story_items(session, int(item["story_id"]))
    by_id = {r["item_id"]: r for r in rows}
    original = by_id[item["original_item_id"]]
    # Titles, names and URLs come from feeds: nothing in them may steer the terminal.
    lines = [
        f"Original: {inline(original['publisher'])} — {inline(original['title'])}",
        f"  {inline(original['url'])}",
        f"  published {when(original['estimated_published_at'])} (first seen {when(original['first_seen_at'])})",
    ]
    if _time_note(original):
        lines.append(f"  {_time_note(original)}")
    if original["attributed_origin"]:
        lines.append(f"  credits a source the tracker does not follow: {inline(original['attributed_origin'])}")
    chain = [item]
    while chain[-1]["parent_item_id"] is not None and chain[-1]["parent_item_id"] in by_id and len(chain) <= len(by_id):
        chain.append(by_id[chain[-1]["parent_item_id"]])
    if len(chain) > 1:
        lines.append("")
        lines.append("Chain: " + " ← ".join(inline(r["publisher"]) for r in chain))
    children: dict[object, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if row["parent_item_id"] is not None:
            children[row["parent_item_id"]].append(row)
    lines.append("")
    lines.append(f"Story ({counted(len(rows), 'item')}, {counted(len(rows) - 1, 'republication')}):")

    def walk(row: dict[str, object], prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─ " if last else "├─ ")
        detail = ""
        if row["parent_item_id"] is not None:
            # An excerpt is as much of its parent as it carries: its containment says it, not its Jaccard.
            measure = (f"{row['containment']:.0%} of it in the parent" if row["relation"] == "excerpt" and row["containment"] is not None
                       else f"similarity {row['similarity']:.2f}")
            detail = f"  [{row['relation']}, {measure}, {_duration(row['lag_seconds'])}]"  # type: ignore[str-format]
        here = "  ← this article" if row["item_id"] == item["item_id"] else ""
        lines.append(f"  {prefix}{branch}{inline(row['publisher'])}  {inline(row['url'])}{detail}{here}")
        below = prefix if root else prefix + ("   " if last else "│  ")
        note = ""
        if row["parent_item_id"] is not None:
            parent = by_id.get(row["parent_item_id"])
            page = page_note(row["evidence"], inline(parent["publisher"]) if parent else "its parent")
            note = "; ".join(n for n in (_time_note(row), page) if n)
        if note:
            lines.append(f"  {below}   ({note})")
        kids = children.get(row["item_id"], [])
        for n, child in enumerate(kids):
            walk(child, below, n == len(kids) - 1, False)

    walk(original, "", True, True)
    return "\n".join(lines)


def stats_report(sessions: sessionmaker[Session]) -> str:
    """The per-publisher counts as an aligned table."""
    with sessions() as session:
        rows = views.publisher_stats(session)
        feeds, captures = views.totals(session)
    if not rows:
        return f"{counted(feeds, 'feed')}, {counted(captures, 'capture')}, no items yet."
    total_items = sum(int(r["items"]) for r in rows)
    total_copies = sum(int(r["copies"]) for r in rows)
    return "\n".join([
        table(rows, STATS_TABLE), "",
        f"{counted(feeds, 'feed')}, {counted(captures, 'capture')}, {counted(total_items, 'item')}, {counted(total_copies, 'republication')}",
    ])

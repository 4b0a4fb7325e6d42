"""Read-only questions users ask of the provenance views: `origin` and `stats`.

Everything here reads the public views (`item_provenance`, `republications`,
`stories`), so what the CLI prints is exactly what a user's own SQL would find.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tracker.errors import InputError
from tracker.identity import lookup_hash
from tracker.terminal import inline

_ROW = """
SELECT item_id, url, title, publisher, published_at, first_seen_at, estimated_published_at,
       story_id, original_item_id, parent_item_id, relation, similarity, containment,
       lag_seconds, attributed_origin, evidence
FROM item_provenance
"""


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    if not parts:
        parts = [f"{rest % 60}s"]
    return sign + " ".join(parts)


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _time_note(row: dict[str, object]) -> str:
    """Why an item's time is what it is, when that needs saying: a disproved claim, or a
    copy that appeared before the parent it credits (a negative lag)."""
    try:
        evidence = json.loads(str(row["evidence"] or "{}"))
    except ValueError:
        evidence = {}
    said = str(evidence.get("time_evidence") or "")
    lag = row["lag_seconds"]
    notes = []
    if isinstance(lag, int) and lag < 0:
        credits = evidence.get("credits") or []
        by_date = said.startswith("claimed date")
        credited = f"which it credits ({'; '.join(map(str, credits))})" if credits else "which it credits"
        notes.append(
            f"negative lag: {'dated' if by_date else 'seen'} {_duration(-lag)[1:]} before its parent, {credited}; "
            f"the credit outweighs the {'date' if by_date else 'sighting'}"
        )
    if "disproved" in said:
        notes.append("its claimed date was disproved: an earlier capture of its feed did not have it; dated by first sighting")
    elif "after first sighting" in said:
        notes.append("its claimed date is after it was first seen; dated by first sighting")
    return "; ".join(notes)


def find_item(session: Session, url: str) -> dict[str, object]:
    """The item_provenance row of an article, by its URL as published or any variant of it
    (http/https, "www.", trailing slash, tracking parameters, fragment)."""
    rows = [dict(r) for r in session.execute(text(_ROW + " WHERE item_id IN (SELECT id FROM items WHERE url_hash = :h)"),
                                             {"h": lookup_hash(url)}).mappings()]
    if rows:
        # Prefer the link exactly as given, then one with the same fragment, then the oldest.
        wanted = url.strip()
        fragment = urlsplit(wanted).fragment
        rows.sort(key=lambda r: (r["url"] != wanted, urlsplit(str(r["url"] or "")).fragment != fragment, r["item_id"]))
        return rows[0]
    raise InputError(f"no item with URL {url} (has it been ingested?)")


def story_rows(session: Session, story_id: int) -> list[dict[str, object]]:
    """Every item of a story, in publication order."""
    rows = session.execute(text(_ROW + " WHERE story_id = :story ORDER BY estimated_published_at, item_id"), {"story": story_id})
    return [dict(r) for r in rows.mappings()]


def origin_report(sessions: sessionmaker[Session], url: str) -> str:
    """A human-readable answer to "where does this article come from, and who copied it?"."""
    with sessions() as session:
        item = find_item(session, url)
        rows = story_rows(session, int(item["story_id"]))  # type: ignore[call-overload]
    by_id = {r["item_id"]: r for r in rows}
    original = by_id[item["original_item_id"]]
    lines = [
        f"Original: {inline(original['publisher'])} — {inline(original['title'])}",
        f"  {inline(original['url'])}",
        f"  published {_when(original['estimated_published_at'])} (first seen {_when(original['first_seen_at'])})",
    ]
    if _time_note(original):
        lines.append(f"  {_time_note(original)}")
    if original["attributed_origin"]:
        lines.append(f"  credits a source the tracker does not follow: {inline(original['attributed_origin'])}")
    chain = [item]
    while chain[-1]["parent_item_id"] is not None and chain[-1]["parent_item_id"] in by_id:
        chain.append(by_id[chain[-1]["parent_item_id"]])
    if len(chain) > 1:
        lines.append("")
        lines.append("Chain: " + " ← ".join(inline(r["publisher"]) for r in chain))
    children: dict[object, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if row["parent_item_id"] is not None:
            children[row["parent_item_id"]].append(row)
    lines.append("")
    lines.append(f"Story ({_n(len(rows), 'item')}, {_n(len(rows) - 1, 'republication')}):")

    def walk(row: dict[str, object], depth: int) -> None:
        marker = "└─ " if depth else ""
        indent = "  " + "   " * max(0, depth - 1)
        detail = ""
        if row["parent_item_id"] is not None:
            detail = f"  [{row['relation']}, similarity {row['similarity']:.2f}, {_duration(row['lag_seconds'])}]"  # type: ignore[str-format]
        here = "  ← this article" if row["item_id"] == item["item_id"] else ""
        lines.append(f"{indent}{marker}{inline(row['publisher'])}  {inline(row['url'])}{detail}{here}")
        note = _time_note(row) if row["parent_item_id"] is not None else ""
        if note:
            lines.append(f"{indent}{'   ' if depth else ''}   ({note})")
        for child in children.get(row["item_id"], []):
            walk(child, depth + 1)

    walk(original, 0)
    return "\n".join(lines)


_STATS = """
SELECT publisher,
       COUNT(*) AS items,
       SUM(CASE WHEN parent_item_id IS NULL THEN 1 ELSE 0 END) AS originals,
       SUM(CASE WHEN parent_item_id IS NOT NULL THEN 1 ELSE 0 END) AS copies
FROM item_provenance
GROUP BY publisher
"""

_COPIED = """
SELECT o.publisher AS publisher, COUNT(*) AS copied, COUNT(DISTINCT c.publisher) AS by_publishers
FROM item_provenance c
JOIN item_provenance o ON o.item_id = c.original_item_id
WHERE c.parent_item_id IS NOT NULL
GROUP BY o.publisher
"""


def publisher_stats(session: Session) -> list[dict[str, object]]:
    """Per publisher: items, originals, copies it made, copies others made of its stories."""
    copied = {r["publisher"]: r for r in session.execute(text(_COPIED)).mappings()}
    rows = []
    for row in session.execute(text(_STATS)).mappings():
        other = copied.get(row["publisher"], {})
        rows.append({**row, "copied_by_others": other.get("copied", 0), "copied_by_publishers": other.get("by_publishers", 0)})
    return sorted(rows, key=lambda r: (-int(r["items"]), str(r["publisher"])))  # type: ignore[call-overload]


def stats_report(sessions: sessionmaker[Session]) -> str:
    """The per-publisher counts as an aligned table."""
    with sessions() as session:
        rows = publisher_stats(session)
        feeds = session.execute(text("SELECT COUNT(*) FROM feeds")).scalar_one()
        captures = session.execute(text("SELECT COUNT(*) FROM captures")).scalar_one()
    if not rows:
        return f"{_n(feeds, 'feed')}, {_n(captures, 'capture')}, no items yet."
    header = ("publisher", "items", "originals", "copies made", "copied by others", "by publishers")
    table = [header] + [
        (inline(r["publisher"]), str(r["items"]), str(r["originals"]), str(r["copies"]), str(r["copied_by_others"]), str(r["copied_by_publishers"]))
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)) for line in table
    ]
    total_items = sum(int(r["items"]) for r in rows)  # type: ignore[call-overload]
    total_copies = sum(int(r["copies"]) for r in rows)  # type: ignore[call-overload]
    out.append("")
    out.append(f"{_n(feeds, 'feed')}, {_n(captures, 'capture')}, {_n(total_items, 'item')}, {_n(total_copies, 'republication')}")
    return "\n".join(out)

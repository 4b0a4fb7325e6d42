"""Read-only questions users ask of the provenance views: `origin` and `stats`.

Everything here reads the public views (`item_provenance`, `republications`,
`stories`), so what the CLI prints is exactly what a user's own SQL would find.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from tracker.answers import STATS_TABLE, find_item
from tracker.output import escape_control, table
from tracker.store import views


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


def origin_report(sessions: sessionmaker[Session], url: str) -> str:
    """A human-readable answer to "where does this article come from, and who copied it?"."""
    with sessions() as session:
        item = find_item(session, url)
        rows = views.story_items(session, int(item["story_id"]))
    by_id = {r["item_id"]: r for r in rows}
    original = by_id[item["original_item_id"]]
    lines = [
        f"Original: {original['publisher']} — {original['title']}",
        f"  {original['url']}",
        f"  published {_when(original['estimated_published_at'])} (first seen {_when(original['first_seen_at'])})",
    ]
    if original["attributed_origin"]:
        lines.append(f"  credits a source the tracker does not follow: {original['attributed_origin']}")
    chain = [item]
    while chain[-1]["parent_item_id"] is not None and chain[-1]["parent_item_id"] in by_id:
        chain.append(by_id[chain[-1]["parent_item_id"]])
    if len(chain) > 1:
        lines.append("")
        lines.append("Chain: " + " ← ".join(f"{r['publisher']}" for r in chain))
    children: dict[object, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if row["parent_item_id"] is not None:
            children[row["parent_item_id"]].append(row)
    lines.append("")
    lines.append(f"Story ({len(rows)} items, {len(rows) - 1} republications):")

    def walk(row: dict[str, object], depth: int) -> None:
        marker = "└─ " if depth else ""
        detail = ""
        if row["parent_item_id"] is not None:
            detail = f"  [{row['relation']}, similarity {row['similarity']:.2f}, {_duration(row['lag_seconds'])}]"  # type: ignore[str-format]
        here = "  ← this article" if row["item_id"] == item["item_id"] else ""
        lines.append(f"  {'   ' * max(0, depth - 1)}{marker}{row['publisher']}  {row['url']}{detail}{here}")
        for child in children.get(row["item_id"], []):
            walk(child, depth + 1)

    walk(original, 0)
    # Titles, names and URLs come from feeds: nothing in them may steer the terminal.
    return "\n".join(escape_control(line) for line in lines)


def stats_report(sessions: sessionmaker[Session]) -> str:
    """The per-publisher counts as an aligned table."""
    with sessions() as session:
        rows = views.publisher_stats(session)
        feeds, captures = views.totals(session)
    if not rows:
        return f"{feeds} feeds, {captures} captures, no items yet."
    total_items = sum(int(r["items"]) for r in rows)
    total_copies = sum(int(r["copies"]) for r in rows)
    return "\n".join([
        table(rows, STATS_TABLE), "", f"{feeds} feeds, {captures} captures, {total_items} items, {total_copies} republications",
    ])

"""`tracker status`: the daemon's heartbeat, feeds due and failing, recent findings."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tracker.config import Config
from tracker.model import utcnow
from tracker.store import schema
from tracker.store.database import open_database


def status_report(config: Config) -> str:
    """A short report a person can read at a glance."""
    sessions = open_database(config.database.url)
    now = utcnow()
    f = schema.Feed
    with sessions() as session:
        beat = session.get(schema.Heartbeat, "daemon")
        active = session.scalar(select(func.count()).select_from(f).where(f.active.is_(True), f.retired_at.is_(None))) or 0
        due = session.scalar(
            select(func.count()).select_from(f).where(
                f.active.is_(True), f.retired_at.is_(None), (f.next_check_at.is_(None)) | (f.next_check_at <= now)
            )
        ) or 0
        retired = session.scalar(select(func.count()).select_from(f).where(f.retired_at.is_not(None))) or 0
        failing = session.execute(
            select(f.url, f.error_count, f.last_error_kind, f.last_error_message, f.next_check_at)
            .where(f.error_count > 0, f.active.is_(True)).order_by(f.error_count.desc(), f.url)
        ).all()
        found = []
        for label, span in (("last hour", timedelta(hours=1)), ("last day", timedelta(days=1))):
            items = session.scalar(select(func.count()).select_from(schema.Item).where(schema.Item.first_seen_at >= now - span)) or 0
            copies = session.scalar(
                select(func.count()).select_from(schema.Provenance).join(schema.Item, schema.Item.id == schema.Provenance.item_id)
                .where(schema.Provenance.parent_item_id.is_not(None), schema.Item.first_seen_at >= now - span)
            ) or 0
            found.append(f"{label}: {items} new items, {copies} republications")
    lines = []
    if beat is None:
        lines.append("daemon: never started on this database")
    else:
        age = (now - beat.beat_at).total_seconds()
        alive = beat.state == "running" and age <= 3 * beat.interval_seconds + 5
        state = "alive" if alive else ("stopped" if beat.state == "stopped" else "not responding")
        lines.append(f"daemon: {state} (pid {beat.pid} on {beat.hostname}, last heartbeat {int(age)} s ago, started {beat.started_at:%Y-%m-%d %H:%M} UTC)")
    lines.append(f"feeds: {active} active, {due} due now, {len(failing)} failing, {retired} retired (410 Gone)")
    for url, count, kind, message, next_check in failing[:20]:
        when = f", next try {next_check:%H:%M} UTC" if next_check else ""
        lines.append(f"  ✗ {url}: {kind} ×{count} — {(message or '')[:120]}{when}")
    if len(failing) > 20:
        lines.append(f"  … and {len(failing) - 20} more")
    lines.extend(found)
    return "\n".join(lines)

"""`tracker status`: the daemon's heartbeat, feeds due and failing, recent findings.

Besides the text, the report says whether the tracker is healthy, so that `status`
can back a health check: the daemon alive, and no more than a set share of the
active feeds failing.
"""

from __future__ import annotations

import os
import socket

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from tracker.config import Config
from tracker.model import utcnow
from tracker.store import schema
from tracker.store.database import describe, open_database
from tracker.output import counted
from tracker.terminal import inline


@dataclass(frozen=True)
class StatusReport:
    """What `tracker status` prints, and whether it means the tracker is healthy."""

    text: str
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """No problem found."""
        return not self.problems


def status_report(config: Config, max_failing_share: float | None = None, require_daemon: bool = True) -> StatusReport:
    """A short report a person can read at a glance, and the problems that make it unhealthy.

    Unhealthy: the daemon not alive (unless `require_daemon` is off), or more than
    `max_failing_share` (default: the config's) of the active feeds failing.
    """
    share = config.status.max_failing_share if max_failing_share is None else max_failing_share
    sessions = open_database(config.database.url, create=False)
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
            found.append(f"{label}: {counted(items, 'new item')}, {counted(copies, 'republication')}")
    lines = [f"database: {describe(config.database.url)}"]
    problems: list[str] = []
    if beat is None:
        lines.append("daemon: never started on this database")
        alive = False
    else:
        age = (now - beat.beat_at).total_seconds()
        alive = beat.state == "running" and age <= 3 * beat.interval_seconds + 5
        gone = beat.hostname == socket.gethostname() and not _process_exists(beat.pid)
        if alive and gone:
            alive = False  # killed before it could say so: its heartbeat is not stale yet, its pid is gone
        state = "alive" if alive else ("stopped" if beat.state == "stopped" else "not running (pid gone)" if gone else "not responding")
        lines.append(f"daemon: {state} (pid {beat.pid} on {inline(beat.hostname)}, last heartbeat {int(age)} s ago, started {beat.started_at:%Y-%m-%d %H:%M} UTC)")
    if require_daemon and not alive:
        problems.append("the daemon is not running" if beat is None or beat.state == "stopped" else "the daemon is not responding")
    lines.append(f"feeds: {active} active, {due} due now, {len(failing)} failing, {retired} retired (410 Gone)")
    for url, count, kind, message, next_check in failing[:20]:
        when = f", next try {next_check:%H:%M} UTC" if next_check else ""
        lines.append(f"  ✗ {inline(url)}: {inline(kind)} ×{count} — {inline((message or '')[:120])}{when}")
    if len(failing) > 20:
        lines.append(f"  … and {len(failing) - 20} more")
    if active and len(failing) > share * active:
        problems.append(f"{len(failing)} of {counted(active, 'active feed')} failing (more than {share:.0%})")
    lines.extend(found)
    return StatusReport("\n".join(lines), problems)


def _process_exists(pid: int) -> bool:
    """Whether a process of this pid runs on this machine (signal 0 asks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

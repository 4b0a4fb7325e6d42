"""Heartbeats: one row per polling worker, beaten every dispatch tick, read by `tracker status`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from tracker.store import schema


@dataclass(frozen=True)
class Beat:
    """A worker's last heartbeat."""

    name: str
    pid: int
    hostname: str
    started_at: datetime
    beat_at: datetime
    interval_seconds: float
    state: str


def beat(session: Session, worker: Beat) -> None:
    """Write the worker's heartbeat row (created on its first beat)."""
    table = schema.Heartbeat.__table__
    values = {
        "pid": worker.pid, "hostname": worker.hostname, "started_at": worker.started_at, "beat_at": worker.beat_at,
        "interval_seconds": worker.interval_seconds, "state": worker.state,
    }
    if session.execute(update(table).where(table.c.name == worker.name).values(**values)).rowcount == 0:
        session.execute(insert(table).values(name=worker.name, **values))


def workers(session: Session) -> list[Beat]:
    """Every worker's heartbeat, the most recently started first."""
    h = schema.Heartbeat
    rows = session.execute(
        select(h.name, h.pid, h.hostname, h.started_at, h.beat_at, h.interval_seconds, h.state)
        .order_by(h.started_at.desc(), h.name)
    ).all()
    return [Beat(*row) for row in rows]


def prune(session: Session, before: datetime) -> int:
    """Forget workers whose last beat is older than `before` (long dead); how many."""
    h = schema.Heartbeat
    return int(session.execute(delete(h).where(h.beat_at < before)).rowcount or 0)


def process_exists(pid: int) -> bool:
    """Whether a process of this pid runs on this machine (signal 0 asks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_here(beat: Beat, hostname: str) -> bool:
    """A worker of this machine (`hostname`) whose process is gone, whatever its row says."""
    return beat.hostname == hostname and not process_exists(beat.pid)

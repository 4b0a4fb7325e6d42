"""SQL of the alert outbox: enqueue with the decision, claim, mark, report.

Rows are written in the transaction that stores the provenance decision, so an alert is
enqueued if and only if the copy is recorded. Senders claim one row at a time with a
lease (`claimed_by`, `claimed_until`): on PostgreSQL the candidate row is locked with
`FOR UPDATE SKIP LOCKED`, on SQLite one conditional `UPDATE … RETURNING` claims it, so two
processes never hold the same row. A sender that dies loses its lease when it expires.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tracker.store import schema, schema_outbox
from tracker.store.items import chunks

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
REPUBLICATION, RETRACTION = "republication", "retraction"
STATES = (PENDING, DELIVERED, FAILED)
# A chain longer than this is a loop in bad data, not a story.
MAX_CHAIN = 100

_CHAIN = text(f"""
WITH RECURSIVE chain(item_id, depth) AS (
    SELECT CAST(:item_id AS INTEGER), 0
  UNION ALL
    SELECT pr.parent_item_id, c.depth + 1
    FROM chain c JOIN provenance pr ON pr.item_id = c.item_id
    WHERE pr.parent_item_id IS NOT NULL AND c.depth < {MAX_CHAIN}
)
SELECT ip.item_id, ip.url, ip.title, ip.publisher, ip.published_at, ip.first_seen_at,
       ip.estimated_published_at, ip.story_id, ip.original_item_id, ip.parent_item_id,
       ip.relation, ip.similarity, ip.containment, ip.lag_seconds, ip.attributed_origin
FROM chain c JOIN item_provenance ip ON ip.item_id = c.item_id
ORDER BY c.depth
""")

_T = schema_outbox.AlertOutbox.__table__


@dataclass(frozen=True)
class OutboxMessage:
    """A claimed message, ready to send."""

    id: int
    alert: str
    item_id: int
    message_id: str
    payload: str
    attempts: int


@dataclass(frozen=True)
class OutboxRow:
    """A row as `tracker alerts` lists it."""

    id: int
    alert: str
    item_id: int
    message_id: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    claimed_until: datetime | None
    copy_publisher: str | None
    title: str | None
    kind: str = REPUBLICATION


def chain(session: Session, item_id: int) -> list[dict[str, Any]]:
    """The item_provenance rows of an item, its parent, …, up to the story's original."""
    rows = [dict(r) for r in session.execute(_CHAIN, {"item_id": item_id}).mappings()]
    seen: set[int] = set()
    out = []
    for row in rows:  # a cycle in bad data repeats items: cut it at the first repeat
        if row["item_id"] in seen:
            break
        seen.add(row["item_id"])
        out.append(row)
    return out


_DESCENDANTS = text(f"""
WITH RECURSIVE below(item_id, depth) AS (
    SELECT pr.item_id, 1 FROM provenance pr WHERE pr.parent_item_id IN :ids
  UNION
    SELECT pr.item_id, b.depth + 1
    FROM below b JOIN provenance pr ON pr.parent_item_id = b.item_id
    WHERE b.depth < {MAX_CHAIN}
)
SELECT DISTINCT item_id FROM below
""").bindparams(bindparam("ids", expanding=True))


def descendants(session: Session, item_ids: Collection[int]) -> set[int]:
    """The items whose chain passes through one of these (their copies, copies of those, …)."""
    found: set[int] = set()
    for part in chunks(item_ids):
        found.update(session.execute(_DESCENDANTS, {"ids": part}).scalars())
    return found


@dataclass(frozen=True)
class Told:
    """A republication message not retracted: what an alert was (or is about to be) told of a copy."""

    id: int
    alert: str
    item_id: int
    message_id: str
    round: int
    unsent: bool  # pending and nobody sending it, or failed: it can still be taken back unseen


def _unsent(now: datetime) -> Any:
    """A message nobody has received: pending and not being sent, or failed."""
    return or_(_T.c.state == FAILED, and_(_T.c.state == PENDING, or_(_T.c.claimed_until.is_(None), _T.c.claimed_until < now)))


def told(session: Session, item_ids: Collection[int], now: datetime) -> list[Told]:
    """The republication messages of these items that no retraction answers yet."""
    retracted = _T.alias("retracted")
    answered = select(retracted.c.id).where(
        retracted.c.alert == _T.c.alert, retracted.c.item_id == _T.c.item_id, retracted.c.kind == RETRACTION,
        retracted.c.round == _T.c.round,
    ).exists()
    unsent = _unsent(now)
    query = select(_T.c.id, _T.c.alert, _T.c.item_id, _T.c.message_id, _T.c.round, unsent).where(
        _T.c.item_id.in_(bindparam("ids", expanding=True)), _T.c.kind == REPUBLICATION, ~answered,
    ).order_by(_T.c.id)
    return [Told(*row) for part in chunks(item_ids) for row in session.execute(query, {"ids": part})]


def take_back(session: Session, row_id: int, now: datetime) -> bool:
    """Delete a message nobody has received (pending and not being sent, or failed); whether it was."""
    return bool(session.execute(delete(_T).where(_T.c.id == row_id, _unsent(now))).rowcount)


def rounds(session: Session, item_ids: Collection[int]) -> dict[tuple[str, int], int]:
    """(alert, item) → how many retractions it had: the round its next republication is in."""
    query = select(_T.c.alert, _T.c.item_id, func.count()).where(
        _T.c.item_id.in_(bindparam("ids", expanding=True)), _T.c.kind == RETRACTION,
    ).group_by(_T.c.alert, _T.c.item_id)
    return {(alert, item_id): int(n) for part in chunks(item_ids) for alert, item_id, n in session.execute(query, {"ids": part})}


def enqueue(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows (alert, item_id, kind, round, message_id, payload, created_at); an
    (alert, item, kind, round) already queued is left as it is. Returns how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    values = [{**row, "state": PENDING, "attempts": 0, "next_attempt_at": row["created_at"]} for row in rows]
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(_T).on_conflict_do_nothing(index_elements=["alert", "item_id", "kind", "round"]).returning(_T.c.id)
    # RETURNING, not rowcount: rowcount is not reliable for every driver and execution path.
    return sum(len(session.execute(statement, value).all()) for value in values)


def _claimable(now: datetime, alerts: Iterable[str]) -> Any:
    return and_(
        _T.c.state == PENDING,
        _T.c.next_attempt_at <= now,
        _T.c.alert.in_(list(alerts)),
        or_(_T.c.claimed_until.is_(None), _T.c.claimed_until < now),
    )


def claim_one(session: Session, owner: str, alerts: Iterable[str], now: datetime, lease_until: datetime) -> OutboxMessage | None:
    """Claim the oldest due message of one of `alerts` for `owner` until `lease_until`.

    The caller commits right away; the lease, not an open transaction, protects the row
    while it is sent (a slow webhook must not hold a database lock).
    """
    alerts = list(alerts)
    if not alerts:
        return None
    due = select(_T.c.id).where(_claimable(now, alerts)).order_by(_T.c.next_attempt_at, _T.c.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    returning = (_T.c.id, _T.c.alert, _T.c.item_id, _T.c.message_id, _T.c.payload, _T.c.attempts)
    for _ in range(10):
        # Read first: an idle sender looks every second, and on SQLite even an UPDATE that
        # matches nothing takes the write lock the pollers need.
        row_id = session.execute(due).scalar_one_or_none()
        if row_id is None:
            return None
        # Conditional: on SQLite another process may have claimed the row since the read
        # (on PostgreSQL the row lock already excludes that); then look again.
        row = session.execute(
            update(_T).where(_T.c.id == row_id, _claimable(now, alerts))
            .values(claimed_by=owner, claimed_until=lease_until).returning(*returning)
        ).first()
        if row is not None:
            break
    else:
        return None
    return OutboxMessage(row.id, row.alert, row.item_id, row.message_id, row.payload, row.attempts)


def mark_delivered(session: Session, row_id: int, owner: str, now: datetime, status: int | None) -> bool:
    """Record a successful send; False when the lease was lost (another sender took over)."""
    result = session.execute(
        update(_T).where(_T.c.id == row_id, _T.c.claimed_by == owner, _T.c.state == PENDING).values(
            state=DELIVERED, delivered_at=now, attempts=_T.c.attempts + 1, last_attempt_at=now, last_status=status,
            last_error=None, claimed_by=None, claimed_until=None,
        )
    )
    return bool(result.rowcount)


def mark_attempt_failed(
    session: Session, row_id: int, owner: str, now: datetime, status: int | None, error: str,
    next_attempt_at: datetime, give_up: bool,
) -> bool:
    """Record a failed send: retry at `next_attempt_at`, or mark the row failed (`give_up`)."""
    result = session.execute(
        update(_T).where(_T.c.id == row_id, _T.c.claimed_by == owner, _T.c.state == PENDING).values(
            state=FAILED if give_up else PENDING, attempts=_T.c.attempts + 1, last_attempt_at=now, last_status=status,
            last_error=error[:2000], next_attempt_at=next_attempt_at, claimed_by=None, claimed_until=None,
        )
    )
    return bool(result.rowcount)


def release(session: Session, row_id: int, owner: str) -> None:
    """Give a claimed row back unsent (the sender is stopping before it tried)."""
    session.execute(update(_T).where(_T.c.id == row_id, _T.c.claimed_by == owner).values(claimed_by=None, claimed_until=None))


def requeue_failed(session: Session, now: datetime, alert: str | None = None) -> int:
    """Make failed rows pending again, due now, with a fresh count of attempts."""
    where = [_T.c.state == FAILED] + ([_T.c.alert == alert] if alert else [])
    result = session.execute(
        update(_T).where(*where).values(state=PENDING, attempts=0, next_attempt_at=now, claimed_by=None, claimed_until=None)
    )
    return int(result.rowcount or 0)


def counts(session: Session) -> dict[str, dict[str, int]]:
    """alert → state → number of rows."""
    out: dict[str, dict[str, int]] = {}
    for alert, state, n in session.execute(select(_T.c.alert, _T.c.state, func.count()).group_by(_T.c.alert, _T.c.state)):
        out.setdefault(alert, dict.fromkeys(STATES, 0))[state] = int(n)
    return out


def undelivered(session: Session, limit: int) -> list[OutboxRow]:
    """Pending and failed rows, failed first, then by next attempt."""
    items, publishers = schema.Item.__table__, schema.Publisher.__table__
    query = (
        select(
            _T.c.id, _T.c.alert, _T.c.item_id, _T.c.message_id, _T.c.state, _T.c.attempts, _T.c.created_at,
            _T.c.next_attempt_at, _T.c.last_attempt_at, _T.c.last_status, _T.c.last_error, _T.c.claimed_until,
            publishers.c.name, items.c.title, _T.c.kind,
        )
        .select_from(_T.outerjoin(items, items.c.id == _T.c.item_id).outerjoin(publishers, publishers.c.id == items.c.publisher_id))
        .where(_T.c.state.in_([PENDING, FAILED]))
        .order_by((_T.c.state == PENDING), _T.c.next_attempt_at, _T.c.id)
        .limit(limit)
    )
    return [OutboxRow(*row) for row in session.execute(query)]

"""The alert outbox's table: the messages of alerts about copies, written with the decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.store.schema import Base


class AlertOutbox(Base):
    """One alert message per (alert, copy, kind, round), written with the decision it tells of:
    a `republication` when the item became a copy, a `retraction` of it once the copy turns
    out to be none; `round` counts the retractions before, so a copy found again is told again.

    A row is `pending` until sent (`claimed_by`/`claimed_until` is the lease of the process
    sending it), then `delivered`, or `failed` after `max_attempts`.
    """

    __tablename__ = "alert_outbox"
    __table_args__ = (UniqueConstraint("alert", "item_id", "kind", "round", name="uq_outbox_alert_item_round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="republication", server_default="republication")
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


Index("ix_outbox_state_next", AlertOutbox.state, AlertOutbox.next_attempt_at)

"""The alert outbox's table: one message per alert and copy, written with the decision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.store.schema import Base


class AlertOutbox(Base):
    """One alert message per (alert, copy), written with the decision that found the copy.

    A row is `pending` until sent (`claimed_by`/`claimed_until` is the lease of the process
    sending it), then `delivered`, or `failed` after `max_attempts`.
    """

    __tablename__ = "alert_outbox"
    __table_args__ = (UniqueConstraint("alert", "item_id", name="uq_outbox_alert_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
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

"""Alerts: which new copies concern a configured `[[alerts]]` entry, and the message about each.

The pipeline calls `Alerts.enqueue` inside the transaction that stores its decisions, with
the items that just became copies. A copy concerns an alert when its parent, or any item
up its chain to the original, is of a watched publisher or has a URL under a watched
prefix (or the alert watches `any`). The message — the copy and its whole chain as the
`item_provenance` view shows them at that moment — is written to the outbox in that same
transaction; `tracker.daemon.deliver` sends it later, off the polling path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.config import AlertConfig, Config
from tracker.detection.normalise import fold
from tracker.model import utcnow
from tracker.store import outbox
from tracker.terminal import json_line
from tracker.timefmt import iso

MESSAGE_VERSION = 1
_ITEM_FIELDS = (
    "item_id", "url", "title", "publisher", "relation", "parent_item_id", "similarity", "containment", "lag_seconds",
    "published_at", "first_seen_at", "estimated_published_at", "attributed_origin",
)


def _name(publisher: str) -> str:
    return fold(publisher).strip()


@dataclass(frozen=True)
class Watch:
    """What one alert watches, ready to test chains against."""

    name: str
    publishers: frozenset[str]
    url_prefixes: tuple[str, ...]
    everything: bool

    @classmethod
    def of(cls, alert: AlertConfig) -> Watch:
        """The watch of one `[[alerts]]` entry (publisher names compared case-insensitively)."""
        return cls(alert.name, frozenset(_name(p) for p in alert.publishers), tuple(alert.url_prefixes), alert.any)

    def match(self, ancestors: list[dict[str, Any]]) -> tuple[dict[str, Any], str] | None:
        """The nearest ancestor (parent first) this alert watches, and which rule matched it."""
        for row in ancestors:
            if self.everything:
                return row, "any"
            if row["publisher"] is not None and _name(row["publisher"]) in self.publishers:
                return row, "publisher"
            if row["url"] and any(str(row["url"]).startswith(prefix) for prefix in self.url_prefixes):
                return row, "url_prefix"
        return None


def _time(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return iso(value)


def _item(row: dict[str, Any]) -> dict[str, Any]:
    out = {key: row[key] for key in _ITEM_FIELDS}
    for key in ("published_at", "first_seen_at", "estimated_published_at"):
        out[key] = _time(out[key])
    for key in ("similarity", "containment"):
        out[key] = None if out[key] is None else round(float(out[key]), 4)
    if out["lag_seconds"] is not None:
        out["lag_seconds"] = int(out["lag_seconds"])
    return out


def _envelope(kind: str, alert: str, message_id: str, created_at: datetime) -> dict[str, Any]:
    """What every message starts with: its type, version, id, alert and time."""
    return {"type": kind, "version": MESSAGE_VERSION, "message_id": message_id, "alert": alert, "created_at": _time(created_at)}


def build_message(alert: str, message_id: str, created_at: datetime, rows: list[dict[str, Any]],
                  matched: dict[str, Any], rule: str) -> dict[str, Any]:
    """The JSON message about one copy (documented in docs/alerts.md)."""
    items = [_item(r) for r in rows]
    return {
        **_envelope("republication", alert, message_id, created_at),
        "story_id": rows[0]["story_id"],
        "watched": {"rule": rule, "item_id": matched["item_id"], "publisher": matched["publisher"], "url": matched["url"]},
        "copy": items[0],
        "original": items[-1],
        "chain": items,
    }


def build_retraction(alert: str, message_id: str, created_at: datetime, retracts: str, item_id: int,
                     rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON message withdrawing an earlier one about a copy (documented in docs/alerts.md)."""
    items = [_item(r) for r in rows]
    return {
        **_envelope("retraction", alert, message_id, created_at),
        "retracts": retracts,
        "reason": "no longer a copy" if len(items) < 2 else "no longer a copy of what this alert watches",
        "item": items[0] if items else {"item_id": item_id},
        "chain": items,
    }


class Alerts:
    """The configured alerts, as the pipeline uses them to enqueue messages."""

    def __init__(self, alerts: Iterable[AlertConfig]) -> None:
        self.watches = [Watch.of(alert) for alert in alerts]

    @classmethod
    def from_config(cls, config: Config) -> Alerts:
        """The alerts of a configuration."""
        return cls(config.alerts)

    def enqueue(self, session: Session, copies: Iterable[int], changed: Collection[int] = ()) -> int:
        """Queue one message per (alert, copy) for the copies just decided, and withdraw what
        was said of the `changed` copies (now decided otherwise) where it no longer holds; in
        the caller's transaction, so the messages exist exactly when the decisions do.
        Returns how many messages were queued."""
        if not self.watches:
            return 0
        now = utcnow()
        queued = self._withdraw(session, changed, now) if changed else 0
        copies = list(dict.fromkeys(copies))
        rounds = outbox.rounds(session, copies) if copies else {}
        rows: list[dict[str, Any]] = []
        for item_id in copies:
            chain = outbox.chain(session, item_id)
            if len(chain) < 2:
                continue  # no longer a copy by the end of the decision
            for watch in self.watches:
                found = watch.match(chain[1:])
                if found is None:
                    continue
                message_id = str(uuid.uuid4())
                message = build_message(watch.name, message_id, now, chain, *found)
                rows.append(_row(watch.name, item_id, outbox.REPUBLICATION, rounds.get((watch.name, item_id), 0), message, now))
        return queued + outbox.enqueue(session, rows)

    def _withdraw(self, session: Session, changed: Collection[int], now: datetime) -> int:
        """For each message told of these copies, or of copies of them (their chains changed
        too), that their chain no longer bears out: take it back unseen where nobody has
        received it, else queue its retraction. Returns how many retractions were queued."""
        watches = {watch.name: watch for watch in self.watches}
        rows: list[dict[str, Any]] = []
        for told in outbox.told(session, set(changed) | outbox.descendants(session, changed), now):
            watch = watches.get(told.alert)
            if watch is None:
                continue  # an alert no longer configured: its messages stay as they are
            chain = outbox.chain(session, told.item_id)
            if len(chain) >= 2 and watch.match(chain[1:]) is not None:
                continue  # still a copy of what the alert watches
            if told.unsent and outbox.take_back(session, told.id, now):
                continue
            message = build_retraction(told.alert, str(uuid.uuid4()), now, told.message_id, told.item_id, chain)
            rows.append(_row(told.alert, told.item_id, outbox.RETRACTION, told.round, message, now))
        return outbox.enqueue(session, rows)


def _row(alert: str, item_id: int, kind: str, round_: int, message: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An outbox row of a message."""
    return {
        "alert": alert, "item_id": item_id, "kind": kind, "round": round_, "message_id": message["message_id"],
        "created_at": now,
        # Bidi and other control characters as JSON escapes: the exact text for the
        # receiver, nothing that reorders a line of the alert file in an editor.
        "payload": json_line(json.dumps(message, ensure_ascii=False, separators=(",", ":"))),
    }

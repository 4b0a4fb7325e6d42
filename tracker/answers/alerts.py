"""`tracker alerts`: per alert, what was delivered, what waits and what failed."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from tracker import timefmt
from tracker.config import Config
from tracker.model import utcnow
from tracker.redact import mask_credentials
from tracker.store import outbox


def _short(value: str | None, width: int) -> str:
    value = " ".join((value or "").split())
    return value if len(value) <= width else value[: width - 1] + "…"


def alerts_report(sessions: sessionmaker[Session], config: Config, limit: int = 50) -> str:
    """Per alert: delivered, pending and failed counts; then the undelivered messages."""
    configured = {alert.name: alert for alert in config.alerts}
    with sessions() as session:
        counts = outbox.counts(session)
        rows = outbox.undelivered(session, limit)
    names = list(configured) + sorted(set(counts) - set(configured))
    if not names:
        return "No alerts configured and none queued."
    table = [("alert", "destination", "delivered", "pending", "failed")]
    for name in names:
        alert = configured.get(name)
        where = (mask_credentials(alert.webhook or "") or f"file {alert.file}") if alert else "(no longer configured)"
        n = counts.get(name, dict.fromkeys(outbox.STATES, 0))
        table.append((name, _short(where, 48), str(n[outbox.DELIVERED]), str(n[outbox.PENDING]), str(n[outbox.FAILED])))
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(line)) for line in table]
    now = utcnow()
    for state, heading in ((outbox.FAILED, "Failed (gave up; `tracker alerts --retry` queues them again):"), (outbox.PENDING, "Pending:")):
        chosen = [r for r in rows if r.state == state]
        if not chosen:
            continue
        lines += ["", heading]
        for r in chosen:
            when = f"next attempt {timefmt.when(r.next_attempt_at)}"
            if r.next_attempt_at <= now:
                # A retry overdue means nobody is sending: say who would, not just "now".
                when = ("due now" if not r.attempts else
                        f"retry due since {timefmt.when(r.next_attempt_at)}, waiting for a sender (`tracker run`, or `tracker alerts --deliver`)")
            if r.claimed_until and r.claimed_until > now:
                when = "being sent"
            if state == outbox.FAILED:
                when = f"last attempt {timefmt.when(r.last_attempt_at)}"
            lines.append(
                f"  #{r.id} {r.alert}: {'retraction of ' if r.kind == outbox.RETRACTION else ''}"
                f"{r.copy_publisher or '?'} “{_short(r.title, 50)}” (item {r.item_id}), "
                f"{r.attempts} attempt{'' if r.attempts == 1 else 's'}, {when}"
            )
            if r.last_error:
                lines.append(f"      last error: {_short(r.last_error, 100)}")
            lines.append(f"      message {r.message_id}, queued {timefmt.when(r.created_at)}")
    total = sum(sum(n[s] for s in (outbox.PENDING, outbox.FAILED)) for n in counts.values())
    if total > len(rows):
        lines += ["", f"(showing {len(rows)} of {total} undelivered; --limit N for more)"]
    return "\n".join(lines)

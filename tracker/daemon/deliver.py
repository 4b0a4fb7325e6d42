"""Delivering queued alert messages: claim, send, mark; retry with exponential backoff.

A `Deliverer` claims one due message at a time (a lease, so two processes never send the
same one), sends it to its alert's webhook or file, and records the outcome: delivered,
or a failed attempt with the next attempt `retry_seconds × 2^(attempts-1)` later (capped
at `max_retry_seconds`, never sooner than a Retry-After), or `failed` after
`max_attempts`. `DeliveryThread` runs a Deliverer beside the polling daemon with its own
database connection; `tracker alerts --deliver` and `tracker poll` run one pass.

Exactly once as far as an outbox can promise: a message is enqueued once (with the
decision, unique per alert and copy) and marked delivered once. If the process dies after
the receiver got a message but before the mark is committed, the message is sent again
once its lease expires, with the same message id: receivers dedupe on it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: appends are not locked against another process
    fcntl = None  # type: ignore[assignment]

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.config import AlertConfig, Config
from tracker.daemon.metrics import record_alert_delivery
from tracker.errors import StoreError
from tracker.logs import fields
from tracker.model import utcnow
from tracker.reader.fetch import PostResult, WebhookPoster
from tracker.redact import MASK, mask_credentials
from tracker.store import outbox
from tracker.store.database import open_database
from tracker.timefmt import iso

log = logging.getLogger(__name__)
MESSAGE_ID_HEADER = "X-Tracker-Message-Id"
SIGNATURE_HEADER = "X-Tracker-Signature"
# Between the end of an idle pass and the next look at the outbox.
IDLE_SECONDS = 1.0


def lease_seconds(alert: AlertConfig) -> float:
    """How long a claim holds: the send's own bound, with room for a slow database and clock skew."""
    return 3 * alert.timeout_seconds + 10


def backoff_seconds(alert: AlertConfig, attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones (exponential, capped)."""
    delay = min(alert.max_retry_seconds, alert.retry_seconds * 2 ** max(0, attempts - 1))
    if retry_after:
        delay = max(delay, min(retry_after, alert.max_retry_seconds))
    return delay


def resolve_file(alert: AlertConfig, config: Config) -> Path:
    """An alert's `file`, relative to the config file's folder (else the working directory)."""
    path = Path(alert.file or "").expanduser()
    if not path.is_absolute() and config.path is not None:
        path = config.path.resolve().parent / path
    return path


def append_line(path: Path, line: bytes) -> None:
    """Append one JSON line under an exclusive lock and fsync it: two writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        # A line torn by a crash mid-write is ended, so the next message stays a line of its own.
        torn = False
        if handle.seek(0, os.SEEK_END) > 0:
            handle.seek(-1, os.SEEK_END)
            torn = handle.read(1) != b"\n"
        handle.write((b"\n" if torn else b"") + line.rstrip(b"\n") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Deliverer:
    """Sends due outbox messages to their alerts' destinations."""

    def __init__(self, sessions: sessionmaker[Session], config: Config) -> None:
        self.sessions = sessions
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._poster = WebhookPoster(config.polling.user_agent)
        # An alert whose endpoint just failed is left alone until its backoff ends, so one
        # dead endpoint costs one attempt per backoff, not one per queued message.
        self._paused: dict[str, datetime] = {}
        self.configure(config)

    def configure(self, config: Config) -> None:
        """Use these alerts from now on (a reloaded config)."""
        self.config = config
        self.alerts = {alert.name: alert for alert in config.alerts}

    def close(self) -> None:
        """Release the HTTP client."""
        self._poster.close()

    def seconds_to_next_retry(self) -> float | None:
        """Seconds until the earliest paused alert may be tried again (None: none paused)."""
        if not self._paused:
            return None
        return max(0.0, (min(self._paused.values()) - utcnow()).total_seconds())

    def _active(self, now: datetime) -> list[str]:
        return [name for name in self.alerts if self._paused.get(name, now) <= now]

    def deliver_due(self, stop: threading.Event | None = None, deadline: float | None = None) -> DeliveryReport:
        """Send every due message, one at a time, until none is due (or `stop` is set, or the
        monotonic `deadline` passes)."""
        report = DeliveryReport()
        while not (stop and stop.is_set()) and (deadline is None or time.monotonic() < deadline):
            now = utcnow()
            active = self._active(now)
            longest = max((lease_seconds(self.alerts[name]) for name in active), default=0)
            with self.sessions.begin() as session:
                message = outbox.claim_one(session, self.owner, active, now, now + timedelta(seconds=longest))
            if message is None:
                break
            self._send(message, report)
        return report

    def _send(self, message: outbox.OutboxMessage, report: DeliveryReport) -> None:
        alert = self.alerts.get(message.alert)
        if alert is None:  # removed by a reload since the claim
            with self.sessions.begin() as session:
                outbox.release(session, message.id, self.owner)
            return
        result = self._attempt(alert, message)
        now = utcnow()
        attempts = message.attempts + 1
        info = {"alert": alert.name, "message": message.message_id, "item": message.item_id, "attempt": attempts,
                "status": result.status}
        give_up = attempts >= alert.max_attempts
        later = now + timedelta(seconds=backoff_seconds(alert, attempts, result.retry_after_s))
        with self.sessions.begin() as session:
            if result.error is None:
                kept = outbox.mark_delivered(session, message.id, self.owner, now, result.status)
            else:
                kept = outbox.mark_attempt_failed(session, message.id, self.owner, now, result.status, result.error, later, give_up)
        record_alert_delivery("file" if alert.file is not None else "webhook", result.error is None)
        if not kept:
            log.warning("alert lease lost: another sender took the message over", extra=fields(**info))
        elif result.error is None:
            self._paused.pop(alert.name, None)
            report.delivered += 1
            log.info("alert delivered", extra=fields(**info))
        elif give_up:
            report.failed += 1
            report.errors.append(f"{alert.name}: {result.error}")
            log.error("alert delivery failed; giving up", extra=fields(**info, error=result.error))
        else:
            self._paused[alert.name] = later
            report.retrying += 1
            report.errors.append(f"{alert.name}: {result.error}")
            log.warning("alert delivery failed; will retry", extra=fields(**info, error=result.error, next=iso(later)))

    def _attempt(self, alert: AlertConfig, message: outbox.OutboxMessage) -> PostResult:
        body = message.payload.encode("utf-8")
        if alert.file is not None:
            path = resolve_file(alert, self.config)
            try:
                append_line(path, body)
            except OSError as error:
                return PostResult(None, f"cannot append to {path}: {error.strerror or error}", None)
            return PostResult(None, None, None)
        headers = {
            **alert.headers,
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.message_id,
            MESSAGE_ID_HEADER: message.message_id,
        }
        if alert.secret:
            digest = hmac.new(alert.secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        assert alert.webhook is not None
        result = self._poster.post(alert.webhook, body, headers, alert.timeout_seconds)
        return replace(result, error=without_secrets(result.error, alert)) if result.error else result


def without_secrets(error: str, alert: AlertConfig) -> str:
    """A webhook's error with what the config keeps masked: an answer may echo what it was
    sent (`invalid token: Bearer …`, the URL asked), and the error is stored, logged and
    shown by `tracker alerts`. The alert's header values and secret (each whole, and its
    last word: the token of `Bearer …`) of 8 characters or more, and URLs' credentials."""
    values = [*alert.headers.values(), alert.secret or ""]
    secrets = {part for value in values for part in (value, *value.split()[-1:]) if len(part) >= 8}
    for secret in sorted(secrets, key=len, reverse=True):
        error = error.replace(secret, MASK)
    return mask_credentials(error)


def deliver_once(config: Config, seconds: float | None = None, sessions: sessionmaker[Session] | None = None) -> DeliveryReport:
    """`tracker alerts --deliver`, `tracker poll`: one pass over the due messages (on
    `sessions`, the database a command opened already, else opened here)."""
    if not config.alerts:
        return DeliveryReport()
    deliverer = Deliverer(sessions or open_database(config.database.url), config)
    try:
        return deliverer.deliver_due(deadline=None if seconds is None else time.monotonic() + seconds)
    finally:
        deliverer.close()


class DeliveryThread:
    """Delivers alerts beside the polling daemon, in its own thread with its own connections.

    It never blocks polling: sends are bounded by each alert's timeout, and the database is
    reached through a separate engine. `stop` returns within `grace` seconds even if a
    webhook hangs; the message being sent is then sent again after its lease expires.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._deliverer: Deliverer | None = None
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> None:
        """Start delivering (the database may still be down: it is retried)."""
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now (a poll just queued messages)."""
        self._wake.set()

    def configure(self, config: Config) -> None:
        """Use the alerts of a reloaded config."""
        self._config = config
        if self._deliverer is not None:
            self._deliverer.configure(config)
        self._wake.set()

    def stop(self, grace: float = 2.0) -> None:
        """Stop after the send in progress, waiting at most `grace` seconds for it."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(grace)

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = IDLE_SECONDS
            try:
                if self._config.alerts:
                    if self._deliverer is None:
                        # An engine of its own, on the database the daemon names in its log already.
                        sessions = open_database(self._config.database.url, quiet=True)
                        self._deliverer = Deliverer(sessions, self._config)
                    self._deliverer.deliver_due(self._stop)
                    retry = self._deliverer.seconds_to_next_retry()
                    if retry is not None:
                        pause = min(pause, retry + 0.01)
            except (SQLAlchemyError, StoreError) as error:
                log.error("database unavailable for alert delivery; retrying",
                          extra=fields(error=str(error).splitlines()[0] if str(error) else repr(error)))
                self._reset()
                pause = 5 * IDLE_SECONDS
            except Exception:
                log.exception("alert delivery crashed; retrying")
                self._reset()
                pause = 5 * IDLE_SECONDS
            self._wake.wait(pause)
            self._wake.clear()
        if self._deliverer is not None:
            self._deliverer.close()

    def _reset(self) -> None:
        if self._deliverer is not None:
            self._deliverer.close()
            self._deliverer.sessions.kw["bind"].dispose()
            self._deliverer = None

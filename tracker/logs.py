"""Logging: one line per event, human-readable by default, JSON on request.

Code logs events as `log.info("poll", extra=fields(feed=url, status=200))`; the text
format prints "poll feed=… status=200", the JSON format one object per line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from tracker.redact import mask_credentials
from tracker.terminal import inline, json_line

_FIELDS = "tracker_fields"


def fields(**values: Any) -> dict[str, Any]:
    """The `extra=` argument that attaches structured fields to a log record."""
    return {_FIELDS: values}


def _value(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or "=" in text or not text) else text


class TextFormatter(logging.Formatter):
    """`2026-11-23T19:00:00Z INFO poll feed=https://… status=200`."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = getattr(record, _FIELDS, {})
        parts = [when, record.levelname, record.getMessage()]
        parts += [f"{k}={_value(v)}" for k, v in extra.items() if v is not None]
        line = " ".join(parts)
        if record.exc_info:
            line += " error=" + _value(repr(record.exc_info[1]))
        # Messages quote feed data: one line, no terminal control sequences, no password
        # (an exception may quote a URL as it was requested).
        return inline(mask_credentials(line))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, logger, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        payload.update({k: v for k, v in getattr(record, _FIELDS, {}).items() if v is not None})
        if record.exc_info:
            payload["error"] = repr(record.exc_info[1])
        return json_line(mask_credentials(json.dumps(payload, ensure_ascii=False, default=str)))


def configure(format: str = "text", level: str = "info", stream: Any = None) -> None:
    """Send log events to stderr (or `stream`) in the chosen format.

    The handler sits on the root logger so that libraries' warnings (APScheduler's,
    say) come out in the same format: a JSON log must be JSON on every line.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    tracker = logging.getLogger("tracker")
    tracker.handlers.clear()
    tracker.setLevel(level.upper())
    tracker.propagate = True

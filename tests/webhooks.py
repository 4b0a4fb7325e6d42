"""A local webhook receiver for alert tests: records every POST, answers as the test scripts.

`WebhookReceiver` is a ThreadingHTTPServer on 127.0.0.1 (port 0) in a thread. Each POST is
recorded (path, headers, body, parsed JSON) before it is answered; the answer is the next
status of the script (`answer(500, 200)`), else `default`. `hang(seconds)` makes every
request wait that long before answering (a stuck endpoint).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.feedserver import _QuietServer


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float      # time.monotonic() on arrival
    status: int    # what the receiver answered (or was about to, for a sender that went away)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message_id(self) -> str:
        return self.headers.get("X-Tracker-Message-Id", "")


class WebhookReceiver:
    """A real HTTP endpoint on 127.0.0.1 that records POSTs and answers as scripted."""

    def __init__(self, default: int = 200) -> None:
        self.default = default
        self.received: list[Received] = []
        self._script: deque[int] = deque()
        self._hang = 0.0
        self._released = threading.Event()
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    status = receiver._script.popleft() if receiver._script else receiver.default
                    receiver.received.append(Received(self.path, dict(self.headers), body, time.monotonic(), status))
                    hang = receiver._hang
                    receiver.arrived.set()
                if hang:
                    receiver._released.wait(hang)
                headers = {"Retry-After": "0"} if status == 503 else {}
                payload = b"ok" if status < 300 else b"try later"
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sender (a killed daemon) went away

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, then with `default`."""
        with self._lock:
            self._script.extend(statuses)

    def hang(self, seconds: float) -> None:
        """Make every request wait `seconds` before it is answered (0: answer at once)."""
        with self._lock:
            self._hang = seconds
            if not seconds:
                self._released.set()
            else:
                self._released.clear()

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def message_ids(self) -> list[str]:
        return [r.message_id for r in self.messages()]

    def accepted(self) -> list[Received]:
        """The POSTs answered with a 2xx."""
        return [r for r in self.messages() if 200 <= r.status < 300]

    def close(self) -> None:
        self._released.set()
        self.httpd.shutdown()
        self.httpd.server_close()

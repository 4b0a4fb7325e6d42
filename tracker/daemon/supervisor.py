"""`tracker run --workers N`: a supervisor of N daemon processes.

`run --workers N` is a supervisor: it starts N `tracker run` processes (each a whole
daemon, a worker with its own heartbeat and leases), forwards SIGTERM, SIGINT and SIGHUP
to them, restarts one that dies unexpectedly (after 1, 2, 4 … up to 60 s; the delay
starts over once a worker has run a minute), and exits when they have all stopped: 0
when they stopped cleanly (130 when Ctrl-C stopped them), 1 otherwise; a second
SIGTERM/SIGINT kills them and exits 130.
A worker exiting with status 2 (bad usage or config) is not restarted: the supervisor
stops the others and exits 2. The workers run in sessions of their own (a Ctrl-C on the
terminal reaches them once, through the supervisor) and stop by themselves if the
supervisor is killed with -9.

It needs PostgreSQL: a SQLite database has one daemon.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from tracker.children import SUPERVISOR_ENV, child_env
from tracker.daemon.systemd import Notifier
from tracker.errors import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_USAGE
from tracker.logs import fields

log = logging.getLogger(__name__)
# Restart delays of a worker that died: doubling from the first to the cap; a worker that
# ran this long before dying starts over from the first.
RESTART_FIRST_SECONDS, RESTART_MAX_SECONDS, RESTART_RESET_SECONDS = 1.0, 60.0, 60.0

def watch_supervisor(on_gone: Callable[[], None], interval: float = 1.0) -> None:
    """In a worker started by a supervisor: call `on_gone` once the supervisor has died."""
    expected = os.environ.get(SUPERVISOR_ENV)
    if not expected or not expected.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(expected):
            time.sleep(interval)
        log.warning("supervisor gone: stopping", extra=fields(supervisor=int(expected)))
        on_gone()

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()

# -- run --workers N --------------------------------------------------------------------------
@dataclass
class _Slot:
    """One worker place: its process now, and when to start the next after a death."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    start_after: float = 0.0
    exit_code: int | None = None

@dataclass
class Supervisor:
    """Keeps `count` worker processes running until told to stop; `run` returns the exit status."""

    count: int
    command: Callable[[int], list[str]]  # the worker command of slot i
    restart_first: float = RESTART_FIRST_SECONDS
    restart_max: float = RESTART_MAX_SECONDS
    _signals: list[int] = field(default_factory=list)
    _stops: int = 0
    _interrupted: bool = False  # the stop came from SIGINT (Ctrl-C): a clean stop exits 130

    def run(self) -> int:
        """Start the workers, supervise them, and return 0 (clean stop), 1, 2 or 130 (Ctrl-C)."""
        slots = [_Slot(i) for i in range(self.count)]
        notifier = Notifier.from_environment()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            for slot in slots:
                self._start(slot)
            notifier.ready(f"supervising {self.count} workers")
            return self._loop(slots, notifier)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)  # acted on by the loop: nothing heavy in a handler

    def _loop(self, slots: list[_Slot], notifier: Notifier) -> int:
        fatal: int | None = None
        while True:
            while self._signals:
                signum = self._signals.pop(0)
                if signum == signal.SIGHUP:
                    log.info("reloading workers", extra=fields(signal="SIGHUP"))
                    self._send(slots, signal.SIGHUP)
                    continue
                self._stops += 1
                if self._stops == 1:
                    self._interrupted = signum == signal.SIGINT
                    log.info("stopping workers", extra=fields(signal=signal.Signals(signum).name))
                    notifier.stopping()
                    self._send(slots, signal.SIGTERM)
                else:
                    log.warning("second signal: killing workers", extra=fields(signal=signal.Signals(signum).name))
                    self._send(slots, signal.SIGKILL)
                    for slot in slots:
                        if slot.process is not None:
                            slot.process.wait()
                    return EXIT_INTERRUPTED
            now = time.monotonic()
            for slot in slots:
                if slot.process is not None and (code := slot.process.poll()) is not None:
                    slot.process, slot.exit_code = None, code
                    if self._stops:
                        log.info("worker stopped", extra=fields(slot=slot.index, exit=code))
                        continue
                    if code == EXIT_USAGE and fatal is None:
                        log.error("worker refused its config: stopping the others", extra=fields(slot=slot.index, exit=code))
                        fatal = code
                        self._stops = 1
                        self._send(slots, signal.SIGTERM)
                        continue
                    ran = now - slot.started_at
                    slot.failures = 1 if ran >= RESTART_RESET_SECONDS else slot.failures + 1
                    delay = min(self.restart_max, self.restart_first * 2 ** (slot.failures - 1))
                    slot.start_after = now + delay
                    log.error("worker died; restarting", extra=fields(slot=slot.index, exit=code, after_s=delay))
                if slot.process is None and not self._stops and now >= slot.start_after:
                    self._start(slot)
            if self._stops and all(slot.process is None for slot in slots):
                if fatal is not None:
                    return fatal
                if any(slot.exit_code != 0 for slot in slots):
                    return EXIT_FAILURES
                return EXIT_INTERRUPTED if self._interrupted else 0
            time.sleep(0.1)

    def _start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(self.command(slot.index), env=child_env(), stdin=subprocess.DEVNULL, start_new_session=True)
        slot.started_at = time.monotonic()
        log.info("worker started", extra=fields(slot=slot.index, pid=slot.process.pid))

    @staticmethod
    def _send(slots: list[_Slot], sig: int) -> None:
        for slot in slots:
            if slot.process is not None and slot.process.poll() is None:
                try:
                    slot.process.send_signal(sig)
                except ProcessLookupError:
                    pass

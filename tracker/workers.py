"""Several processes for one command: `tracker run --workers N` and `tracker ingest --workers N`.

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

`ingest --workers N` gives every feed to one of N `tracker ingest --share I/N` processes
(planned by the feeds' captures, `ingest.plan_shares`; a stable hash of the feed URL for a
feed the plan does not name); each reads every file, keeps its share, ingests it through
the normal pipeline and prints its report as one JSON line, which the parent sums.

Both need PostgreSQL: a SQLite database has one writer, and one daemon.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tracker.errors import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_USAGE, InputError
from tracker.logs import fields
from tracker.model import IngestReport
from tracker.systemd import Notifier

log = logging.getLogger(__name__)
SUPERVISOR_ENV = "TRACKER_SUPERVISOR_PID"
# Restart delays of a worker that died: doubling from the first to the cap; a worker that
# ran this long before dying starts over from the first.
RESTART_FIRST_SECONDS, RESTART_MAX_SECONDS, RESTART_RESET_SECONDS = 1.0, 60.0, 60.0
# systemd's variables are the supervisor's alone: a worker must not claim readiness for it.
_SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


def tracker_command(global_args: list[str], *args: str) -> list[str]:
    """`python -P -m tracker GLOBAL… ARGS…` with this interpreter.

    `-P`: `-m` would otherwise put the working folder first on the path, and a folder
    named `tracker` there (a clone of this repository, say) would be imported instead.
    """
    return [sys.executable, "-P", "-m", "tracker", *global_args, *args]


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SYSTEMD_ENV}
    env[SUPERVISOR_ENV] = str(os.getpid())
    return env


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
        slot.process = subprocess.Popen(self.command(slot.index), env=_child_env(), stdin=subprocess.DEVNULL, start_new_session=True)
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


# -- ingest --workers N -----------------------------------------------------------------------
def share_of(feed_url: str, shares: int) -> int:
    """Which of `shares` processes ingests this feed's captures (stable across runs and machines)."""
    return zlib.crc32(feed_url.encode("utf-8", "surrogatepass")) % shares


def parse_share(value: str) -> tuple[int, int]:
    """`I/N` (0 ≤ I < N) as (I, N)."""
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise InputError(f"--share {value!r}: expected I/N with 0 <= I < N")
    return int(index), int(count)


def report_json(report: IngestReport) -> str:
    """A worker's report, as the one line the parent reads."""
    return json.dumps(dataclasses.asdict(report))


@dataclass(frozen=True)
class SharedIngest:
    """What the ingest processes did together."""

    report: IngestReport
    exit_codes: list[int]
    reported: list[bool]  # each process printed its report (one that crashed did not)

    @property
    def interrupted(self) -> bool:
        """Any of them was interrupted (Ctrl-C)."""
        return EXIT_INTERRUPTED in self.exit_codes


def ingest_in_processes(global_args: list[str], ingest_args: list[str], paths: list[Path], count: int) -> SharedIngest:
    """Run `count` `tracker ingest --share I/N` processes over `paths`; their reports summed.

    SIGINT and SIGTERM are passed on to them (each stops between captures, keeping what it
    stored); their own error lines go to this process's stderr as they are.
    """
    processes = [
        subprocess.Popen(
            tracker_command(global_args, "ingest", "--share", f"{i}/{count}", *ingest_args, "--", *map(str, paths)),
            env=_child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True, text=True,
        )
        for i in range(count)
    ]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outputs = [process.communicate()[0] for process in processes]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    total = IngestReport()
    reported = []
    for output in outputs:
        reports = [IngestReport(**json.loads(line)) for line in output.splitlines() if line.startswith("{")]
        for report in reports:
            total.add(report)
        reported.append(bool(reports))
    return SharedIngest(total, [process.returncode for process in processes], reported)

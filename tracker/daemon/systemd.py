"""systemd's service notifications (sd_notify): readiness, reloads, stopping, the watchdog.

The protocol is one datagram of `KEY=value` lines to the unix socket named by
NOTIFY_SOCKET (a leading "@" means the abstract namespace); without that variable
every call is a no-op, so the daemon behaves the same outside systemd. These few
stdlib lines stand in for a library because none on PyPI is maintained: `sdnotify`
was last released in 2017 and knows nothing of WATCHDOG_USEC or MONOTONIC_USEC, and
`systemd-python` needs libsystemd's headers and a compiler to install.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from tracker.daemon.health import Liveness
from tracker.logs import fields

log = logging.getLogger(__name__)


class Notifier:
    """Sends notifications to systemd, or nothing when not started by it (NOTIFY_SOCKET unset)."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._warned = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier for this process: NOTIFY_SOCKET if set, else a no-op."""
        return cls((env if env is not None else os.environ).get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        """True when systemd listens."""
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send `KEY=value` lines in one datagram; False (logged once) when it could not be sent."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(target)
                sock.sendall("\n".join(lines).encode())
        except OSError as error:
            if not self._warned:  # once: a missing socket would otherwise log at every watchdog ping
                log.warning("cannot notify systemd", extra=fields(socket=self.address, error=str(error)))
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is complete."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """A reload has begun; READY=1 follows when it is done."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        """Shutdown has begun."""
        return self.notify("STOPPING=1", "STATUS=stopping: letting polls in flight finish")

    def status(self, text: str) -> bool:
        """A one-line status for `systemctl status`."""
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        """The keep-alive ping."""
        return self.notify("WATCHDOG=1")


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of WATCHDOG_USEC), or None when no watchdog is asked of this process."""
    env = env if env is not None else os.environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2 / 1_000_000


class Watchdog:
    """Pings systemd's watchdog every `interval` seconds while `liveness()` says the daemon is alive."""

    def __init__(self, notifier: Notifier, interval: float, liveness: Callable[[], Liveness]) -> None:
        self.notifier = notifier
        self.interval = interval
        self.liveness = liveness
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def start(self) -> Watchdog:
        """Start pinging in a daemon thread."""
        self._thread.start()
        return self

    def _run(self) -> None:
        withheld = False
        while True:
            live = self.liveness()
            if live.alive:
                self.notifier.watchdog()
                if withheld:
                    log.info("watchdog pings resumed", extra=fields(state=live.state))
                withheld = False
            elif not withheld:
                # Withholding the ping is the point: systemd restarts a daemon whose dispatch loop hangs.
                log.error("watchdog: not pinging systemd", extra=fields(state=live.state, detail=live.detail))
                self.notifier.status(f"{live.state}: {live.detail}")
                withheld = True
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        """Stop pinging."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

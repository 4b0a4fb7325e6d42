"""Child `tracker` processes: the command line and environment a parent starts one with.

Shared by the daemon's supervisor (`run --workers N`) and the shared ingest (`ingest --workers N`).
"""

from __future__ import annotations

import os
import sys

SUPERVISOR_ENV = "TRACKER_SUPERVISOR_PID"
# systemd's variables are the supervisor's alone: a worker must not claim readiness for it.
_SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


def tracker_command(global_args: list[str], *args: str) -> list[str]:
    """`python -P -m tracker GLOBAL… ARGS…` with this interpreter.

    `-P`: `-m` would otherwise put the working folder first on the path, and a folder
    named `tracker` there (a clone of this repository, say) would be imported instead.
    """
    return [sys.executable, "-P", "-m", "tracker", *global_args, *args]


def child_env() -> dict[str, str]:
    """This environment for a child: systemd's variables left out, this process named its parent."""
    env = {k: v for k, v in os.environ.items() if k not in _SYSTEMD_ENV}
    env[SUPERVISOR_ENV] = str(os.getpid())
    return env

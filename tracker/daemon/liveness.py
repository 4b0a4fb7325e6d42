"""Is the daemon alive: the liveness of its dispatch loop (for /healthz, /metrics and the
systemd watchdog), and the HTTP server of /healthz and /metrics.

A mixin of `tracker.daemon.scheduler.Daemon` (kept apart: the dispatch loop is long enough).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tracker.daemon.health import LOADING, POLLING, STALLED, STARTING, STOPPED, STOPPING, HealthCheck, Liveness
from tracker.daemon.metrics import METRICS
from tracker.daemon.opsserver import OpsServer

if TYPE_CHECKING:
    from tracker.daemon.scheduler import Daemon

# A tick opening the pipeline (migrations, a first build of the detection state) counts as alive this long (the unit's TimeoutStartSec): past
# that, a load hanging on a black-holed database stops the watchdog and systemd restarts us.
LOAD_GRACE_SECONDS = 15 * 60


class OperationsMixin:
    """`Daemon`'s liveness and its operations HTTP server."""

    def liveness(self: Daemon, now: float | None = None) -> Liveness:
        """Is the dispatch loop doing its job? (for /healthz, /metrics and the systemd watchdog)"""
        now = time.monotonic() if now is None else now
        started, ended = self._tick_started, self._tick_ended
        since = None if ended is None else now - ended
        if self.stopped.is_set():
            return Liveness(STOPPED, since)
        if self.stopping.is_set():
            return Liveness(STOPPING, since)
        if started is None:
            return Liveness(STARTING, None, "starting the scheduler")
        if not self._scheduler.running:
            return Liveness(STALLED, since, "the scheduler is not running")
        in_tick = started is not None and (ended is None or started > ended)
        # A tick may run long while it opens the pipeline (a first build of the detection state, or after an outage).
        loading = in_tick and (self._stale or self._reconfigure or self._poller is None)
        quiet = now - (started if in_tick or ended is None else ended)
        if not loading and quiet > 3 * self.config.polling.dispatch_seconds + 30:
            return Liveness(STALLED, since, f"no dispatch tick completed for {quiet:.0f} s")
        if loading and quiet > LOAD_GRACE_SECONDS:
            return Liveness(STALLED, since, f"opening the pipeline for {quiet:.0f} s")
        if not self._polling.is_set():
            return Liveness(STARTING, since, "opening the pipeline" if loading else "waiting for the database")
        return Liveness(LOADING if loading else POLLING, since)

    def _start_http(self: Daemon) -> None:
        address = self.config.http.address
        if address is None or self._ops is not None:
            return
        if address[1] and self._http_port_offset:
            address = (address[0], address[1] + self._http_port_offset)  # `run --workers N`: worker i on PORT+i
        http = self.config.http
        health = HealthCheck(self.liveness, self.config.database.url, http.health_timeout_seconds, http.health_cache_seconds)
        try:
            self._ops = OpsServer(address[0], address[1], METRICS, health)
        except Exception:
            health.close()
            raise
        METRICS.watch(self.liveness, health.gauges)
        self._ops.start()

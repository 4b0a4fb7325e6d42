"""The daemon's config reload on SIGHUP: new feeds start, removed ones stop, a bad file is refused.

A mixin of `tracker.daemon.scheduler.Daemon`. The database, detection, http and pages settings
change only on restart; the rest takes effect at the next tick.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from tracker.config import load_config
from tracker.daemon.dispatch import DISPATCH
from tracker.errors import ConfigError
from tracker.logs import fields

if TYPE_CHECKING:
    from tracker.daemon.scheduler import Daemon

log = logging.getLogger("tracker.daemon.scheduler")  # the daemon's one logger


class ReloadMixin:
    """`Daemon.reload`: re-read the config file, keep the old one if the new one is invalid."""

    def reload(self: Daemon) -> None:
        """Re-read the config file; keep the old one if the new one is invalid."""
        self._systemd.reloading()
        try:
            self._reload()
        finally:
            self._systemd.ready(f"polling {len(self.config.feeds)} feeds")

    def _reload(self: Daemon) -> None:
        try:
            config = load_config(self.config_path)
            config.feeds  # noqa: B018  (the OPML files are read now: a bad one is refused here, not mid-poll)
        except ConfigError as error:
            log.error("config refused, keeping the old one", extra=fields(error=str(error)))
            return
        old = self.config
        if config.database.url != old.database.url or config.detection != old.detection:
            log.warning("database and detection settings change only on restart; keeping the running ones")
            config = config.model_copy(update={"database": old.database, "detection": old.detection})
        if config.http != old.http:
            log.warning("http settings change only on restart; keeping the running ones")
            config = config.model_copy(update={"http": old.http})
        if config.pages != old.pages:
            log.warning("pages settings change only on restart; keeping the running ones")
            config = config.model_copy(update={"pages": old.pages})
        self.config = config
        self._delivery.configure(config)
        log.info("config reloaded", extra=fields(feeds=len(config.feeds)))
        if config.polling.dispatch_seconds != old.polling.dispatch_seconds and self._scheduler.running:
            self._scheduler.reschedule_job(DISPATCH, trigger="interval", seconds=config.polling.dispatch_seconds)
        if config.polling.fetch_threads != old.polling.fetch_threads:
            previous, self._workers = self._workers, ThreadPoolExecutor(config.polling.fetch_threads, thread_name_prefix="poll")
            previous.shutdown(wait=False)
        # The next tick rebuilds the poller with the new settings and feed list.
        self._reconfigure = True

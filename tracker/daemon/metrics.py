"""The daemon's Prometheus metrics (prometheus-client lives here, in its own registry).

Counters are counted by this process as things happen (polls, database errors, alert
deliveries); gauges about what is stored (feeds by state, items, republications,
ingest lag) are read from the database when scraped, through the health check's
bounded, cached probe, so a scrape never waits long on a sick database.

Other parts of the tracker count through the small functions at the bottom
(`record_alert_delivery`, `record_database_error`), which need no handle on the daemon.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import Collector

from tracker import __version__
from tracker.daemon.health import Answer, Liveness
from tracker.daemon.pagefetch import PAGE_OUTCOMES, PageOutcome
from tracker.daemon.poll import PollOutcome
from tracker.logs import fields
from tracker.model import utcnow
from tracker.reader.fetch import ERROR_KINDS
from tracker.store.gauges import DatabaseGauges

log = logging.getLogger(__name__)

# `*_created` series double the output and no dashboard reads them.
disable_created_metrics()

# Outcomes of a poll, besides the fetch error kinds: a 200 that was stored, a 304, a body
# that is not a feed, and a poll that raised (the pipeline is opened again).
POLL_OUTCOMES = ("ok", "not_modified", "parse", *ERROR_KINDS, "crashed")
DATABASE_OPERATIONS = ("load", "dispatch", "poll", "busy")
# Polls take from milliseconds (a 304 nearby) to the total timeout (60 s by default).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


def poll_outcome(outcome: PollOutcome) -> str:
    """The `outcome` label of one poll."""
    if outcome.error_kind:
        return outcome.error_kind
    return "not_modified" if outcome.not_modified else "ok"


class Metrics:
    """Every metric of the daemon, in one registry of its own (never prometheus-client's global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("tracker_polls", "Feed polls by outcome: ok, not_modified, or what went wrong.", ["outcome"], registry=r)
        for outcome in POLL_OUTCOMES:
            self.polls.labels(outcome)  # exported at 0 from the start, so rate() sees the first one
        self.poll_duration = Histogram(
            "tracker_poll_duration_seconds", "Time to fetch one feed (connect to last byte).", buckets=DURATION_BUCKETS, registry=r,
        )
        self.pages = Counter(
            "tracker_page_fetches", "Article page requests by outcome: ok, not_modified, robots_disallowed, store, or a fetch error.",
            ["outcome"], registry=r,
        )
        for outcome in (*PAGE_OUTCOMES, *ERROR_KINDS):
            if outcome != "unwanted_type":  # a page's is counted as not_html
                self.pages.labels(outcome)
        self.page_duration = Histogram(
            "tracker_page_fetch_duration_seconds", "Time to fetch one article page.", buckets=DURATION_BUCKETS, registry=r,
        )
        self.new_items = Counter("tracker_new_items", "Items first seen by this daemon's polls.", registry=r)
        self.republications_found = Counter(
            "tracker_republications_found", "Republications found by this daemon's polls.", registry=r,
        )
        self.database_errors = Counter(
            "tracker_database_errors", "Database failures while loading, dispatching or storing a poll.", ["operation"], registry=r,
        )
        for operation in DATABASE_OPERATIONS:
            self.database_errors.labels(operation)
        self.alert_deliveries = Counter(
            "tracker_alert_deliveries", "Alerts handed to a channel, by channel and outcome (delivered, failed).",
            ["channel", "outcome"], registry=r,
        )
        Info("tracker_build", "The tracker's version.", registry=r).info({"version": __version__})
        self._watched = False
        self._lock = threading.Lock()

    def observe_poll(self, outcome: PollOutcome) -> None:
        """Count one finished poll: its outcome, duration, and what it found."""
        self.polls.labels(poll_outcome(outcome)).inc()
        self.poll_duration.observe(outcome.duration_s)
        self.new_items.inc(outcome.report.new_items)
        self.republications_found.inc(outcome.report.republications)

    def observe_page(self, outcome: PageOutcome) -> None:
        """Count one finished page request: its outcome and, when it reached the site, its duration."""
        self.pages.labels(outcome.outcome).inc()
        if outcome.outcome != "robots_disallowed":
            self.page_duration.observe(outcome.duration_s)

    def watch(self, liveness: Callable[[], Liveness], gauges: Callable[[], Answer[DatabaseGauges]]) -> None:
        """Export the scheduler's liveness and the database's gauges, read at each scrape."""
        with self._lock:
            if not self._watched:
                self.registry.register(_StateCollector(liveness, gauges))
                self._watched = True

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """An http.server handler class serving this registry (gzip and OpenMetrics when asked)."""
        return MetricsHandler.factory(self.registry)


class _StateCollector(Collector):
    """Gauges computed at scrape time from the daemon's state and the database."""

    def __init__(self, liveness: Callable[[], Liveness], gauges: Callable[[], Answer[DatabaseGauges]]) -> None:
        self.liveness = liveness
        self.gauges = gauges
        self._failing = False

    def describe(self) -> list[Metric]:
        # Nothing to describe up front: collect() would query the database at registration.
        return []

    def collect(self) -> Iterator[Metric]:
        live = self.liveness()
        yield GaugeMetricFamily("tracker_scheduler_up", "1 while the dispatch loop is polling (or opening its pipeline again).",
                                value=1 if live.serving else 0)
        if live.last_dispatch_s is not None:
            yield GaugeMetricFamily("tracker_last_dispatch_age_seconds", "Seconds since the dispatch loop last completed a tick.",
                                    value=live.last_dispatch_s)
        answer = self.gauges()
        yield GaugeMetricFamily("tracker_database_up", "1 when the database answered the last metrics query.",
                                value=0 if answer.value is None else 1)
        stored = answer.value
        if (stored is None) != self._failing:  # log changes only: scrapes come every few seconds
            self._failing = stored is None
            if stored is None:
                log.warning("metrics: cannot read the database gauges", extra=fields(error=answer.error))
            else:
                log.info("metrics: database gauges readable again")
        if stored is None:
            return  # absent rather than stale: alert on tracker_database_up
        feeds = GaugeMetricFamily("tracker_feeds", "Feeds by state: gone (410), failing (errors in a row), moved, active, "
                                  "inactive (not configured), archived (only in archives).", labels=["state"])
        for state, count in stored.feeds.items():
            feeds.add_metric([state], count)
        yield feeds
        yield GaugeMetricFamily("tracker_items", "Items stored.", value=stored.items)
        pages = GaugeMetricFamily("tracker_item_pages", "Items by article page state: wanted, used, not_used, failed (retried), gone.",
                                  labels=["state"])
        for state, count in stored.pages.items():
            pages.add_metric([state], count)
        yield pages
        yield GaugeMetricFamily("tracker_republications", "Republications stored (copy → parent edges).", value=stored.republications)
        now = utcnow()
        if stored.newest_capture_at is not None:
            yield GaugeMetricFamily("tracker_newest_capture_age_seconds", "Ingest lag: age of the newest capture of any feed.",
                                    value=max(0.0, (now - stored.newest_capture_at).total_seconds()))
        if stored.last_success_at is not None:
            yield GaugeMetricFamily("tracker_last_successful_poll_age_seconds", "Seconds since a feed was last polled successfully.",
                                    value=max(0.0, (now - stored.last_success_at).total_seconds()))


# The process's metrics: a daemon runs once per process, and alerting counts deliveries here.
METRICS = Metrics()


def record_alert_delivery(channel: str, delivered: bool) -> None:
    """Count one alert handed to `channel` (e.g. "webhook", "email"), delivered or failed."""
    METRICS.alert_deliveries.labels(channel, "delivered" if delivered else "failed").inc()


def record_database_error(operation: str) -> None:
    """Count one database failure during `operation` ("load", "dispatch" or "poll"), or
    "busy": a write that gave up waiting for another process's write lock (SQLite)."""
    METRICS.database_errors.labels(operation).inc()

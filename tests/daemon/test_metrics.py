"""The daemon's Prometheus metrics, as a scraper reads them (parsed with prometheus_client.parser)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tracker.daemon.health import Answer, Liveness
from tracker.daemon.metrics import METRICS, Metrics, record_alert_delivery, record_database_error
from tracker.model import IngestReport, utcnow
from tracker.daemon.poll import PollOutcome
from tracker.store.gauges import DatabaseGauges


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) → value."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def outcome(status: int | None = 200, error: str | None = None, not_modified: bool = False, seconds: float = 0.3,
            new: int = 0, copies: int = 0) -> PollOutcome:
    report = IngestReport(captures=1, new_items=new, republications=copies)
    return PollOutcome(1, "http://feed.example/rss", status, error, error and "it broke", report, None, seconds, 100, not_modified)


def test_polls_are_counted_by_outcome_with_their_durations_and_findings() -> None:
    metrics = Metrics()
    before = samples(metrics)
    assert before[("tracker_polls_total", (("outcome", "ok"),))] == 0  # exported before the first poll
    metrics.observe_poll(outcome(new=3, copies=1, seconds=0.2))
    metrics.observe_poll(outcome(200, new=1, seconds=0.7))
    metrics.observe_poll(outcome(304, not_modified=True, seconds=0.04))
    metrics.observe_poll(outcome(500, error="http_status", seconds=1.5))
    metrics.observe_poll(outcome(None, error="timeout", seconds=30.0))
    after = samples(metrics)
    polls = {labels[0][1]: value for (name, labels), value in after.items() if name == "tracker_polls_total"}
    assert {k: v for k, v in polls.items() if v} == {"ok": 2, "not_modified": 1, "http_status": 1, "timeout": 1}
    assert after[("tracker_poll_duration_seconds_count", ())] == 5
    assert abs(after[("tracker_poll_duration_seconds_sum", ())] - 32.44) < 1e-9
    assert after[("tracker_poll_duration_seconds_bucket", (("le", "0.05"),))] == 1
    assert after[("tracker_poll_duration_seconds_bucket", (("le", "1.0"),))] == 3
    assert after[("tracker_new_items_total", ())] == 4
    assert after[("tracker_republications_found_total", ())] == 1
    assert after[("tracker_build_info", (("version", "0.1.0"),))] == 1


def test_the_registry_is_its_own_not_the_global_default() -> None:
    METRICS.observe_poll(outcome())
    assert "tracker_polls" not in generate_latest(REGISTRY).decode()


def test_alert_deliveries_and_database_errors_are_counted_by_the_module_functions() -> None:
    before = samples(METRICS)
    record_alert_delivery("webhook", delivered=True)
    record_alert_delivery("webhook", delivered=True)
    record_alert_delivery("email", delivered=False)
    record_database_error("poll")
    after = samples(METRICS)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert moved("tracker_alert_deliveries_total", channel="webhook", outcome="delivered") == 2
    assert moved("tracker_alert_deliveries_total", channel="email", outcome="failed") == 1
    assert moved("tracker_database_errors_total", operation="poll") == 1
    assert moved("tracker_database_errors_total", operation="dispatch") == 0


def test_database_gauges_are_read_at_scrape_time() -> None:
    metrics = Metrics()
    now = utcnow()
    stored = DatabaseGauges({"active": 5, "failing": 2, "gone": 1, "inactive": 0}, 120, 17,
                            now - timedelta(seconds=90), now - timedelta(seconds=600))
    metrics.watch(lambda: Liveness("polling", 1.5), lambda: Answer(stored, None, 0.0))
    got = samples(metrics)
    assert got[("tracker_scheduler_up", ())] == 1 and got[("tracker_database_up", ())] == 1
    assert got[("tracker_last_dispatch_age_seconds", ())] == 1.5
    feeds = {labels[0][1]: value for (name, labels), value in got.items() if name == "tracker_feeds"}
    assert feeds == {"active": 5, "failing": 2, "gone": 1, "inactive": 0}
    assert got[("tracker_items", ())] == 120 and got[("tracker_republications", ())] == 17
    assert 89 <= got[("tracker_newest_capture_age_seconds", ())] < 100
    assert 599 <= got[("tracker_last_successful_poll_age_seconds", ())] < 610


def test_database_gauges_are_absent_not_stale_when_the_database_is_down() -> None:
    metrics = Metrics()
    metrics.watch(lambda: Liveness("stalled", 80.0, "stuck"), lambda: Answer(None, "OperationalError: refused", 0.0))
    got = samples(metrics)
    assert got[("tracker_database_up", ())] == 0 and got[("tracker_scheduler_up", ())] == 0
    names = {name for name, _ in got}
    assert not names & {"tracker_items", "tracker_feeds", "tracker_republications", "tracker_newest_capture_age_seconds"}

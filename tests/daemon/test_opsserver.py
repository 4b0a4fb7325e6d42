"""`[http] listen`: a real `tracker run` serving /metrics and /healthz, scraped like Prometheus would.

The daemon runs as a subprocess (as in test_scheduler) with the endpoints on a port the
kernel picks (`127.0.0.1:0`), which it logs; the test scrapes `/metrics`, parses it with
prometheus_client's own parser, and cuts the database link with a TCP proxy to see
`/healthz` turn 503 and come back.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.builders import T0, Item, article, rss
from tests.feedserver import FeedServer, GrowingFeed, Publisher, TcpProxy, wait_until
from tests.daemon.test_scheduler import STARTUP, TRACKER, DaemonProcess, _env, daemons, server, write_config  # noqa: F401  (fixtures)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def write_http_config(path: Path, db_url: str, feeds: Sequence[GrowingFeed | tuple[str, str]], listen: str = "127.0.0.1:0") -> Path:
    """A daemon config (test_scheduler's quick polling) with the endpoints on."""
    write_config(path, db_url, feeds)
    with path.open("a") as out:
        out.write(f'\n[http]\nlisten = "{listen}"\nhealth_timeout_seconds = 1.0\nhealth_cache_seconds = 0.2\n')
    return path


def port_of(daemon: DaemonProcess) -> int:
    return int(daemon.wait_logged("http listening", timeout=STARTUP)[0]["port"])


def get(port: int, path: str, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def scrape(port: int) -> Samples:
    status, text, headers = get(port, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain"), (status, headers)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def polls(samples: Samples) -> dict[str, float]:
    return {labels[0][1]: v for (name, labels), v in samples.items() if name == "tracker_polls_total" and v}


def health(port: int) -> tuple[int, dict[str, Any]]:
    status, text, headers = get(port, "/healthz")
    assert headers["Content-Type"].startswith("application/json")
    return status, json.loads(text)


def test_metrics_move_as_the_daemon_polls(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], sqlite_url: str,
) -> None:
    growing = server.growing_feed("/growing.xml", "Growing", seed=31, initial=2)
    fixed = [Item("Fixed story", f"{server.base}/fixed/1.html", article(32), T0, guid="fixed-1")]
    server.feed("/fixed.xml", rss("Fixed", server.base + "/", fixed))  # ETag: 304 after the first poll
    server.status("/broken.xml", 500)
    daemon = daemons(write_http_config(
        tmp_path / "tracker.toml", sqlite_url,
        [growing, (server.url("/fixed.xml"), "Fixed"), (server.url("/broken.xml"), "Broken")],
    ))
    port = port_of(daemon)

    first = wait_until(lambda: (s := scrape(port)) and {"ok", "not_modified", "http_status"} <= polls(s).keys()
                       and value(s, "tracker_feeds", state="failing") == 1
                       # the database gauges are cached for health_cache_seconds: they may trail the counters
                       and value(s, "tracker_items") == 3 and s,
                       STARTUP, "an ok, a 304 and a failed poll counted", details=daemon.tail)
    assert isinstance(first, dict)
    assert value(first, "tracker_new_items_total") == 3  # two growing items and the fixed one
    assert value(first, "tracker_items") == 3
    assert value(first, "tracker_poll_duration_seconds_count") == sum(polls(first).values())
    assert value(first, "tracker_feeds", state="failing") == 1
    assert value(first, "tracker_feeds", state="active") == 2
    assert value(first, "tracker_database_up") == 1 and value(first, "tracker_scheduler_up") == 1
    assert 0 <= value(first, "tracker_newest_capture_age_seconds") < 30
    assert 0 <= value(first, "tracker_last_successful_poll_age_seconds") < 30
    assert value(first, "tracker_database_errors_total", operation="poll") == 0

    growing.publish(2)
    # The counter moves as the poll is stored; the gauge within health_cache_seconds of it.
    later = wait_until(lambda: (s := scrape(port)) and value(s, "tracker_new_items_total") == 5
                       and value(s, "tracker_items") == 5 and s, 10, "the two new items counted and stored", details=daemon.tail)
    assert isinstance(later, dict)
    assert polls(later)["ok"] > polls(first)["ok"]
    assert value(later, "tracker_poll_duration_seconds_count") > value(first, "tracker_poll_duration_seconds_count")

    status, body = health(port)
    assert status == 200 and body["status"] == "ok" and body["scheduler"] == "polling" and body["database"] == "ok", body
    assert get(port, "/healthz", method="HEAD")[0] == 200
    assert get(port, "/nope")[0] == 404

    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0, daemon.tail()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # the endpoints stop with the daemon
    assert not [line for line in daemon.lines if "GET /" in line], "requests must not be logged"


@pytest.mark.postgres
def test_healthz_turns_503_while_the_database_is_unreachable_and_200_after(
    tmp_path: Path, pg_url: str, server: FeedServer, daemons: Callable[[Path], DaemonProcess],
) -> None:
    real = sa.engine.make_url(pg_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    try:
        proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        feed = server.growing_feed("/busy.xml", "Busy", seed=33, initial=1)
        daemon = daemons(write_http_config(tmp_path / "tracker.toml", proxied, [feed]))
        port = port_of(daemon)
        publisher = Publisher([feed], every=0.5).start()
        try:
            wait_until(lambda: health(port)[0] == 200, STARTUP, "/healthz 200", details=daemon.tail)
            before = wait_until(lambda: (s := scrape(port)) and value(s, "tracker_items") >= 1 and s, STARTUP,
                                "the first items stored", details=daemon.tail)
            assert isinstance(before, dict)

            proxy.cut()
            status, body = wait_until(lambda: (h := health(port))[0] == 503 and h, 5, "/healthz 503", details=daemon.tail)  # type: ignore[misc]
            assert body["status"] == "unavailable" and body["database"] == "error", body
            assert any(reason.startswith("database: ") for reason in body["reasons"]), body
            during = wait_until(lambda: (s := scrape(port)) and value(s, "tracker_database_up") == 0 and s, 5,
                                "tracker_database_up 0", details=daemon.tail)
            assert isinstance(during, dict)
            assert "tracker_items" not in {name for name, _ in during}  # absent, not stale
            wait_until(lambda: sum(v for (n, _), v in scrape(port).items() if n == "tracker_database_errors_total")
                       > sum(v for (n, _), v in before.items() if n == "tracker_database_errors_total"),
                       5, "database errors counted", details=daemon.tail)
            assert daemon.alive()

            proxy.restore()
            status, body = wait_until(lambda: (h := health(port))[0] == 200 and h, 15, "/healthz 200 again", details=daemon.tail)  # type: ignore[misc]
            assert body["status"] == "ok" and body["database"] == "ok", body
            wait_until(lambda: (s := scrape(port)) and value(s, "tracker_database_up") == 1
                       and value(s, "tracker_items") > value(before, "tracker_items"), 15,
                       "the database gauges back, with items stored after the outage", details=daemon.tail)
        finally:
            publisher.stop()
        daemon.send(signal.SIGTERM)
        assert daemon.wait_exit(10) == 0, daemon.tail()
    finally:
        proxy.close()


def test_a_port_in_use_is_one_clear_error_and_exit_2(tmp_path: Path, sqlite_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = write_http_config(tmp_path / "tracker.toml", sqlite_url, [], listen=f"127.0.0.1:{port}")
        result = subprocess.run([TRACKER, "--config", str(config), "run"], cwd=tmp_path, env=_env(),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tracker: error:")]
    assert errors == [f"tracker: error: http.listen: cannot listen on 127.0.0.1:{port}: Address already in use"], result.stderr
    assert "Traceback" not in result.stderr

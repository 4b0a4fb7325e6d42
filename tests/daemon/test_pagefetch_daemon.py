"""The daemon fetching article pages live: a farm of summary-only feeds whose pages are
fine, slow, missing, hanging, huge, not HTML, redirecting to a private address or
disallowed by robots.txt. Every item is stored, every good page fetched once and then
only asked again conditionally (304), every failure recorded on its item as data."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from tests.feedserver import OnePublicPort
from bench.pagefarm import PAGE_KINDS, PageFarm, PageFarmConfig
from tracker.config import parse_config
from tracker.daemon.metrics import METRICS
from tracker.daemon.pagefetch import PageOutcome
from tracker.daemon.scheduler import Daemon
from tracker.answers.status import status_report
from tracker.store.database import open_database
from tracker.store.gauges import read_gauges


@pytest.fixture
def farm() -> Iterator[PageFarm]:
    farm = PageFarm(PageFarmConfig(feeds=2, items=len(PAGE_KINDS), cycle=PAGE_KINDS, slow_seconds=0.3)).start()
    yield farm
    farm.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def rows(url: str, query: str) -> list[sa.Row]:  # type: ignore[type-arg]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query)))
    except sa.exc.OperationalError:
        return []  # the schema is not there yet
    finally:
        engine.dispose()


def test_the_daemon_fetches_pages_once_then_conditionally_and_records_failures(farm: PageFarm, sqlite_url: str) -> None:
    config = parse_config({
        "database": {"url": sqlite_url},
        # Farm 1 says robots = false: its page under /private/ is fetched all the same.
        "feeds": [{"url": url, "publisher": f"Farm {n}", "robots": n == 0} for n, url in enumerate(farm.feed_urls())],
        "polling": {"dispatch_seconds": 0.2, "default_interval_seconds": 1, "min_interval_seconds": 1,
                    "connect_timeout": 1.0, "read_timeout": 1.0, "total_timeout": 1.5, "allow_private_addresses": True},
        # A second visit a few seconds after the first; no rest between one host's requests here.
        "pages": {"host_delay_seconds": 0.0, "revisit_hours": 2 / 3600, "refill_seconds": 0.2, "workers": 3},
    })
    outcomes: list[PageOutcome] = []
    daemon = Daemon(config, page_guard=OnePublicPort(farm.port))
    daemon.on_page = outcomes.append
    pages = farm.pages()
    exempt = f"/private/1/{PAGE_KINDS.index('robots')}.html"
    good = [path for path, kind in pages.items() if kind in ("ok", "slow") or path == exempt]
    daemon.start()
    try:
        wait_until(lambda: all(farm.not_modified[path] >= 1 for path in good), 60, "a 304 for every good page")
        wait_until(lambda: len(rows(sqlite_url, "SELECT 1 FROM item_pages WHERE error_kind IS NOT NULL")) == len(pages) - len(good),
                   30, "every bad page's failure recorded")
    finally:
        daemon.shutdown()
    assert len(rows(sqlite_url, "SELECT id FROM items")) == len(pages)  # every item stored
    for path in good:  # one full fetch each, then only 304s
        assert farm.counts[path] - farm.not_modified[path] == 1, path
    state = {r.url.removeprefix(farm.base): (r.state, r.error_kind) for r in rows(
        sqlite_url, "SELECT i.url, p.state, p.error_kind FROM item_pages p JOIN items i ON i.id = p.item_id")}
    expected = {"ok": ("used", None), "slow": ("used", None), "missing": ("failed", "http_status"),  # a 404 is tried again (it may be early)
                "hanging": ("failed", "timeout"), "huge": ("gone", "too_large"), "not_html": ("gone", "not_html"),
                "private_redirect": ("gone", "blocked_address"), "robots": ("failed", "robots")}
    assert state == {path: ("used", None) if path == exempt else expected[kind] for path, kind in pages.items()}
    assert farm.counts["/robots.txt"] == 1  # asked once for the whole site
    assert farm.counts[exempt.replace("/1/", "/0/")] == 0  # Farm 0's: disallowed, never requested
    # Every page's text stands for its summary-only item: a version from the page.
    assert len(rows(sqlite_url, "SELECT 1 FROM item_versions WHERE from_page")) == len(good)
    seen = {o.outcome for o in outcomes}
    assert {"ok", "not_modified", "robots", "not_html", "too_large", "blocked_address", "timeout", "http_status"} <= seen
    assert METRICS.pages.labels("not_modified")._value.get() >= len(good)
    # What an operator sees: `tracker status` and the /metrics gauges.
    text = status_report(config, require_daemon=False).text
    assert ("pages: 0 wanted, 5 used, 0 not used, 5 failing, 6 given up "
            "(2 blocked_address, 2 http_status, 2 not_html, 2 timeout, 2 too_large, 1 robots)") in text
    with open_database(sqlite_url)() as session:
        assert read_gauges(session).pages == {"wanted": 0, "used": 5, "not_used": 0, "failed": 5, "gone": 6}


def test_tracker_poll_fetches_the_pages_of_summary_only_items_for_cron_users(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`tracker poll` from cron, no daemon: the summary-only items it stores get their pages
    in the same run (robots.txt asked once), so their text is the article, as under `run`."""
    from click.testing import CliRunner

    from tracker.cli import main

    farm = PageFarm(PageFarmConfig(feeds=2, items=3, cycle=("ok", "slow", "missing"), slow_seconds=0.1)).start()
    try:
        db = f"sqlite:///{tmp_path / 'cron.sqlite3'}"
        feeds = "".join(f'[[feeds]]\nurl = "{url}"\npublisher = "Farm {n}"\n\n' for n, url in enumerate(farm.feed_urls()))
        config = tmp_path / "tracker.toml"
        config.write_text(f'[database]\nurl = "{db}"\n\n[polling]\nallow_private_addresses = true\n\n'
                          f'[pages]\nhost_delay_seconds = 0.0\n\n{feeds}')
        result = CliRunner().invoke(main, ["--config", str(config), "poll", "--all"])
        assert result.exit_code == 0, result.output
        assert "2 feeds polled (0 unchanged, 0 failed), 6 new items, 6 pages fetched (4 used as item text)" in result.output
        assert len(rows(db, "SELECT 1 FROM item_versions WHERE from_page")) == 4
        assert {r.state for r in rows(db, "SELECT state FROM item_pages")} == {"used", "failed"}
        assert farm.counts["/robots.txt"] == 1
        again = CliRunner().invoke(main, ["--config", str(config), "poll", "--all", "--pages-seconds", "0"])
        assert "pages fetched" not in again.output and farm.counts["/robots.txt"] == 1  # --pages-seconds 0: none
    finally:
        farm.close()

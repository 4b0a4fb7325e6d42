"""The HTML report opened in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright is pointed at the system Chromium (`/usr/bin/chromium`); it never downloads a
browser of its own. The test skips when Chromium, Playwright or Graphviz's dot is absent,
unless TRACKER_REQUIRE_SERVICES=1 (CI), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.story_world import EVIL_TITLE, PUBLISHERS, build_world
from tracker.answers.report import write_report
from tracker.store.database import open_database

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _chromium() -> str:
    path = os.environ.get("TRACKER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    missing = None
    if path is None:
        missing = "Chromium is not installed (apt-get install chromium)"
    elif shutil.which("dot") is None:
        missing = "Graphviz's dot is not installed (apt-get install graphviz)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Playwright is not installed (pip install -e '.[test]')"
    if missing:
        if os.environ.get("TRACKER_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{missing}, and TRACKER_REQUIRE_SERVICES=1")
        pytest.skip(missing)
    return path  # type: ignore[return-value]


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'world.sqlite3'}"
    build_world(url)
    return write_report(open_database(url), tmp_path / "report").path


def test_report_renders_in_chromium_without_errors_and_runs_nothing(report_file: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        # A fresh profile for this test only; the flags are those a root CI machine needs.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 900}, java_script_enabled=True,
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_file.as_uri(), wait_until="load")
            page.wait_for_timeout(300)  # let a late onerror handler fire, if one had slipped through

            assert console == [] and page_errors == []
            assert requests == [report_file.as_uri()]  # nothing fetched: no images, fonts, scripts
            # The hostile title is shown as text, and nothing in it ran.
            assert page.evaluate("typeof window.pwned") == "undefined"
            assert page.evaluate("document.scripts.length") == 0
            assert page.locator("img").count() == 0
            titles = page.locator("article.story h3").all_inner_texts()
            assert EVIL_TITLE in titles
            assert page.get_by_text("<script>window.pwned=1</script>", exact=False).first.is_visible()

            # Every story is drawn, naming every publisher of the chain.
            chains = page.locator("figure.chain svg")
            assert chains.count() == 2
            drawn = chains.first.text_content() or ""
            assert all(p in drawn for p in PUBLISHERS)
            assert chains.first.bounding_box()["width"] > 300  # type: ignore[index]

            # The matrix is a visible, shaded table of counts.
            matrix = page.locator("#matrix table.heatmap")
            assert matrix.is_visible()
            assert matrix.locator("tbody tr").count() == 3
            cell = matrix.locator("td.h8")
            assert cell.inner_text() == "2"
            assert cell.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(194, 65, 12)"

            # The delay plot is there and has a size, with one dot per copy.
            plot = page.locator("#delays figure.plot svg")
            box = plot.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            assert "ru24.pro (2)" in (plot.text_content() or "")
            assert page.locator("#publishers tbody tr").count() == 4

            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert (tmp_path / "report.png").stat().st_size > 10_000
        finally:
            context.close()

"""`tracker demo` as a new user runs it: the chains appear within its run."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from tests.test_sample import ingest_sample
from tracker.demo.live import copy_lines, run_demo
from tracker.store import views
from tracker.store.database import open_database


def test_demo_shows_the_khaama_press_to_ru24_chain_within_its_run(tmp_path: Path) -> None:
    lines: list[str] = []
    database = tmp_path / "demo.sqlite3"
    # Three seconds a step keeps the polls (every 2 s) inside each step even on a loaded
    # machine, as in a real network where feeds are polled far more often than they change.
    found = run_demo(seconds_per_step=3.0, echo=lines.append, keep=database)
    output = "\n".join(lines)
    assert "ru24.pro ← Khaama Press" in output
    assert "Headline Digest ← Khaama Press" in output
    assert "Chain: Mirror of Mirrors ← ru24.pro ← Khaama Press" in output
    assert "disproves that" in output  # the backdated ru24 copy is called out
    # The summary-only original's article page, fetched live, credits the scraper's copy to it.
    scraped = [line for line in lines if line.startswith("[") and "NewsHub24 ← " in line]
    assert len(scraped) == 1 and "NewsHub24 ← Hindu Kush Herald: \u201cKandahar Pomegranate" in scraped[0]
    assert scraped[0].endswith("matched on Hindu Kush Herald's article page)")
    assert "Chain: NewsHub24 ← Hindu Kush Herald" in output
    assert found >= 16
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        wrong = conn.execute(sa.text(
            "SELECT COUNT(*) FROM republications WHERE copy_publisher = 'ru24.pro' AND parent_publisher <> 'Khaama Press'"
        )).scalar_one()
        market = conn.execute(sa.text(
            "SELECT relation FROM item_provenance WHERE publisher = 'Kabul Market Watch'"
        )).scalar_one()
        herald = conn.execute(sa.text(
            "SELECT o.publisher, r.evidence FROM republications r JOIN item_provenance o ON o.item_id = r.original_item_id "
            "WHERE r.copy_publisher = 'NewsHub24'"
        )).one()
    engine.dispose()
    assert wrong == 0
    assert market == "original"  # same title as a Khaama Press story, different text: not merged
    assert herald.publisher == "Hindu Kush Herald"
    assert json.loads(herald.evidence)["parent"]["from_page"] == ["parent"]


def test_demo_lines_say_which_page_a_match_was_made_on_and_when_a_date_was_disproved(tmp_path: Path) -> None:
    # The demo's printing, on the sample (the same network, archived): read from the evidence.
    url = f"sqlite:///{tmp_path / 'sample.sqlite3'}"
    ingest_sample(url)
    sessions = open_database(url)
    with sessions() as session:
        scrape = views.item_by_url(session, "https://newshub24.example/news/kandahar-pomegranate-growers-open-first-shared-cold-store/")
        backdated = views.item_by_url(session, "https://ru24.example/39293-herat-launches-enrolment-drive-to-bring-children-back-to-primary-school.html")
        plain = views.item_by_url(session, "https://mirror-of-mirrors.example/p/7100/")
        lines = copy_lines(session, [scrape["item_id"], backdated["item_id"], plain["item_id"]])
    assert lines[0] == (
        "NewsHub24 ← Hindu Kush Herald: \u201cKandahar Pomegranate Growers Open First Shared Cold Store\u201d "
        "(copy, similarity 1.00, 20m after it, matched on Hindu Kush Herald's article page)", [])
    assert lines[1][0].startswith("ru24.pro ← Khaama Press: \u201cHerat Launches") and "article page" not in lines[1][0]
    assert lines[1][1] == ["its feed claims it was published before the original; an earlier capture without it disproves that"]
    assert lines[2][0].startswith("Mirror of Mirrors ← ru24.pro: ") and "article page" not in lines[2][0] and lines[2][1] == []


def test_ctrl_c_stops_the_demo_shows_what_it_found_and_exits_130(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "tracker", "demo", "--seconds-per-step", "2", "--database", str(tmp_path / "demo.sqlite3")]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # the demo is running once it has said what it polls
        assert first.startswith("tracker demo:"), first
        time.sleep(1)
        child.send_signal(signal.SIGINT)
        rest, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, (rest, err)
    assert "found. Query the database yourself" in rest  # what was found so far is still shown
    assert err.strip().splitlines()[-1] == "tracker: interrupted" and "Traceback" not in err

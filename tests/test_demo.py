"""`tracker demo` as a new user runs it: the chains appear within its run."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tracker.demo import run_demo


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
    assert found >= 15
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        wrong = conn.execute(sa.text(
            "SELECT COUNT(*) FROM republications WHERE copy_publisher = 'ru24.pro' AND parent_publisher <> 'Khaama Press'"
        )).scalar_one()
        market = conn.execute(sa.text(
            "SELECT relation FROM item_provenance WHERE publisher = 'Kabul Market Watch'"
        )).scalar_one()
    engine.dispose()
    assert wrong == 0
    assert market == "original"  # same title as a Khaama Press story, different text: not merged

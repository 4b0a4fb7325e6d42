"""The command line as a user meets it: summaries, one-line errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.builders import article, write_warc
from tests.test_pipeline import FEEDS, MIRROR_URL, ORIGINAL_URL, network
from tracker.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    lines = ["[database]", f'url = "sqlite:///{tmp_path / "db" / "tracker.sqlite3"}"', ""]
    for feed in FEEDS:
        lines += ["[[feeds]]", f'url = "{feed["url"]}"', f'publisher = "{feed["publisher"]}"', ""]
    path = tmp_path / "tracker.toml"
    path.write_text("\n".join(lines))
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_warc_prints_a_summary_and_second_run_changes_nothing(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc.gz", network(article(40, paragraphs=8)))
    code, out, _ = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0
    assert "4 captures (0 already stored), 4 new items, 0 updates, 3 republications found, 0 errors" in out
    code, out, _ = run("--config", str(config_file), "ingest", str(warc))
    assert code == 0 and "0 captures (4 already stored), 0 new items" in out


def test_origin_prints_the_original_and_the_chain(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(41, paragraphs=8)))
    run("--config", str(config_file), "ingest", str(warc))
    code, out, _ = run("--config", str(config_file), "origin", "https://mirrorofmirrors.example/9.html")
    assert code == 0
    assert out.startswith("Original: Khaama Press")
    assert ORIGINAL_URL in out and MIRROR_URL in out
    assert "Chain: Mirror of Mirrors ← ru24.pro ← Khaama Press" in out


def test_stats_counts_per_publisher(tmp_path: Path, config_file: Path) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(42, paragraphs=8)))
    run("--config", str(config_file), "ingest", str(warc))
    code, out, _ = run("--config", str(config_file), "stats")
    assert code == 0
    khaama = next(line for line in out.splitlines() if line.startswith("Khaama Press"))
    assert khaama.split()[2:] == ["1", "1", "0", "3", "3"]  # items, originals, copies made, copied by others, by publishers
    assert "4 feeds, 4 captures, 4 items, 3 republications" in out


def test_config_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[detection]\nmin_jaccard = 3.0\n")
    code, out, err = run("--config", str(bad), "stats")
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "detection.min_jaccard" in err and "tracker: error:" in err


def test_unknown_url_and_missing_file_are_clear_errors(tmp_path: Path, config_file: Path) -> None:
    code, _, err = run("--config", str(config_file), "origin", "https://nowhere.example/x")
    assert code == 2 and "no item with URL https://nowhere.example/x" in err
    code, _, err = run("--config", str(config_file), "ingest", str(tmp_path / "missing.warc.gz"))
    assert code == 2 and "no such file" in err
    code, _, err = run("--config", str(config_file), "ingest", str(tmp_path / "tracker.toml"))
    assert code == 2 and "needs --url" in err


def test_config_file_chosen_by_environment(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warc = write_warc(tmp_path / "world.warc", network(article(44, paragraphs=8)))
    monkeypatch.setenv("TRACKER_CONFIG", str(config_file))
    run("ingest", str(warc))
    code, out, _ = run("stats")
    assert code == 0 and "4 feeds, 4 captures, 4 items" in out


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*") if p.suffix in (".xml", ".rss", ".atom", ".rdf")))
def test_real_world_feeds_in_many_languages_ingest_without_error(tmp_path: Path, config_file: Path, fixture: str) -> None:
    code, out, err = run(
        "--config", str(config_file), "ingest", "--url", f"https://{fixture}.example/feed",
        "--captured-at", "2025-01-07T10:00:00Z", str(FIXTURES / fixture),
    )
    assert code == 0, err
    assert "1 capture " in out and " 0 errors" in out


def test_a_page_that_is_not_a_feed_is_an_error_and_loses_nothing(tmp_path: Path, config_file: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><html><body><p>Not a feed</p></body></html>")
    warc = write_warc(tmp_path / "world.warc", network(article(43, paragraphs=8)))
    run("--config", str(config_file), "ingest", str(warc))
    code, out, err = run("--config", str(config_file), "ingest", "--url", "https://x.example/feed", str(page))
    assert code == 0 and "1 error" in out and "not a feed" in err
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db' / 'tracker.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM items")).scalar_one() == 4

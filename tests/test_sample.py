"""The sample archive, README's quick start and the example queries of docs/database.md, run exactly as written."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import templates
from tests.builders import T0, article, capture, hours, rss
from tests.conftest import make_pipeline
from tests.markdown_text import blocks, section
from tests.pipeline.test_pipeline import FEEDS, KHAAMA, RU24, khaama_item, mirror_item
from tests.store.test_store import _rows
from tracker.cli import main
from tracker.demo.sample import place, sample_captures, write_sample_archive
from tracker.ingest.archives import ingest_paths
from tracker.reader.archive import write_warc_file

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
# README and the documentation site: examples live in both.
DOCS = "\n".join([README, *(page.read_text(encoding="utf-8") for page in sorted((REPO / "docs").glob("*.md")))])
DATABASE_DOC = (REPO / "docs" / "database.md").read_text(encoding="utf-8")
SAMPLE = REPO / "samples" / "demo-network.warc.gz"


def ingest_sample(url: str) -> None:
    """The shipped sample ingested into the new database at `url` (a copy of the first ingest: tests/templates.py)."""
    templates.built(url, "sample", lambda into: ingest_paths(make_pipeline(into), [SAMPLE], workers=0))




def _in_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in a copy of the repository's samples, as a new user's clone has them."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copytree(REPO / "samples", checkout / "samples")
    monkeypatch.chdir(checkout)
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    return checkout


def test_the_shipped_sample_is_what_the_command_writes(tmp_path: Path) -> None:
    written = tmp_path / "sample.warc.gz"
    summary = write_sample_archive(written)
    assert written.read_bytes() == SAMPLE.read_bytes(), "samples/ is stale: run tracker demo --write-sample samples/demo-network.warc.gz"
    assert (summary.feeds, summary.pages, summary.responses, summary.revisits) == (7, 1, 35, 64)


def test_sample_hosts_are_one_per_publisher() -> None:
    assert place("/ru24/rss") == "https://ru24.example/rss"
    assert place("/mirrors/p/7100/") == "https://mirror-of-mirrors.example/p/7100/"
    with pytest.raises(ValueError):
        place("/elsewhere/")


def test_the_quick_start_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `tracker` command of README's quick start, in a copy of the repository's files."""
    checkout = _in_a_checkout(tmp_path, monkeypatch)
    commands = []
    for block in blocks(section(README, "Quick start"), "sh"):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part)
                if words and words[0].endswith("bin/tracker"):
                    commands.append(words[1:])
    assert [c[2] for c in commands] == ["ingest", "stats", "origin"]
    outputs = []
    for args in commands:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.stdout)
    assert "98 captures (0 already stored), 28 new items, 0 updates, 19 republications found, 0 errors" in outputs[0]
    assert "1 article page: 1 item took a page's text" in outputs[0]
    assert "7 feeds, 98 captures, 28 items, 19 republications" in outputs[1]
    assert "Chain: Mirror of Mirrors ← ru24.pro ← Khaama Press" in outputs[2]
    assert (checkout / "db" / "sample.sqlite3").is_file()  # where README says: the repository's db/, a file of its own
    assert not (checkout / "db" / "tracker.sqlite3").exists()  # config/tracker.toml's database is not touched


def test_readme_queries_answer_on_the_sample(any_db_url: str) -> None:
    ingest_sample(any_db_url)
    queries = blocks(DATABASE_DOC, "sql")
    assert len(queries) == 4
    for query in queries:
        assert _rows(any_db_url, query), query
    chain = [(r["depth"], r["publisher"]) for r in _rows(any_db_url, queries[2])]
    assert sorted(chain) == [(0, "Khaama Press"), (1, "Headline Digest"), (1, "ru24.pro"), (2, "Mirror of Mirrors")]


def test_readme_speed_query_counts_negative_lags_apart(any_db_url: str) -> None:
    # ru24.pro dates its copy two hours before the original it credits: a negative lag.
    story = article(60, paragraphs=8)
    pipeline = make_pipeline(any_db_url, FEEDS)
    pipeline.ingest([
        capture(RU24, T0 + hours(1), rss("ru24.pro", "https://ru24.pro/", [mirror_item(story, published=T0)])),
        capture(KHAAMA, T0 + hours(3), rss("Khaama Press", "https://www.khaama.com/", [khaama_item(story, published=T0 + hours(2))])),
    ])
    assert [r["lag_seconds"] for r in _rows(any_db_url, "SELECT lag_seconds FROM republications")] == [-7200]
    speed = _rows(any_db_url, blocks(DATABASE_DOC, "sql")[1])
    assert len(speed) == 1
    assert speed[0]["dated_before_parent"] == 1 and speed[0]["avg_hours"] is None and speed[0]["fastest_minutes"] is None


def _origin_after_ingest(tmp_path: Path, archive: Path, name: str) -> list[str]:
    """`tracker origin` of NewsHub24's scrape after ingesting `archive` with the sample's config."""
    config = tmp_path / f"{name}.toml"
    config.write_text((REPO / "samples" / "tracker.toml").read_text().replace("../db/sample.sqlite3", f"{name}.sqlite3"))
    assert CliRunner().invoke(main, ["--config", str(config), "ingest", str(archive)]).exit_code == 0
    url = "https://newshub24.example/news/kandahar-pomegranate-growers-open-first-shared-cold-store/"
    result = CliRunner().invoke(main, ["--config", str(config), "origin", url])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_the_scraper_is_credited_to_the_summary_only_original_by_its_archived_page(tmp_path: Path) -> None:
    # The Herald's feed gives a one-sentence standfirst; NewsHub24 republished the article
    # from its page, crediting no one. The sample's capture of that page makes the Herald the origin.
    lines = _origin_after_ingest(tmp_path, SAMPLE, "sample")
    assert lines[0] == "Original: Hindu Kush Herald — Kandahar Pomegranate Growers Open First Shared Cold Store"
    assert "Chain: NewsHub24 ← Hindu Kush Herald" in lines
    here = next(i for i, line in enumerate(lines) if line.endswith("← this article"))
    assert "[copy, similarity 1.00, +20m]" in lines[here]
    assert lines[here + 1].strip() == "(matched on Hindu Kush Herald's article page)"

    # The same captures without the page: the Herald's feed alone links nothing, and the
    # scraper stands as the original.
    without = tmp_path / "without-page.warc.gz"
    write_warc_file(without, [c for c in sample_captures() if not dict(c.headers)["Content-Type"].startswith("text/html")])
    assert _origin_after_ingest(tmp_path, without, "without")[0].startswith("Original: NewsHub24 — ")


def test_origin_explains_a_disproved_claimed_date(tmp_path: Path) -> None:
    # In the sample, ru24.pro labels one copy's UTC time as Moscow time: it claims a date
    # three hours before the original, which its feed's earlier captures disprove.
    config = tmp_path / "tracker.toml"
    config.write_text('[database]\nurl = "sqlite:///tracker.sqlite3"\n')
    assert CliRunner().invoke(main, ["--config", str(config), "ingest", str(SAMPLE)]).exit_code == 0
    url = "https://ru24.example/39293-herat-launches-enrolment-drive-to-bring-children-back-to-primary-school.html"
    result = CliRunner().invoke(main, ["--config", str(config), "origin", url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    here = next(i for i, line in enumerate(lines) if line.endswith("← this article"))
    assert "[copy, similarity 1.00, +14m]" in lines[here]
    assert "its claimed date was disproved: an earlier capture of its feed did not have it" in lines[here + 1]


def test_readme_graph_and_datasette_examples_name_articles_of_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user pastes these after the quick start: every article they name is in the sample."""
    _in_a_checkout(tmp_path, monkeypatch)
    config = ["--config", "samples/tracker.toml"]
    assert CliRunner().invoke(main, [*config, "ingest", "samples/demo-network.warc.gz"]).exit_code == 0
    urls = set(re.findall(r"tracker graph (https://\S+)", DOCS)) | set(re.findall(r"story_chain\?url=(\S+)", DOCS))
    assert len(urls) >= 1
    for url in sorted(urls):
        result = CliRunner().invoke(main, [*config, "graph", url, "--format", "mermaid"])
        assert result.exit_code == 0, (url, result.output)
        assert "Khaama Press" in result.stdout

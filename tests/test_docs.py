"""The documentation: README.md for a newcomer, docs/ (an MkDocs site) for the rest."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tests.cli_reference import reference
from tests.markdown_text import blocks, section
from tracker.cli import main
from tracker.config import load_config

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")




def test_the_site_builds_without_a_broken_link_or_anchor(tmp_path: Path) -> None:
    # mkdocs.yml turns missing pages and anchors into warnings, --strict makes them fatal.
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reference = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "--captured-at" in reference and "--max-failing" in reference  # options of ingest, status
    assert "Sentinel" not in reference  # click 8.3's "no default" marker, which the table style printed


def test_the_command_reference_says_what_the_help_says() -> None:
    # docs/cli.md is plain Markdown (it reads on any viewer, not only the site), written from
    # the click definitions: a changed option or help text must be written there too.
    assert (REPO / "docs" / "cli.md").read_text(encoding="utf-8") == reference(), (
        "docs/cli.md is out of date: run .venv/bin/python -m tests.cli_reference")


def test_commands_page_lists_every_command() -> None:
    listed = set(re.findall(r"^\| `([a-z]+(?: [a-z]+)?)", (REPO / "docs" / "commands.md").read_text(), re.M))
    names = set()
    for name, command in main.commands.items():
        names.add(name)
        if isinstance(command, click.Group):
            names |= {f"{name} {sub}" for sub in command.commands}
    assert names <= listed, names - listed


def test_readme_gives_the_command_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    [command] = blocks(section(README, "Tests"), "sh")
    assert command.strip() in ci.splitlines()
    # The quick start gives it too: the same words.
    given = {line for block in blocks(README, "sh") for line in block.splitlines() if "pytest" in line}
    assert given == {command.strip()}


def test_readme_own_feeds_config_is_valid_and_ends_with_the_daemon(tmp_path: Path) -> None:
    own = section(README, "Your own feeds, then the daemon")
    [toml] = blocks(own, "toml")
    path = tmp_path / "my-feeds.toml"
    path.write_text(toml)
    config = load_config(path)
    assert len(config.feeds) == 2 and all(f.publisher for f in config.feeds)
    assert config.database.url == f"sqlite:///{tmp_path / 'my-feeds.sqlite3'}"
    commands = [shlex.split(line) for block in blocks(own, "sh") for line in block.splitlines() if line.strip()]
    assert all(c[:3] == [".venv/bin/tracker", "--config", path.name] for c in commands)
    assert commands[-1][3:] == ["run"]
    assert len(README.splitlines()) < 250


def _sample_commands() -> list[tuple[str, list[str]]]:
    """Every `tracker --config samples/tracker.toml …` of a ```sh block, README first, then docs/."""
    found = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in blocks(page.read_text(encoding="utf-8"), "sh"):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&") if "samples/tracker.toml" in line else []:
                    words = shlex.split(part, comments=True)
                    if words and (words[0] == "tracker" or words[0].endswith("bin/tracker")) and words[1:3] == ["--config", "samples/tracker.toml"]:
                        found.append((page.name, words[1:]))
    return found


def test_the_examples_on_the_sample_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In a copy of samples/ (its config puts the database in ../db), after the quick start's
    # ingest: each example exits 0. In this process (the command's code is what the examples
    # exercise; starting Python for each of them cost most of this test's time).
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    for name in ("TRACKER_CONFIG", "TRACKER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    commands = [(page, args) for page, args in _sample_commands() if args[2] != "ingest"]
    pages = {page for page, _ in commands}
    assert len(commands) >= 12 and {"README.md", "queries.md", "export.md", "pictures.md"} <= pages, commands

    def run(args: list[str]) -> Result:
        return CliRunner().invoke(main, args)

    done = run(["--config", "samples/tracker.toml", "ingest", "--no-progress", "samples/demo-network.warc.gz"])
    assert done.exit_code == 0, (done.stderr[-2000:], done.exception)
    for page, args in commands:
        done = run(args)
        assert done.exit_code == 0, (page, args, done.stderr[-2000:], done.exception)
    assert (tmp_path / "chain.svg").is_file() and (tmp_path / "report" / "index.html").is_file()


def test_readme_links_reach_files_and_headings() -> None:
    # mkdocs checks the links between pages of docs/; README's into docs/ are checked here.
    links = re.findall(r"\]\(([^)#\s]+\.md)(?:#([^)\s]+))?\)", README)
    assert len(links) >= 20
    for target, anchor in links:
        page = REPO / target
        assert page.is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
            slugs = {re.sub(r"\s+", "-", re.sub(r"[^\w\- ]", "", h.lower()).strip()) for h in headings}
            assert anchor in slugs, (target, anchor)

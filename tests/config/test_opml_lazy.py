"""OPML subscription lists are read when their feeds are needed, and parsed when they change.

A config names an OPML list of 100,000 feeds. `status`, `stats` and the queries never
need it: the OPML parser must not run for them. `feeds` needs it: the first run parses
it, later runs take the parsed list from the cache while the file is unchanged, and an
edit of the file is read again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracker.redact import mask_credentials
from click.testing import CliRunner

from tracker.config import opml

from tracker.config import subscriptions
from tracker.cli import main
from tracker.store.database import open_database


def big_opml(path: Path, feeds: int, folders: int = 100) -> Path:
    """An OPML 2.0 list of `feeds` feeds in `folders` folders."""
    per = feeds // folders
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>big</title></head><body>\n')
        for folder in range(folders):
            out.write(f'<outline text="Desk {folder}">\n')
            for i in range(folder * per, (folder + 1) * per):
                out.write(f'<outline type="rss" text="Feed {i}" xmlUrl="https://site{i}.example/feed.xml" publisher="Site {i}"/>\n')
            out.write("</outline>\n")
        out.write("</body></opml>\n")
    return path


@pytest.fixture
def counted_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every OPML parse, by source name."""
    calls: list[str] = []
    real = opml.read_opml

    def counting(body: bytes, source: str = "OPML") -> Any:
        calls.append(source)
        return real(body, source)

    monkeypatch.setattr(subscriptions, "read_opml", counting)
    return calls


def config_with(tmp_path: Path, opml_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'tracker.sqlite3'}"
    open_database(url)
    path = tmp_path / "tracker.toml"
    path.write_text(f'[database]\nurl = "{url}"\n\n[[opml]]\npath = "{opml_path.name}"\n')
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_status_stats_and_queries_never_parse_a_100k_feed_opml(tmp_path: Path, counted_parses: list[str]) -> None:
    config = config_with(tmp_path, big_opml(tmp_path / "big.opml", 100_000))
    for command in (["status", "--ignore-daemon"], ["stats"], ["stories"], ["publishers"]):
        code, output = run("--config", str(config), *command)
        assert code in (0, 1), output  # status exits 1 when nothing was ever polled
    assert counted_parses == []


def test_feeds_parses_the_opml_once_until_it_changes(tmp_path: Path, counted_parses: list[str]) -> None:
    source = big_opml(tmp_path / "subs.opml", 2_000, folders=20)
    config = config_with(tmp_path, source)
    code, first = run("--config", str(config), "feeds", "--format", "csv")
    assert code == 0 and len(counted_parses) == 1
    assert "https://site1999.example/feed.xml" in first and "Desk 19" in first
    code, second = run("--config", str(config), "feeds", "--format", "csv")
    assert code == 0 and second == first and len(counted_parses) == 1  # from the cache
    # An edit (the same size, even) is a new list: parsed again, its change seen.
    source.write_text(source.read_text().replace("Site 1999", "Site 9991"))
    code, third = run("--config", str(config), "feeds", "--format", "csv")
    assert code == 0 and len(counted_parses) == 2 and "Site 9991" in third


def test_a_broken_cache_is_a_miss_not_an_error(tmp_path: Path, counted_parses: list[str]) -> None:
    source = big_opml(tmp_path / "subs.opml", 10, folders=1)
    config = config_with(tmp_path, source)
    assert run("--config", str(config), "feeds")[0] == 0
    for cached in subscriptions.cache_dir().glob("*.json"):
        cached.write_text("{not json")
    code, output = run("--config", str(config), "feeds")
    assert code == 0 and "site9.example" in output and len(counted_parses) == 2


def test_a_bad_opml_fails_the_commands_that_need_it_and_no_other(tmp_path: Path) -> None:
    (tmp_path / "subs.opml").write_text("<html><body>sorry</body></html>")
    config = config_with(tmp_path, tmp_path / "subs.opml")
    code, output = run("--config", str(config), "feeds")
    assert code != 0 and "not an OPML subscription list" in output
    assert run("--config", str(config), "stats")[0] == 0


@pytest.mark.parametrize("url", ["http://127.1/rss", "http://localhost:8080/rss", "http://[::1]/rss", "http://u@10.0.0.1:80/rss"])
def test_an_opml_feed_on_a_local_host_is_refused_parsed_or_cached(tmp_path: Path, url: str) -> None:
    source = tmp_path / "subs.opml"
    source.write_text(f'<opml version="2.0"><body><outline text="x" xmlUrl="https://ok.example/rss"/>'
                      f'<outline text="y" xmlUrl="{url}"/></body></opml>')
    config = config_with(tmp_path, source)
    for _ in range(2):  # parsed, then from the cache
        code, output = run("--config", str(config), "feeds")
        assert code != 0 and "allow_private_addresses" in output, output
    config.write_text(config.read_text().replace("[[opml]]", "[polling]\nallow_private_addresses = true\n\n[[opml]]"))
    code, output = run("--config", str(config), "feeds", "--format", "csv")
    assert code == 0 and mask_credentials(url) in output  # a user name may be a token: shown masked


def _poison_cache(source: Path, mode: int, owner: int | None) -> None:
    """Another user's hand in the cache of `source`: a feed added, its local-host note removed."""
    import json as _json
    import os as _os

    for cached in [subscriptions._cache_file(source)]:
        data = _json.loads(cached.read_text())
        data["feeds"].append(["https://planted.example/rss", "Planted", "Planted", None, []])
        data["local"] = {}
        cached.write_text(_json.dumps(data))
        cached.chmod(mode)
        if owner is not None:
            _os.chown(cached, owner, -1)


@pytest.mark.parametrize("mode, owner", [(0o666, None), (0o620, None), (0o600, 65534)])
def test_a_cache_file_others_can_write_is_not_believed(tmp_path: Path, counted_parses: list[str], mode: int, owner: int | None) -> None:
    import os as _os

    if owner is not None and _os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    source = big_opml(tmp_path / "subs.opml", 10, folders=1)
    config = config_with(tmp_path, source)
    assert run("--config", str(config), "feeds")[0] == 0
    _poison_cache(source, mode, owner)
    code, output = run("--config", str(config), "feeds")
    assert code == 0 and "planted.example" not in output and "site9.example" in output
    assert len(counted_parses) == 2  # parsed again, not read from the cache

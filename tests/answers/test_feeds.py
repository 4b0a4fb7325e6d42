"""`tracker feeds` (every feed, its tags and health) and `tracker feeds export` (OPML that imports back unchanged)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.feedserver import FeedServer
from tracker.cli import main
from tracker.config import load_config
from tracker.config.opml import read_opml
from tracker.pipeline.capture import Pipeline
from tracker.store.database import open_database

FIXTURES = Path(__file__).parents[1] / "fixtures" / "opml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feeds = FeedServer()
    yield feeds
    feeds.close()


def opml(server: FeedServer, *, with_broken: bool = True) -> bytes:
    broken = (f'<outline type="rss" text="Broken" xmlUrl="{server.url("/broken.xml")}" publisher="Broken Wire"/>'
              if with_broken else "")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.1"><head><title>desk</title></head><body>
  <outline text="News"><outline text="Asia">
    <outline type="rss" text="OK News" title="OK News" xmlUrl="{server.url('/ok.xml')}" publisher="OK News"/>
    {broken}
  </outline></outline>
  <outline text="Watch">
    <outline type="rss" text="Gone Daily" xmlUrl="{server.url('/gone.xml')}" publisher="Gone Daily"/>
    <outline type="rss" text="Moving Times" xmlUrl="{server.url('/old.xml')}" publisher="Moving Times"/>
  </outline>
</body></opml>""".encode()


def setup_desk(tmp_path: Path, server: FeedServer, db_url: str) -> Path:
    ok = server.growing_feed("/ok.xml", "OK News", seed=11, initial=3)
    server.status("/broken.xml", 500)
    server.status("/gone.xml", 410, b"gone")
    server.routes["/old.xml"] = lambda _h: (301, {"Location": server.url("/new.xml")}, b"")
    moved = server.growing_feed("/new.xml", "Moving Times", seed=12, initial=2)
    assert ok and moved
    (tmp_path / "desk.opml").write_bytes(opml(server))
    config = tmp_path / "tracker.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n\n[polling]\nallow_private_addresses = true\n\n[[opml]]\npath = "desk.opml"\n')
    return config


def feeds_json(config: Path) -> dict[str, dict]:
    code, out, err = run("--config", str(config), "feeds", "--format", "json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    return {row["url"]: row for row in rows}


def test_feeds_lists_publisher_tags_state_and_items_in_every_format(tmp_path: Path, server: FeedServer, any_db_url: str) -> None:
    config = setup_desk(tmp_path, server, any_db_url)

    before = feeds_json(config)
    assert {row["state"] for row in before.values()} == {"new"}
    assert before[server.url("/ok.xml")]["tags"] == ["News/Asia"]

    code, out, err = run("--config", str(config), "poll", "--all")
    assert code == 0, err
    rows = feeds_json(config)
    assert set(rows) == {server.url(p) for p in ("/ok.xml", "/broken.xml", "/gone.xml", "/new.xml")}
    ok, broken, gone, moved = (rows[server.url(p)] for p in ("/ok.xml", "/broken.xml", "/gone.xml", "/new.xml"))
    assert (ok["state"], ok["publisher"], ok["tags"], ok["items"], ok["error_count"]) == ("active", "OK News", ["News/Asia"], 3, 0)
    assert ok["last_poll_at"].endswith("Z") and ok["next_check_at"] > ok["last_poll_at"]
    assert (broken["state"], broken["error_count"], broken["last_status"]) == ("failing", 1, 500)
    assert broken["last_error_kind"] and broken["tags"] == ["News/Asia"]
    assert (gone["state"], gone["items"], gone["tags"]) == ("gone", 0, ["Watch"])
    assert gone["retired_at"] is not None and gone["next_check_at"] is None
    assert (moved["state"], moved["moved_from"], moved["items"]) == ("moved", [server.url("/old.xml")], 2)
    assert moved["publisher"] == "Moving Times"
    assert list(ok) == ["url", "publisher", "title", "site_url", "tags", "state", "error_count", "last_error_kind",
                        "last_error", "last_status", "last_poll_at", "last_success_at", "next_check_at", "retired_at",
                        "moved_from", "items"]

    # CSV carries the same rows (lists joined with "; ").
    code, out, _ = run("--config", str(config), "feeds", "--format", "csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert {r["url"]: (r["state"], r["tags"], r["items"]) for r in table} == {
        url: (row["state"], "; ".join(row["tags"]), str(row["items"])) for url, row in rows.items()
    }

    # The table a person reads.
    code, out, _ = run("--config", str(config), "feeds")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["publisher", "tags", "state", "last", "poll", "next", "check", "items", "url"]
    assert any(f"failing ×1 {broken['last_error_kind']}" in line and "Broken Wire" in line for line in lines)
    assert any("gone" in line and "Gone Daily" in line for line in lines)

    # A feed dropped from the OPML is inactive at the next poll run; the moved one is still followed.
    (tmp_path / "desk.opml").write_bytes(opml(server, with_broken=False))
    assert run("--config", str(config), "poll")[0] in (0, 1)
    rows = feeds_json(config)
    assert rows[server.url("/broken.xml")]["state"] == "inactive"
    assert rows[server.url("/new.xml")]["state"] == "moved"


def test_tags_follow_the_opml_file(tmp_path: Path, server: FeedServer, sqlite_url: str) -> None:
    config = setup_desk(tmp_path, server, sqlite_url)
    run("--config", str(config), "poll", "--all")
    body = opml(server).replace(b'<outline text="Asia">', b'<outline text="Africa">')
    (tmp_path / "desk.opml").write_bytes(body)
    run("--config", str(config), "poll")
    assert feeds_json(config)[server.url("/ok.xml")]["tags"] == ["News/Africa"]


def test_feeds_table_escapes_control_characters_from_feed_data(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "desk.opml").write_text(
        '<opml version="2.0"><body><outline text="x" xmlUrl="https://evil.example/rss" publisher="Evil&#x1b;[2J Corp"/></body></opml>'
    )
    config = tmp_path / "tracker.toml"
    config.write_text(f'[database]\nurl = "{sqlite_url}"\n\n[polling]\nallow_private_addresses = true\n\n[[opml]]\npath = "desk.opml"\n')
    code, out, _ = run("--config", str(config), "feeds")
    assert code == 0
    # XML cannot carry ESC: the reference is dropped when the list is read, never shown raw.
    assert "\x1b" not in out and "Evil[2J Corp" in out


@pytest.mark.parametrize("name", ["opml_noversion.xml", "opml_v1.0.xml", "opml_v1.1.xml", "opml_v2.0.xml", "nested_v2.0.xml"])
def test_feeds_export_imports_back_unchanged(tmp_path: Path, name: str) -> None:
    source = read_opml((FIXTURES / name).read_bytes())
    first = tmp_path / "first"
    first.mkdir()
    (first / "subs.opml").write_bytes((FIXTURES / name).read_bytes())
    (first / "tracker.toml").write_text(f'[database]\nurl = "sqlite:///{first / "t.sqlite3"}"\n\n[[opml]]\npath = "subs.opml"\n')
    # What `ingest`, `poll` and the daemon do first: the configured feeds get their rows and tags.
    config = load_config(first / "tracker.toml")
    Pipeline(open_database(config.database.url), config).register_feeds()
    exported = tmp_path / "exported.opml"
    code, _, err = run("--config", str(first / "tracker.toml"), "feeds", "export", "--out", str(exported))
    assert code == 0, err

    back = {f.url: f for f in read_opml(exported.read_bytes())}
    assert set(back) == {f.url for f in source}
    for feed in source:
        got = back[feed.url]
        assert (got.title, got.tags, got.html_url) == (feed.title, feed.tags, feed.html_url)
        assert got.publisher == (feed.publisher or got.publisher) and got.publisher  # the tracker names every publisher

    # A second tracker subscribed to the export (its feeds not stored yet) exports the very same document.
    second = tmp_path / "second"
    second.mkdir()
    (second / "tracker.toml").write_text(f'[database]\nurl = "sqlite:///{second / "t.sqlite3"}"\n\n[[opml]]\npath = "{exported}"\n')
    code, out, err = run("--config", str(second / "tracker.toml"), "feeds", "export")
    assert code == 0, err
    assert out.encode() == exported.read_bytes()

"""SIGHUP re-reads the OPML files a config names: a real `tracker run` process and a real feed server."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.feedserver import FeedServer, wait_until
from tests.daemon.test_scheduler import (  # noqa: F401  (fixtures)
    POLLING,
    STARTUP,
    DaemonProcess,
    Db,
    daemons,
    open_db,
    server,
)


def write_opml(path: Path, feeds: list[tuple[str, str, str]]) -> None:
    """An OPML 2.0 file of (url, publisher, folder) written atomically (a reload never sees half a file)."""
    outlines = "\n".join(
        f'<outline text="{folder}"><outline type="rss" text="{publisher}" xmlUrl="{url}" publisher="{publisher}"/></outline>'
        for url, publisher, folder in feeds
    )
    scratch = path.with_suffix(".tmp")
    scratch.write_text(f'<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>{outlines}</body></opml>')
    scratch.replace(path)


def test_sighup_picks_up_a_changed_opml_file(
    tmp_path: Path, server: FeedServer, daemons: Callable[[Path], DaemonProcess], open_db: Callable[[str], Db], sqlite_url: str,  # noqa: F811
) -> None:
    a = server.growing_feed("/a.xml", "Feed A", seed=21, initial=2)
    b = server.growing_feed("/b.xml", "Feed B", seed=22, initial=2)
    subs = tmp_path / "subs" / "desk.opml"
    subs.parent.mkdir()
    write_opml(subs, [(a.url, "Feed A", "News")])
    config = tmp_path / "tracker.toml"
    lines = ["[database]", f"url = {json.dumps(sqlite_url)}", "", "[polling]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in POLLING.items()]
    lines += ["", "[[opml]]", 'path = "subs/desk.opml"', ""]
    config.write_text("\n".join(lines))

    daemon = daemons(config)
    db = open_db(sqlite_url)
    wait_until(lambda: db.has_all(a), STARTUP, "feed A's items stored", details=daemon.tail)
    assert server.count("/b.xml") == 0

    def tags(url: str) -> list[str]:
        return [r[0] for r in db.rows("SELECT t.tag FROM feed_tags t JOIN feeds f ON f.id = t.feed_id WHERE f.url = :u", u=url)]

    assert tags(a.url) == ["News"]

    # The OPML file changes (the config file does not): B added, A moved to another folder.
    write_opml(subs, [(a.url, "Feed A", "Archive"), (b.url, "Feed B", "News")])
    daemon.send(signal.SIGHUP)
    daemon.wait_logged("config reloaded", timeout=5, feeds=2)
    wait_until(lambda: db.has_all(b), 8, "feed B's items stored", details=daemon.tail)
    wait_until(lambda: tags(a.url) == ["Archive"], 5, "feed A's tag changed", details=daemon.tail)
    assert tags(b.url) == ["News"]

    # A broken OPML file is refused and the old subscriptions kept.
    subs.write_text("<html>not a list</html>")
    daemon.send(signal.SIGHUP)
    refused = daemon.wait_logged("config refused", timeout=5)
    assert "OPML" in refused[0].get("error", ""), refused
    fresh = b.publish(1)
    wait_until(lambda: db.has_all(b, fresh), 8, "feed B still polled after the refused reload", details=daemon.tail)

    daemon.send(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0, daemon.tail()

"""A feed whose permanent redirect flips and cycles (A→B, B→A, A→B→C→A across polls).

Each move is a poll whose 301 leads to the URL the feed had before; the feed must keep
its one identity (one row, its items, its id), record every move in `feed_moves`, and
neither `tracker poll` nor the daemon may fail on a URL it had already held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.feedserver import FeedServer
from tests.daemon.test_poll import feed_bytes, make_config, scalar
from tests.daemon.test_scheduler import DaemonProcess, daemons, write_config  # noqa: F401  (fixture)
from tracker.cli import main
from tracker.daemon.poll_once import poll_once


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.close()


class Flipping:
    """Routes where one path serves the feed and every other path 301s to it; `at` moves it."""

    def __init__(self, server: FeedServer, paths: list[str]) -> None:
        self.server = server
        self.home = paths[0]
        body = feed_bytes(7)
        for path in paths:
            server.routes[path] = self._route(path, body)

    def _route(self, path: str, body: bytes) -> Callable[[object], tuple[int, dict[str, str], bytes]]:
        def answer(_headers: object) -> tuple[int, dict[str, str], bytes]:
            if path == self.home:
                return 200, {"Content-Type": "application/rss+xml"}, body
            return 301, {"Location": self.home}, b""

        return answer

    def at(self, path: str) -> None:
        self.home = path


def _moves(url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT from_url, to_url FROM feed_moves ORDER BY id")).all()
    engine.dispose()
    return [(a.rsplit("/", 1)[1], b.rsplit("/", 1)[1]) for a, b in rows]


def test_a_feed_flipping_and_cycling_between_urls_keeps_its_identity_and_history(server: FeedServer, any_db_url: str) -> None:
    flip = Flipping(server, ["/a", "/b", "/c"])
    config = make_config(any_db_url, [f"{server.base}/a"])
    flip.at("/a")
    [first] = poll_once(config)
    feed_id = first.feed_id
    for home in ["/b", "/a", "/b", "/c", "/a"]:  # A→B, B→A, A→B, B→C, C→A
        flip.at(home)
        [outcome] = poll_once(config, everything=True)
        assert outcome.error_kind is None and outcome.feed_id == feed_id
    assert _moves(any_db_url) == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "c"), ("c", "a")]
    assert scalar(any_db_url, "SELECT COUNT(*) FROM feeds") == 1
    assert scalar(any_db_url, "SELECT url FROM feeds") == f"{server.base}/a"
    assert scalar(any_db_url, "SELECT COUNT(*) FROM items") == 2  # the same two items, never again
    # Former URLs are each kept once, and never the current one.
    assert scalar(any_db_url, "SELECT COUNT(*) FROM feed_urls") == 2
    assert scalar(any_db_url, "SELECT COUNT(*) FROM feed_urls WHERE url = :u", u=f"{server.base}/a") == 0
    # The configured URL still finds the feed: it stays active and is polled at its current URL.
    flip.at("/b")
    [again] = poll_once(config, everything=True)
    assert again.feed_id == feed_id and again.error_kind is None


def test_tracker_poll_exits_0_when_a_redirect_flips_back(server: FeedServer, tmp_path: Path) -> None:
    flip = Flipping(server, ["/a", "/b"])
    url = f"sqlite:///{tmp_path / 'flip.db'}"
    config = tmp_path / "tracker.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[polling]\nallow_private_addresses = true\n'
        f'[[feeds]]\nurl = "{server.base}/a"\npublisher = "Flip"\n'
    )
    for home in ["/a", "/b", "/a", "/b", "/a"]:
        flip.at(home)
        result = CliRunner().invoke(main, ["--config", str(config), "poll", "--all"])
        assert result.exit_code == 0, result.output
    assert _moves(url) == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]
    assert scalar(url, "SELECT COUNT(*) FROM feeds") == 1


def test_the_daemon_follows_a_flipping_redirect_without_a_database_error(
    server: FeedServer, tmp_path: Path, daemons: Callable[[Path], DaemonProcess],  # noqa: F811
) -> None:
    flip = Flipping(server, ["/a", "/b"])
    url = f"sqlite:///{tmp_path / 'daemon.db'}"
    config = write_config(tmp_path / "tracker.toml", url, [(f"{server.base}/a", "Flip")])
    daemon = daemons(config)
    daemon.wait_logged("poll", timeout=20, exact=True)
    for count, home in enumerate(["/b", "/a", "/b"], start=1):
        flip.at(home)
        daemon.wait_logged("feed moved", timeout=20, count=count)
    assert not daemon.logged("database error") and not daemon.logged("poll failed"), daemon.tail()
    assert _moves(url) == [("a", "b"), ("b", "a"), ("a", "b")]
    assert scalar(url, "SELECT COUNT(*) FROM feeds") == 1


def test_the_migration_carries_former_urls_over_as_moves(any_db_url: str) -> None:
    """A database of 0008 whose feed moved a→b→c has those two moves in `feed_moves` after upgrading."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    import tracker.store.database as database

    config = AlembicConfig()
    config.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0008")
        conn.execute(sa.text("INSERT INTO publishers (id, name, name_source) VALUES (1, 'P', 'config')"))
        conn.execute(sa.text("INSERT INTO feeds (id, url, publisher_id, added_at, active, error_count) "
                             "VALUES (1, 'http://x.example/c', 1, '2025-01-01 00:00:00', true, 0)"))
        conn.execute(sa.text("INSERT INTO feed_urls (feed_id, url, replaced_at) VALUES "
                             "(1, 'http://x.example/b', '2025-01-03 00:00:00'), (1, 'http://x.example/a', '2025-01-02 00:00:00')"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    assert _moves(any_db_url) == [("a", "b"), ("b", "c")]

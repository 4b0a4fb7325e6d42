"""Credentials never leave the config (issue 13).

A feed behind HTTP basic auth is polled for real (a local server that answers 401 without
the password) by the daemon and by `tracker poll`, with the archive on; then every command a user runs is run, and every
output and every file the tracker wrote — logs, the database file, the WARC archive, the
report — is searched for the password. The request still authenticates.
"""

from __future__ import annotations

import base64
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.builders import T0, Item, article, rss
from tests.conftest import alembic
from tests.daemon.test_scheduler import STARTUP, DaemonProcess, _env
from tests.feedserver import FeedServer
from tracker.cli import main
from tracker.config import parse_config
from tracker.errors import ConfigError
from tracker.redact import Credentials, mask_credentials, mask_url
from tracker.store.database import create_db_engine, migrate

SECRET = "s3cr3t-Pa55"
TOKEN = "tok3n-SECRET"
QUERY_TOKEN = "qu3ry-T0KEN"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.close()


def _guarded(server: FeedServer, path: str, user: str, password: str, body: bytes) -> None:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def answer(handler):  # type: ignore[no-untyped-def]
        if handler.headers.get("Authorization") != expected:
            return 401, {"WWW-Authenticate": 'Basic realm="feeds"', "Content-Type": "text/plain"}, b"who are you?"
        return 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, body

    server.routes[path] = answer


def _feed(seed: int) -> bytes:
    items = [Item(f"Private story {seed}-{i}", f"https://private.example/{seed}/{i}", article(seed * 10 + i), T0) for i in range(2)]
    return rss("Private News", "https://private.example/", items)


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code in (0, 1), result.output
    return result.output  # stdout and stderr (logs, warnings) together


def test_a_feed_password_is_in_no_output_and_no_file_while_the_feed_still_authenticates(server: FeedServer, tmp_path: Path) -> None:
    _guarded(server, "/private/feed", "reader", SECRET, _feed(1))
    # A permanent move within the host: the moved feed keeps its credentials.
    server.routes["/private/old"] = lambda _h: (301, {"Location": "/private/feed"}, b"")
    _guarded(server, "/private/token", TOKEN, "", _feed(2))
    server.status("/private/broken", 500)
    # A private feed that takes its token in the query: only the real URL answers.
    server.routes[f"/private/query?access_token={QUERY_TOKEN}&format=rss"] = lambda _h: (
        200, {"Content-Type": "application/rss+xml"}, _feed(3))
    host = server.base.removeprefix("http://")
    feeds = [f"http://reader:{SECRET}@{host}/private/old", f"http://{TOKEN}@{host}/private/token",
             f"http://reader:{SECRET}@{host}/private/broken", f"http://{host}/private/query?access_token={QUERY_TOKEN}&format=rss"]
    work = tmp_path / "work"
    work.mkdir()
    config = work / "tracker.toml"
    config.write_text("\n".join([
        "[database]", 'url = "sqlite:///tracker.sqlite3"', "[archive]", 'dir = "archive"',
        "[polling]", "allow_private_addresses = true", "total_timeout = 5.0", "dispatch_seconds = 0.2",
        *[f'[[feeds]]\nurl = "{url}"\npublisher = "Private {i}"' for i, url in enumerate(feeds)],
    ]))

    daemon = DaemonProcess(config, work, _env())  # `tracker run --log-format json`
    try:
        daemon.wait_logged("poll", STARTUP, count=3)  # "poll" and "poll failed" events
        daemon.send(signal.SIGTERM)
        assert daemon.wait_exit(STARTUP) == 0
    finally:
        daemon.kill()
    assert any(f"reader:***@{host}" in line for line in daemon.lines)  # its log names the feeds, masked
    outputs = daemon.lines + [run(config, "poll", "--all", "-v"), run(config, "poll", "--all", "--log-format", "json", "-v")]
    # It authenticated: the feeds' stories are in, after a 401-free fetch.
    assert all(h.get("Authorization") for h in server.hits("/private/feed") + server.hits("/private/token"))
    stats = run(config, "stats", "--format", "csv")
    assert "Private 0" in stats and "Private 1" in stats and "Private 3" in stats
    for args in (("status", "--ignore-daemon"), ("feeds",), ("feeds", "--format", "json"), ("feeds", "--format", "csv"),
                 ("feeds", "export"), ("stats",), ("stories", "--format", "json"), ("find", "Private"),
                 ("export", "--format", "prov-json"), ("export", "--format", "prov-n"), ("export", "--format", "jsonl"),
                 ("export", "--format", "csv"), ("report", "--out", str(work / "report"))):
        outputs.append(run(config, *args))
    shown = "\n".join(outputs)
    assert f"reader:***@{host}/private/feed" in shown  # the moved feed, as the user knows it
    assert f"***@{host}/private/token" in shown
    assert f"{host}/private/query?access_token=***&format=rss" in shown
    assert "HTTP 500" in shown  # the failing feed was logged and reported, by its masked URL

    secrets = [SECRET, TOKEN, QUERY_TOKEN, base64.b64encode(f"reader:{SECRET}".encode()).decode(), base64.b64encode(f"{TOKEN}:".encode()).decode()]
    for secret in secrets:
        assert secret not in shown
    written = [p for p in work.rglob("*") if p.is_file() and p != config]
    assert any(p.suffix == ".gz" for p in written) and any(p.name == "tracker.sqlite3" for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} in {path.relative_to(work)}"


def test_masking_keeps_the_user_and_the_feed_identity_and_unmasking_needs_the_config() -> None:
    assert mask_credentials("http://user:pw@host/feed") == "http://user:***@host/feed"
    assert mask_credentials("https://TOKEN@host/feed") == "https://***@host/feed"
    assert mask_credentials("https://medium.com/@name/feed") == "https://medium.com/@name/feed"
    assert mask_credentials("fetch of http://a:b@x/ failed") == "fetch of http://a:***@x/ failed"
    old = parse_config({"feeds": [{"url": "http://user:old@host/feed"}]}).feeds[0]
    new = parse_config({"feeds": [{"url": "http://user:new@host/feed"}]}).feeds[0]
    assert old.url == new.url == "http://user:***@host/feed"  # a changed password is the same feed
    assert new.fetch_url == "http://user:new@host/feed" and "new" not in repr(new)
    credentials = Credentials([new.fetch_url])
    assert credentials.unmask("http://user:***@HOST/moved") == "http://user:new@HOST/moved"
    assert credentials.unmask("http://other:***@host/feed") == "http://other:***@host/feed"


def test_a_token_in_a_feeds_query_is_masked_like_a_password_and_put_back_only_to_fetch() -> None:
    url = "https://feeds.example/private.xml?format=rss&access_token=T0K&api_key=K3Y"
    feed = parse_config({"feeds": [{"url": url}]}).feeds[0]
    assert feed.url == "https://feeds.example/private.xml?format=rss&access_token=***&api_key=***"
    assert mask_credentials(f"fetch of {url} failed") == f"fetch of {feed.url} failed"
    credentials = Credentials([feed.fetch_url])
    assert credentials.unmask(feed.url) == url
    # Moved within its host (to https, another path): the feed keeps its token.
    assert credentials.unmask("https://FEEDS.example/v2/private.xml?access_token=***&api_key=***") == (
        "https://FEEDS.example/v2/private.xml?access_token=T0K&api_key=K3Y")
    assert credentials.unmask("https://other.example/feed?access_token=***") == "https://other.example/feed?access_token=***"
    plain = "https://a.example/feed?category=keys&keyword=token&sort_key=date&pagetoken=2"
    assert mask_url(plain) == plain  # parameters of other names are no secrets


@pytest.mark.parametrize("url, masked", [
    ("https://gitlab.example/dashboard/projects.atom?feed_token=glft-S3CR3T",
     "https://gitlab.example/dashboard/projects.atom?feed_token=***"),
    ("https://api.example/feed?x-api-key=S3CR3T&client_secret=S3CR3T&rss_token=S3CR3T",
     "https://api.example/feed?x-api-key=***&client_secret=***&rss_token=***"),
    ("https://bucket.example/feed.xml?X-Amz-Signature=S3CR3T&X-Amz-Expires=60",
     "https://bucket.example/feed.xml?X-Amz-Signature=***&X-Amz-Expires=60"),
])
def test_a_secrets_name_behind_a_prefix_of_its_own_is_masked(url: str, masked: str) -> None:
    feed = parse_config({"feeds": [{"url": url}]}).feeds[0]
    assert feed.url == masked and mask_credentials(f"fetch of {url} failed") == f"fetch of {masked} failed"
    assert Credentials([feed.fetch_url]).unmask(feed.url) == url


def test_two_feeds_of_one_host_are_each_fetched_with_their_own_token() -> None:
    # A podcast host gives every show a feed with a token of its own.
    urls = ["https://pods.example/rss/show-a?auth=AAA", "https://pods.example/rss/show-b?auth=BBB",
            "https://alice:pwA@pods.example/private", "https://bob:pwB@pods.example/private?v=2"]
    feeds = parse_config({"feeds": [{"url": url} for url in urls]}).feeds
    credentials = Credentials(feed.fetch_url for feed in feeds)
    assert [credentials.unmask(feed.url) for feed in feeds] == urls


def test_a_password_holding_an_at_sign_is_masked_whole_and_still_authenticates() -> None:
    feed = parse_config({"feeds": [{"url": "https://user:p@ss@host.example/feed"}]}).feeds[0]
    assert feed.url == "https://user:***@host.example/feed"
    assert mask_credentials("fetch of https://user:p@s@s@host.example/feed failed") == "fetch of https://user:***@host.example/feed failed"
    assert Credentials([feed.fetch_url]).unmask(feed.url) == "https://user:p@ss@host.example/feed"


@pytest.mark.parametrize("url", [
    'https://user:zq"xv@host.example/feed', "https://user:zq'xv@host.example/feed", "https://user:zq<xv@host.example/feed",
    "https://user:zq\txv@host.example/feed", "https://user:zq xv@host.example/feed", "https://zq:@host.example/feed",
])
def test_one_url_is_masked_whatever_its_password_holds(url: str) -> None:
    """A quote or a space ends a URL in a message, not a URL on its own (a config value, a
    WARC target): there the whole userinfo is masked; a token given as `token:` too."""
    masked = mask_url(url)
    assert "zq" not in masked and masked.endswith("***@host.example/feed")


@pytest.mark.parametrize("url", [
    "https://user:zq/xv@host.example/feed", "https://user:zq#xv@host.example/feed", "https://user:zq?xv@host.example/feed",
    "https://user:zq xv@host.example/feed",
])
def test_a_password_that_would_end_the_host_is_refused_without_being_quoted(url: str, tmp_path: Path) -> None:
    """Unencoded, "/", "?" and "#" end a URL's host, so no masking can find the password
    behind them: such a URL is refused, in config and on the command line, and not shown."""
    with pytest.raises(ConfigError, match=r"feeds\.0\.url: not a feed URL: ") as refused:
        parse_config({"feeds": [{"url": url}]})
    assert "zq" not in str(refused.value)
    (tmp_path / "feed.xml").write_bytes(rss("Feed", "https://host.example/", []))
    (tmp_path / "t.toml").write_text('[database]\nurl = "sqlite:///db/t.sqlite3"\n')
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "t.toml"), "ingest", "--url", url, str(tmp_path / "feed.xml")])
    assert result.exit_code == 2 and result.stderr.startswith("tracker: error: --url: not a feed URL: ")
    assert "zq" not in result.stderr
    assert not (tmp_path / "db").exists()  # refused before anything was opened


def test_a_feed_url_over_2000_characters_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ConfigError, match=r"feeds\.0\.url: a feed URL is at most 2000 characters; this one has 2101"):
        parse_config({"feeds": [{"url": "https://host.example/" + "a" * 2080}]})
    # What is stored is the masked URL: a one-letter password counts as three.
    with pytest.raises(ConfigError, match="this one has 2001"):
        parse_config({"feeds": [{"url": "https://u:p@host.example/" + "a" * 1974}]})
    assert parse_config({"feeds": [{"url": "https://host.example/" + "a" * 1979}]}).feeds[0].url.endswith("a")


def test_an_opml_feed_url_over_the_limit_is_named_briefly(tmp_path: Path) -> None:
    long_url = "https://host.example/" + "b" * 2100
    (tmp_path / "subs.opml").write_text(
        f'<?xml version="1.0"?><opml version="2.0"><head/><body><outline type="rss" text="x" xmlUrl="{long_url}"/></body></opml>')
    with pytest.raises(ConfigError) as error:
        parse_config({"opml": [{"path": "subs.opml"}]}, tmp_path / "tracker.toml").feeds  # OPML is read when needed
    message = str(error.value)
    assert "a feed URL is at most 2000 characters; this one has 2121" in message and len(message) < 400


def test_an_older_database_has_its_feed_passwords_masked_on_upgrade(any_db_url: str) -> None:
    """Revision 0011: the feed keeps its row and history, the password goes."""
    engine = create_db_engine(any_db_url)
    alembic(engine, "upgrade", "0008")
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO publishers (id, name) VALUES (1, 'Private')"))
        for feed_id, password in ((1, "old-" + SECRET), (2, SECRET)):
            connection.execute(sa.text(
                "INSERT INTO feeds (id, url, publisher_id, added_at, active, error_count, last_error_message) "
                "VALUES (:id, :url, 1, '2025-01-07 09:00:00', :yes, 0, :error)"),
                {"id": feed_id, "url": f"https://reader:{password}@host.example/feed", "yes": feed_id == 2,
                 "error": f"connection: cannot reach https://reader:{password}@host.example/feed"})
        connection.execute(sa.text("INSERT INTO feed_urls (id, feed_id, url, replaced_at) VALUES "
                                   "(1, 2, :url, '2025-01-07 09:00:00')"), {"url": f"https://{TOKEN}@old.example/rss"})
    migrate(engine)
    with engine.connect() as connection:
        feeds = connection.execute(sa.text("SELECT id, url, last_error_message FROM feeds ORDER BY id")).all()
        moved = connection.execute(sa.text("SELECT url FROM feed_urls")).scalar_one()
    engine.dispose()
    assert [tuple(row) for row in feeds] == [
        # The feed in use (active) keeps the URL the config names; the one of the old password moves aside.
        (1, "https://reader:***@host.example/feed#feed-1", "connection: cannot reach https://reader:***@host.example/feed"),
        (2, "https://reader:***@host.example/feed", "connection: cannot reach https://reader:***@host.example/feed"),
    ]
    assert moved == "https://***@old.example/rss"
    if any_db_url.startswith("sqlite:///"):
        assert SECRET.encode() not in Path(any_db_url.removeprefix("sqlite:///")).read_bytes()


@pytest.mark.parametrize(("before", "url"), [
    ("0016", "https://host.example/feed?token="),  # revision 0017: a token in a feed's query goes as a password did
    ("0017", "https://host.example/d.atom?feed_token="),  # revision 0019: one whose name has a prefix (GitLab's) too
])
def test_an_older_database_has_its_feed_tokens_masked_on_upgrade(any_db_url: str, before: str, url: str) -> None:
    engine = create_db_engine(any_db_url)
    alembic(engine, "upgrade", before)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO publishers (id, name) VALUES (1, 'Private')"))
        connection.execute(sa.text(
            "INSERT INTO feeds (id, url, publisher_id, added_at, active, error_count, last_error_message) "
            "VALUES (1, :url, 1, '2025-01-07 09:00:00', :yes, 0, :error)"),
            {"url": f"{url}{SECRET}", "yes": True, "error": f"http_status: HTTP 401 from {url}{SECRET}"})
    migrate(engine)
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT url, last_error_message FROM feeds")).one()
    engine.dispose()
    assert tuple(row) == (f"{url}***", f"http_status: HTTP 401 from {url}***")
    if any_db_url.startswith("sqlite:///"):
        assert SECRET.encode() not in Path(any_db_url.removeprefix("sqlite:///")).read_bytes()

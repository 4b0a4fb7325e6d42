"""Polling feeds over real HTTP on localhost: conditional GET, failures as data, scheduling."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.builders import T0, Item, article, rss
from tests.feedserver import FeedServer
from tracker.addresses import AddressGuard
from tracker.config import Config, parse_config
from tracker.ingest.archives import ingest_paths
from tracker.pipeline.capture import Pipeline
from tracker.daemon.poll import Poller, next_interval, utcnow
from tracker.daemon.poll_once import poll_once
from tracker.store import schema
from tracker.store.database import open_database


@pytest.fixture
def server() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.close()


def feed_bytes(seed: int, count: int = 2, ttl: int | None = None) -> bytes:
    items = [Item(f"Story {seed}-{i}", f"https://news.example/{seed}/{i}", article(seed * 10 + i), T0 + timedelta(hours=i)) for i in range(count)]
    body = rss("Example News", "https://news.example/", items)
    if ttl:
        body = body.replace(b"<description>Example News</description>", f"<description>Example News</description><ttl>{ttl}</ttl>".encode())
    return body


def make_config(url: str, feeds: list[str], **polling: object) -> Config:
    return parse_config({
        "database": {"url": url},
        "feeds": [{"url": f, "publisher": f"Publisher {i}"} for i, f in enumerate(feeds)],
        "polling": {"connect_timeout": 1.0, "read_timeout": 1.0, "total_timeout": 2.0,
                    "allow_private_addresses": True, **polling},
    })


def feed_row(url: str, feed_url: str) -> schema.Feed:
    with open_database(url)() as session:
        return session.scalars(sa.select(schema.Feed).where(schema.Feed.url == feed_url)).one()


def scalar(url: str, query: str, **params: object) -> object:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(query), params).scalar()
    engine.dispose()
    return value


def test_poll_stores_items_and_the_capture_then_sends_validators_and_gets_304(server: FeedServer, sqlite_url: str) -> None:
    server.feed("/feed", feed_bytes(1))
    config = make_config(sqlite_url, [f"{server.base}/feed"], user_agent="tracker-test/1.0")
    [first] = poll_once(config)
    assert (first.status, first.report.new_items, first.error_kind) == (200, 2, None)
    assert server.hits("/feed")[0]["User-Agent"] == "tracker-test/1.0"
    row = feed_row(sqlite_url, f"{server.base}/feed")
    assert row.etag == '"v1"' and row.last_modified == "Tue, 07 Jan 2025 09:00:00 GMT" and row.error_count == 0

    [second] = poll_once(config, everything=True)
    sent = server.hits("/feed")[1]
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == "Tue, 07 Jan 2025 09:00:00 GMT"
    assert second.not_modified and second.report.new_items == 0
    kinds = scalar(sqlite_url, "SELECT GROUP_CONCAT(kind) FROM (SELECT kind FROM captures ORDER BY id)")
    assert kinds == "poll,revisit"
    assert scalar(sqlite_url, "SELECT COUNT(*) FROM items") == 2
    assert scalar(sqlite_url, "SELECT MIN(duration_ms) FROM captures") is not None


def test_rate_limit_and_server_errors_back_off_and_are_kept_on_the_feed_row(server: FeedServer, sqlite_url: str) -> None:
    server.routes["/limited"] = lambda _h: (429, {"Retry-After": "900"}, b"slow down")
    server.routes["/broken"] = lambda _h: (500, {}, b"oops")
    config = make_config(sqlite_url, [f"{server.base}/limited", f"{server.base}/broken"], error_backoff_seconds=60, max_backoff_seconds=3600)
    before = utcnow()
    poll_once(config)
    limited = feed_row(sqlite_url, f"{server.base}/limited")
    assert limited.last_error_kind == "rate_limited" and limited.error_count == 1
    assert limited.next_check_at >= before + timedelta(seconds=900)
    poll_once(config, everything=True)
    broken = feed_row(sqlite_url, f"{server.base}/broken")
    assert broken.error_count == 2 and broken.last_error_kind == "http_status" and "500" in broken.last_error_message
    assert broken.check_interval_seconds == 120  # 60 s doubled after the second failure


def test_one_bad_feed_never_stops_the_others_and_loses_nothing(server: FeedServer, sqlite_url: str) -> None:
    server.feed("/good", feed_bytes(2))
    server.routes["/html"] = lambda _h: (200, {"Content-Type": "text/html"}, b"<!doctype html><html><body>Moved to our app!</body></html>")
    server.routes["/truncated"] = lambda _h: (200, {"Content-Type": "application/rss+xml"}, feed_bytes(3)[:300])
    server.feed("/flaky", feed_bytes(4), etag=None)
    feeds = [f"{server.base}/{p}" for p in ("good", "html", "truncated", "flaky")] + ["http://127.0.0.1:9/closed"]
    config = make_config(sqlite_url, feeds)
    poll_once(config)
    stored = scalar(sqlite_url, "SELECT COUNT(*) FROM items")
    assert stored == 4  # the good and flaky feeds; the truncated document is refused whole
    server.routes["/flaky"] = lambda _h: (200, {"Content-Type": "application/rss+xml"}, b"<rss><channel><item><title>bro")
    outcomes = {o.url.rsplit("/", 1)[1]: o for o in poll_once(config, everything=True)}
    assert outcomes["html"].error_kind == "parse" and "not a feed" in (outcomes["html"].error_message or "")
    assert outcomes["closed"].error_kind == "connection"
    assert outcomes["good"].error_kind is None
    assert scalar(sqlite_url, "SELECT COUNT(*) FROM items") == stored  # nothing stored was lost


def test_permanent_redirect_moves_the_feed_and_keeps_the_old_url(server: FeedServer, sqlite_url: str) -> None:
    server.routes["/old"] = lambda _h: (301, {"Location": "/new"}, b"")
    server.feed("/new", feed_bytes(5))
    config = make_config(sqlite_url, [f"{server.base}/old"])
    [outcome] = poll_once(config)
    assert outcome.report.new_items == 2
    assert scalar(sqlite_url, "SELECT url FROM feeds") == f"{server.base}/new"
    assert scalar(sqlite_url, "SELECT url FROM feed_urls") == f"{server.base}/old"


def test_the_poll_that_finds_a_move_names_the_feed_by_its_new_url(
    server: FeedServer, sqlite_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    server.routes["/old"] = lambda _h: (308, {"Location": "/new"}, b"")
    server.feed("/new", feed_bytes(8))
    config = make_config(sqlite_url, [f"{server.base}/old"])
    with caplog.at_level("INFO", logger="tracker.daemon.poll"):
        [outcome] = poll_once(config)
    assert outcome.url == f"{server.base}/new"
    polls = [r for r in caplog.records if r.getMessage() == "poll"]
    assert [r.tracker_fields["feed"] for r in polls] == [f"{server.base}/new"]  # type: ignore[attr-defined]


def test_a_moved_feed_stays_active_when_the_config_is_synced_again(server: FeedServer, sqlite_url: str) -> None:
    server.routes["/old"] = lambda _h: (301, {"Location": "/new"}, b"")
    server.feed("/new", feed_bytes(6))
    config = make_config(sqlite_url, [f"{server.base}/old"])
    poll_once(config)
    # The next cron run syncs the config (which names only the old URL) and polls again.
    [outcome] = poll_once(config, everything=True)
    assert outcome.url == f"{server.base}/new" and outcome.error_kind is None
    assert feed_row(sqlite_url, f"{server.base}/new").active


def test_a_capture_that_cannot_be_stored_backs_off_like_any_error(server: FeedServer, sqlite_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    server.feed("/poison", feed_bytes(7))
    config = make_config(sqlite_url, [f"{server.base}/poison"], error_backoff_seconds=600)

    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise sa.exc.DataError("INSERT …", {}, Exception("invalid byte sequence"))

    monkeypatch.setattr(Pipeline, "_entries", refuse)
    [outcome] = poll_once(config)
    assert outcome.error_kind == "store" and "invalid byte sequence" in (outcome.error_message or "")
    row = feed_row(sqlite_url, f"{server.base}/poison")
    assert row.error_count == 1 and row.last_error_kind == "store"
    assert row.next_check_at is not None and row.next_check_at > utcnow() + timedelta(seconds=500)
    assert poll_once(config) == []  # backed off: not due again at once


def test_gone_retires_the_feed(server: FeedServer, sqlite_url: str) -> None:
    server.routes["/gone"] = lambda _h: (410, {}, b"gone")
    config = make_config(sqlite_url, [f"{server.base}/gone"])
    poll_once(config)
    assert feed_row(sqlite_url, f"{server.base}/gone").retired_at is not None
    assert poll_once(config, everything=True) == []


def test_xml_bombs_and_external_entities_are_neither_expanded_nor_fetched(server: FeedServer, sqlite_url: str) -> None:
    secret = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "localhost"
    xxe = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY remote SYSTEM "{server.base}/stolen"><!ENTITY local SYSTEM "file:///etc/hostname">]>
<rss version="2.0"><channel><title>XXE</title><link>https://evil.example/</link><description>x</description>
<item><title>Leak</title><link>https://evil.example/1</link><description>before &remote; &local; after</description></item>
</channel></rss>""".encode()
    lol = "".join(f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">' for i in range(1, 10))
    bomb = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol0 "lol">{lol}]>
<rss version="2.0"><channel><title>Bomb</title><link>https://evil.example/</link><description>x</description>
<item><title>Boom</title><link>https://evil.example/2</link><description>&lol9;</description></item>
</channel></rss>""".encode()
    server.routes["/xxe"] = lambda _h: (200, {"Content-Type": "application/rss+xml"}, xxe)
    server.routes["/bomb"] = lambda _h: (200, {"Content-Type": "application/rss+xml"}, bomb)
    config = make_config(sqlite_url, [f"{server.base}/xxe", f"{server.base}/bomb"])
    started = time.monotonic()
    poll_once(config)
    assert time.monotonic() - started < 20
    assert server.hits("/stolen") == []
    texts = " ".join(str(t) for t in [scalar(sqlite_url, "SELECT GROUP_CONCAT(text, ' ') FROM item_versions")] if t)
    assert secret not in texts
    assert "lollollol" not in texts


def test_next_interval_follows_publishing_rate_within_bounds_and_honours_ttl() -> None:
    polling = make_config("sqlite://", []).polling
    assert next_interval(polling, checks=1, recent_items=0, error_count=0) == polling.default_interval_seconds
    assert next_interval(polling, checks=5, recent_items=7 * 24, error_count=0) == 3600  # hourly publisher
    assert next_interval(polling, checks=5, recent_items=100_000, error_count=0) == polling.min_interval_seconds
    assert next_interval(polling, checks=5, recent_items=0, error_count=0) == polling.max_interval_seconds
    assert next_interval(polling, checks=5, recent_items=7 * 24, error_count=0, ttl_s=7200) == 7200
    assert next_interval(polling, checks=5, recent_items=7 * 24, error_count=0, cache_max_age_s=5400) == 5400
    backoffs = [next_interval(polling, checks=5, recent_items=0, error_count=n) for n in range(1, 12)]
    assert backoffs[:3] == [300, 600, 1200] and backoffs[-1] == polling.max_backoff_seconds


def test_ttl_in_the_feed_sets_the_next_check(server: FeedServer, sqlite_url: str) -> None:
    # 100 items a week would mean a check every 100 minutes; the feed's <ttl> asks for 3 hours.
    server.feed("/ttl", feed_bytes(6, count=100, ttl=180), etag=None)
    config = make_config(sqlite_url, [f"{server.base}/ttl"], default_interval_seconds=60, min_interval_seconds=60)
    poll_once(config)
    poll_once(config, everything=True)
    assert feed_row(sqlite_url, f"{server.base}/ttl").check_interval_seconds == 180 * 60


def test_evidence_archive_is_a_warc_that_ingest_reads_back(server: FeedServer, tmp_path: Path) -> None:
    server.feed("/feed", feed_bytes(7, count=3))
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    config = parse_config({
        "database": {"url": url}, "feeds": [{"url": f"{server.base}/feed", "publisher": "Example"}],
        "archive": {"dir": str(tmp_path / "warc")}, "polling": {"allow_private_addresses": True},
    })
    poll_once(config)
    poll_once(config, everything=True)  # a 304: a revisit record
    archives = sorted((tmp_path / "warc").glob("*.warc.gz"))
    assert archives
    replay_url = f"sqlite:///{tmp_path / 'replay.sqlite3'}"
    replay_config = parse_config({"database": {"url": replay_url}, "feeds": [{"url": f"{server.base}/feed", "publisher": "Example"}],
                                  "polling": {"allow_private_addresses": True}})
    report = ingest_paths(Pipeline(open_database(replay_url), replay_config), archives, workers=0)
    assert (report.captures, report.new_items) == (2, 3)


def test_due_feeds_are_only_the_configured_active_ones(server: FeedServer, sqlite_url: str) -> None:
    server.feed("/a", feed_bytes(8))
    server.feed("/b", feed_bytes(9))
    config = make_config(sqlite_url, [f"{server.base}/a", f"{server.base}/b"])
    sessions = open_database(sqlite_url)
    poller = Poller(sessions, Pipeline(sessions, config), config)
    poller.sync_feeds(list(config.feeds))
    assert {f.url for f in poller.due()} == {f"{server.base}/a", f"{server.base}/b"}
    poller.sync_feeds(list(config.feeds[:1]))
    assert {f.url for f in poller.due()} == {f"{server.base}/a"}
    poller.close()


@pytest.fixture
def public_name(server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """`http://feeds.example:PORT`: a public-looking name whose DNS answer is the local server."""
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host: object, *args: object, **kwargs: object) -> object:
        return real_getaddrinfo("127.0.0.1" if host == "feeds.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return f"http://feeds.example:{server.base.rsplit(':', 1)[1]}"


def test_a_name_resolving_to_loopback_is_refused_and_recorded_on_the_feed_row(
    server: FeedServer, sqlite_url: str, public_name: str,
) -> None:
    # What a DNS-rebinding attacker serves: a name of theirs that answers 127.0.0.1.
    server.feed("/feed", feed_bytes(3))
    url = f"{public_name}/feed"
    config = make_config(sqlite_url, [url], allow_private_addresses=False, error_backoff_seconds=60)
    before = utcnow()
    [outcome] = poll_once(config)
    assert outcome.error_kind == "blocked_address" and outcome.status is None
    row = feed_row(sqlite_url, url)
    assert row.last_error_kind == "blocked_address" and row.error_count == 1
    assert "feeds.example resolves to 127.0.0.1 (loopback)" in row.last_error_message
    assert "allow_private_addresses" in row.last_error_message
    assert before + timedelta(seconds=59) <= row.next_check_at <= utcnow() + timedelta(seconds=61)
    poll_once(config, everything=True)
    assert feed_row(sqlite_url, url).error_count == 2
    assert server.count("/feed") == 0
    assert scalar(sqlite_url, "SELECT COUNT(*) FROM captures WHERE error_kind = 'blocked_address'") == 2

    [outcome] = poll_once(make_config(sqlite_url, [url], allow_private_addresses=True), everything=True)
    assert outcome.error_kind is None and outcome.report.new_items == 2
    assert feed_row(sqlite_url, url).error_count == 0 and server.count("/feed") == 1


def test_a_redirect_to_the_metadata_address_is_refused_and_the_feed_not_moved(
    server: FeedServer, sqlite_url: str, public_name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The feed server stands in for a public one: the default policy, except for its port.
    port = int(public_name.rsplit(":", 1)[1])
    default_reason = AddressGuard.blocked_reason

    def first_hop_public(guard: AddressGuard, address: object, to_port: int) -> str | None:
        return None if (str(address), to_port) == ("127.0.0.1", port) else default_reason(guard, address, to_port)  # type: ignore[arg-type]

    monkeypatch.setattr(AddressGuard, "blocked_reason", first_hop_public)
    connects: list[object] = []
    real_connect = socket.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        connects.append(address)
        assert address[0] == "127.0.0.1", f"connect to {address} attempted"
        return real_connect(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", recording)
    server.routes["/feed"] = lambda _h: (301, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    url = f"{public_name}/feed"
    [outcome] = poll_once(make_config(sqlite_url, [url], allow_private_addresses=False))
    assert outcome.error_kind == "blocked_address"
    assert "redirect to http://169.254.169.254/latest/meta-data/ refused" in (outcome.error_message or "")
    row = feed_row(sqlite_url, url)  # still under its own URL: a hostile 301 moves nothing
    assert row.last_error_kind == "blocked_address" and row.error_count == 1
    assert server.count("/feed") == 1 and connects == [("127.0.0.1", port)]


def test_feeds_first_seen_in_an_ingested_archive_are_not_polled(server: FeedServer, sqlite_url: str, tmp_path: Path) -> None:
    # An archive may name any URL, internal ones included: only the config decides what is fetched.
    server.feed("/archived", feed_bytes(4))
    capture = tmp_path / "archived.xml"
    capture.write_bytes(feed_bytes(4))
    config = make_config(sqlite_url, [])
    ingest_paths(Pipeline(open_database(sqlite_url), config), [capture], url=f"{server.base}/archived", workers=0)
    assert scalar(sqlite_url, "SELECT COUNT(*) FROM feeds") == 1
    assert poll_once(config, everything=True) == []
    assert server.count("/archived") == 0


def test_ctrl_c_during_poll_exits_130_and_starts_no_further_feed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import threading

    # A server that accepts and never answers: the first poll hangs until its read timeout.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return  # closed at the end of the test

    threading.Thread(target=accept, daemon=True).start()
    lines = ["[database]", f'url = "sqlite:///{tmp_path / "poll.sqlite3"}"', "[polling]",
             "allow_private_addresses = true", "fetch_threads = 1", "read_timeout = 3.0"]
    for i in range(6):
        lines += ["[[feeds]]", f'url = "http://127.0.0.1:{port}/f{i}.xml"', f'publisher = "P{i}"']
    config = tmp_path / "tracker.toml"
    config.write_text("\n".join(lines) + "\n")
    child = subprocess.Popen([sys.executable, "-m", "tracker", "--config", str(config), "poll", "--all"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert accepted, "the poll never reached the server"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        listener.close()
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == "tracker: interrupted"
    assert len(accepted) == 1  # the poll in flight finished; the five feeds after it were not started

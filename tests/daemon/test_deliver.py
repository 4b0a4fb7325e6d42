"""Delivering alerts: to a local webhook and to files, once each, with retries and backoff,
leases between concurrent senders (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.builders import T0, Item, article, capture, hours, rss
from tests.feedserver import FeedServer, wait_until
from tests.daemon.test_scheduler import POLLING, STARTUP, DaemonProcess, Db, _env, daemons, server  # noqa: F401  (fixtures)
from tests.webhooks import WebhookReceiver
from tracker.cli import main
from tracker.config import Config, parse_config
from tracker.daemon.deliver import Deliverer, DeliveryThread, backoff_seconds, deliver_once, lease_seconds
from tracker.model import Capture, utcnow
from tracker.pipeline.capture import Pipeline
from tracker.store import outbox, schema_outbox
from tracker.store.database import open_database

KHAAMA = "https://www.khaama.com/feed/"
RU24 = "https://ru24.pro/rss"
FEEDS = [{"url": KHAAMA, "publisher": "Khaama Press"}, {"url": RU24, "publisher": "ru24.pro"}]


def stories(count: int, seed: int = 0) -> list[Capture]:
    """`count` Khaama stories, each mirrored by ru24: `count` copies."""
    originals, mirrors = [], []
    start = T0 + hours(10 * seed)
    for n in range(count):
        paragraphs = article(seed * 1000 + n, paragraphs=4, words=50)
        originals.append(Item(f"Story {seed}-{n}", f"https://www.khaama.com/{seed}-{n}/", paragraphs, start + hours(n / 10)))
        mirrors.append(Item(f"Story {seed}-{n}", f"https://ru24.pro/{seed}-{n}.html", ["ru24.pro", "News"] + paragraphs, start + hours(2 + n / 10)))
    return [
        capture(KHAAMA, start + hours(1), rss("Khaama Press", "https://www.khaama.com/", originals)),
        capture(RU24, start + hours(3), rss("ru24.pro", "https://ru24.pro/", mirrors, full_content=False)),
    ]


def make_config(url: str, alerts: list[dict[str, Any]], path: Path | None = None) -> Config:
    return parse_config({"database": {"url": url}, "feeds": FEEDS, "alerts": alerts}, path)


def rows(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        table = schema_outbox.AlertOutbox.__table__
        out = [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]
    engine.dispose()
    return out


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


def hook_alert(receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {"name": "desk", "publishers": ["Khaama Press"], "webhook": receiver.url, "timeout_seconds": 5.0, **extra}


# -- webhook ------------------------------------------------------------------------------------
def test_each_message_is_posted_once_with_its_headers(any_db_url: str, receiver: WebhookReceiver) -> None:
    config = make_config(any_db_url, [hook_alert(receiver, secret="s3cret", headers={"Authorization": "Bearer t0ken"})])
    Pipeline(open_database(any_db_url), config).ingest(stories(3))
    report = deliver_once(config)
    assert (report.delivered, report.retrying, report.failed) == (3, 0, 0)
    got = receiver.messages()
    assert len(got) == 3 and len(set(receiver.message_ids())) == 3
    for post in got:
        body = post.json
        assert post.headers["Content-Type"] == "application/json; charset=utf-8"
        assert post.headers["User-Agent"] == config.polling.user_agent
        assert post.headers["Idempotency-Key"] == post.message_id == body["message_id"]
        assert post.headers["Authorization"] == "Bearer t0ken"
        expected = hmac.new(b"s3cret", post.body, hashlib.sha256).hexdigest()
        assert post.headers["X-Tracker-Signature"] == f"sha256={expected}"
        assert [c["publisher"] for c in body["chain"]] == ["ru24.pro", "Khaama Press"]
    stored = rows(any_db_url)
    assert {(r["state"], r["attempts"], r["last_status"]) for r in stored} == {("delivered", 1, 200)}
    assert all(r["delivered_at"] is not None and r["claimed_by"] is None for r in stored)
    # Nothing is sent twice, by this process or the next.
    assert deliver_once(config).delivered == 0
    assert len(receiver.messages()) == 3


@pytest.fixture
def echoing_endpoint() -> Iterator[str]:
    """A webhook that refuses every POST, quoting what it was sent, as some APIs do."""

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            said = f"invalid credentials {self.headers.get('Authorization')} for https://desk:hunter2@{self.path}".encode()
            self.send_response(401)
            self.send_header("Content-Length", str(len(said)))
            self.end_headers()
            self.wfile.write(said)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook?token=HOOK-T0KEN-99"
    httpd.shutdown()
    httpd.server_close()


def test_an_answer_echoing_the_configs_secrets_is_stored_and_shown_with_them_masked(
        sqlite_url: str, echoing_endpoint: str) -> None:
    alert = {"name": "desk", "any": True, "webhook": echoing_endpoint, "secret": "SIGNING-S3CRET-77",
             "headers": {"Authorization": "Bearer BEARER-T0KEN-42"}, "max_attempts": 1}
    config = make_config(sqlite_url, [alert])
    Pipeline(open_database(sqlite_url), config).ingest(stories(1))
    report = deliver_once(config)
    assert report.failed == 1 and "invalid credentials" in report.errors[0]
    shown = "\n".join([*report.errors, *(r["last_error"] or "" for r in rows(sqlite_url))])
    for secret in ("BEARER-T0KEN-42", "HOOK-T0KEN-99", "hunter2"):
        assert secret not in shown


def _deliveries(outcome: str) -> float:
    from tracker.daemon.metrics import METRICS

    return METRICS.alert_deliveries.labels("webhook", outcome)._value.get()


def test_a_failing_endpoint_is_retried_with_backoff_then_delivered(any_db_url: str, receiver: WebhookReceiver) -> None:
    failed_before, delivered_before = _deliveries("failed"), _deliveries("delivered")
    config = make_config(any_db_url, [hook_alert(receiver, retry_seconds=1.0, max_retry_seconds=60.0)])
    Pipeline(open_database(any_db_url), config).ingest(stories(1))
    receiver.answer(500)
    deliverer = Deliverer(open_database(any_db_url), config)
    first = deliverer.deliver_due()
    assert (first.delivered, first.retrying) == (0, 1) and "HTTP 500" in first.errors[0]
    [row] = rows(any_db_url)
    assert (row["state"], row["attempts"], row["last_status"]) == ("pending", 1, 500)
    assert "HTTP 500" in row["last_error"]
    assert row["next_attempt_at"] - row["last_attempt_at"] == pytest.approx(timedelta(seconds=1), abs=timedelta(seconds=0.1))
    # Not due yet: nothing is sent.
    assert deliverer.deliver_due().delivered == 0 and len(receiver.messages()) == 1
    time.sleep(1.1)
    assert deliverer.deliver_due().delivered == 1
    deliverer.close()
    first_post, second_post = receiver.messages()
    assert first_post.message_id == second_post.message_id
    assert second_post.at - first_post.at >= 1.0
    [row] = rows(any_db_url)
    assert (row["state"], row["attempts"], row["last_status"], row["last_error"]) == ("delivered", 2, 200, None)
    # /metrics counts both attempts.
    assert (_deliveries("failed") - failed_before, _deliveries("delivered") - delivered_before) == (1, 1)


def test_backoff_doubles_up_to_its_cap_then_gives_up_and_retry_queues_again(
    tmp_path: Path, sqlite_url: str, receiver: WebhookReceiver,
) -> None:
    alert = hook_alert(receiver, retry_seconds=0.2, max_retry_seconds=0.8, max_attempts=5)
    config = make_config(sqlite_url, [alert])
    Pipeline(open_database(sqlite_url), config).ingest(stories(1))
    receiver.answer(500, 500, 500, 500, 500)
    deliverer = Deliverer(open_database(sqlite_url), config)
    wait_until(lambda: deliverer.deliver_due().failed, 10, "five failed attempts", interval=0.02)
    deliverer.close()
    times = [post.at for post in receiver.messages()]
    assert len(times) == 5
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for gap, expected in zip(gaps, [0.2, 0.4, 0.8, 0.8], strict=True):
        assert expected <= gap < expected + 0.5
    [row] = rows(sqlite_url)
    assert (row["state"], row["attempts"]) == ("failed", 5)
    config_file = tmp_path / "tracker.toml"
    config_file.write_text(
        f'[database]\nurl = "{sqlite_url}"\n\n[[alerts]]\nname = "desk"\npublishers = ["Khaama Press"]\nwebhook = "{receiver.url}"\n'
    )
    listing = CliRunner().invoke(main, ["--config", str(config_file), "alerts"])
    assert listing.exit_code == 0, listing.output
    assert "Failed (gave up" in listing.output and "5 attempts" in listing.output and "HTTP 500" in listing.output
    assert listing.output.splitlines()[1].split()[-3:] == ["0", "0", "1"]
    again = CliRunner().invoke(main, ["--config", str(config_file), "alerts", "--retry", "--deliver"])
    assert again.exit_code == 0, again.output
    assert "1 failed message queued again" in again.output and "alerts: 1 delivered" in again.output
    assert again.output.splitlines()[3].split()[-3:] == ["1", "0", "0"]
    assert len(receiver.accepted()) == 1


def test_backoff_schedule() -> None:
    alert = parse_config({"alerts": [{"name": "a", "any": True, "file": "x", "retry_seconds": 30, "max_retry_seconds": 3600}]}).alerts[0]
    assert [backoff_seconds(alert, n) for n in (1, 2, 3, 7, 8, 20)] == [30, 60, 120, 1920, 3600, 3600]
    assert backoff_seconds(alert, 1, retry_after=300) == 300
    assert backoff_seconds(alert, 1, retry_after=10**6) == 3600


def test_one_dead_endpoint_costs_one_attempt_per_backoff_not_one_per_message(
    sqlite_url: str, receiver: WebhookReceiver, tmp_path: Path,
) -> None:
    alerts = [hook_alert(receiver, retry_seconds=60.0), {"name": "log", "any": True, "file": str(tmp_path / "log.jsonl")}]
    config = make_config(sqlite_url, alerts)
    Pipeline(open_database(sqlite_url), config).ingest(stories(4))
    receiver.answer(500)
    report = deliver_once(config)
    assert (report.delivered, report.retrying) == (4, 1)  # the file alert is not held up
    assert len(receiver.messages()) == 1
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 4


# -- file ------------------------------------------------------------------------------------------
def test_file_destination_appends_json_lines_relative_to_the_config(any_db_url: str, tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    config = make_config(any_db_url, [{"name": "log", "any": True, "file": "alerts/copies.jsonl"}], config_dir / "tracker.toml")
    pipeline = Pipeline(open_database(any_db_url), config)
    pipeline.ingest(stories(2))
    assert deliver_once(config).delivered == 2
    pipeline.ingest(stories(1, seed=1))
    assert deliver_once(config).delivered == 1
    lines = (config_dir / "alerts" / "copies.jsonl").read_text(encoding="utf-8").splitlines()
    messages = [json.loads(line) for line in lines]
    assert len(messages) == 3 and len({m["message_id"] for m in messages}) == 3
    stored = {r["message_id"]: json.loads(r["payload"]) for r in rows(any_db_url)}
    assert {m["message_id"]: m for m in messages} == stored
    assert {m["copy"]["url"] for m in messages} == {"https://ru24.pro/0-0.html", "https://ru24.pro/0-1.html", "https://ru24.pro/1-0.html"}


def test_an_unwritable_file_is_retried(sqlite_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    config = make_config(sqlite_url, [{"name": "log", "any": True, "file": str(blocker / "x.jsonl")}])
    Pipeline(open_database(sqlite_url), config).ingest(stories(1))
    report = deliver_once(config)
    assert report.retrying == 1 and "cannot append" in report.errors[0]
    [row] = rows(sqlite_url)
    assert (row["state"], row["attempts"]) == ("pending", 1)


# -- leases -----------------------------------------------------------------------------------------
def test_concurrent_senders_never_send_one_message_twice(any_db_url: str, receiver: WebhookReceiver) -> None:
    config = make_config(any_db_url, [hook_alert(receiver)])
    Pipeline(open_database(any_db_url), config).ingest(stories(24))
    senders = [Deliverer(open_database(any_db_url), config) for _ in range(3)]
    start = threading.Barrier(len(senders))
    results: list[int] = []

    def run(sender: Deliverer) -> None:
        start.wait()
        results.append(sender.deliver_due().delivered)

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for sender in senders:
        sender.close()
    ids = receiver.message_ids()
    assert len(ids) == 24 and len(set(ids)) == 24
    assert sum(results) == 24
    assert {r["state"] for r in rows(any_db_url)} == {"delivered"}


def test_a_claim_held_by_a_dead_sender_is_taken_over_after_its_lease(any_db_url: str, receiver: WebhookReceiver) -> None:
    config = make_config(any_db_url, [hook_alert(receiver)])
    sessions = open_database(any_db_url)
    Pipeline(sessions, config).ingest(stories(1))
    now = utcnow()
    lease = timedelta(seconds=lease_seconds(config.alerts[0]))
    with sessions.begin() as session:
        claimed = outbox.claim_one(session, "dead-sender", ["desk"], now, now + lease)
    assert claimed is not None
    with sessions.begin() as session:  # a second claim before the lease ends gets nothing
        assert outbox.claim_one(session, "other", ["desk"], now, now + lease) is None
    assert deliver_once(config).delivered == 0
    with sessions.begin() as session:  # the lease runs out
        session.execute(sa.text("UPDATE alert_outbox SET claimed_until = :t"), {"t": now - timedelta(seconds=1)})
    assert deliver_once(config).delivered == 1
    assert receiver.message_ids() == [claimed.message_id]
    with sessions.begin() as session:  # the dead sender's late mark changes nothing
        assert not outbox.mark_delivered(session, claimed.id, "dead-sender", utcnow(), 200)


def test_messages_of_an_alert_removed_from_the_config_wait(sqlite_url: str, receiver: WebhookReceiver, tmp_path: Path) -> None:
    config = make_config(sqlite_url, [hook_alert(receiver)])
    Pipeline(open_database(sqlite_url), config).ingest(stories(1))
    assert deliver_once(make_config(sqlite_url, [{"name": "other", "any": True, "file": str(tmp_path / "o.jsonl")}])).delivered == 0
    assert receiver.messages() == [] and rows(sqlite_url)[0]["state"] == "pending"
    config_file = tmp_path / "tracker.toml"
    config_file.write_text(f'[database]\nurl = "{sqlite_url}"\n')
    listing = CliRunner().invoke(main, ["--config", str(config_file), "alerts"])
    assert "desk" in listing.output and "(no longer configured)" in listing.output


# -- the delivery thread --------------------------------------------------------------------------
def test_delivery_thread_delivers_and_stops_promptly_while_a_webhook_hangs(sqlite_url: str, receiver: WebhookReceiver) -> None:
    config = make_config(sqlite_url, [hook_alert(receiver, timeout_seconds=60.0)])
    pipeline = Pipeline(open_database(sqlite_url), config)
    pipeline.ingest(stories(1))
    thread = DeliveryThread(config)
    thread.start()
    try:
        wait_until(lambda: len(receiver.accepted()) == 1, 10, "the first message delivered")
        receiver.hang(60)  # the next one hangs
        pipeline.ingest(stories(1, seed=1))
        thread.wake()
        wait_until(lambda: len(receiver.messages()) == 2, 10, "the second message sent")
    finally:
        started = time.monotonic()
        thread.stop(grace=2.0)
        stopped_in = time.monotonic() - started
    assert stopped_in < 3.0
    states = sorted((r["state"], r["claimed_by"] is not None) for r in rows(sqlite_url))
    # The hung message stays claimed: sent again after its lease, with the same message id.
    assert states == [("delivered", False), ("pending", True)]


# -- the daemon (`tracker run` as a real process) ----------------------------------------------------


def copied_story(server: FeedServer, seed: int) -> list[tuple[str, str]]:
    """An original feed and a mirror feed carrying its story: one copy once both are polled."""
    paragraphs = article(seed, paragraphs=4, words=50)
    original = Item(f"Story {seed}", f"{server.base}/k/{seed}.html", paragraphs, T0)
    mirror = Item(f"Story {seed}", f"{server.base}/m/{seed}.html", ["Mirror", "News"] + paragraphs, T0 + hours(1))
    server.feed(f"/orig{seed}.xml", rss("Origin Daily", server.base + "/k/", [original]), etag=None)
    server.feed(f"/mirror{seed}.xml", rss("Mirror Site", server.base + "/m/", [mirror], full_content=False), etag=None)
    return [(server.url(f"/orig{seed}.xml"), "Origin Daily"), (server.url(f"/mirror{seed}.xml"), "Mirror Site")]


def daemon_config(path: Path, db_url: str, feeds: list[tuple[str, str]], alert: dict[str, Any]) -> Path:
    lines = ["[database]", f"url = {json.dumps(db_url)}", "", "[polling]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in POLLING.items()] + [""]
    for url, publisher in feeds:
        lines += ["[[feeds]]", f"url = {json.dumps(url)}", f"publisher = {json.dumps(publisher)}", ""]
    lines += ["[[alerts]]"] + [f"{key} = {json.dumps(value)}" for key, value in alert.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_kill_9_before_delivery_then_restart_delivers_exactly_once(
    tmp_path: Path, any_db_url: str, server: FeedServer, receiver: WebhookReceiver, daemons: Any,
) -> None:
    receiver.default = 503  # the endpoint is down during the first run
    feeds = copied_story(server, seed=11)
    alert = {"name": "desk", "publishers": ["Origin Daily"], "webhook": receiver.url, "timeout_seconds": 2.0,
             "retry_seconds": 0.3, "max_retry_seconds": 0.6}
    config = daemon_config(tmp_path / "tracker.toml", any_db_url, feeds, alert)
    db = Db(any_db_url)
    try:
        first = daemons(config)
        wait_until(lambda: len(receiver.messages()) >= 2, STARTUP, "two refused attempts", details=first.tail)
        first.proc.kill()
        assert first.wait_exit(5) == -9
        [(state, attempts)] = db.rows("SELECT state, attempts FROM alert_outbox")
        assert state == "pending" and attempts >= 1
        receiver.default = 200
        second = daemons(config)
        wait_until(lambda: receiver.accepted(), STARTUP, "the message delivered", details=second.tail)
        # Let the restarted daemon poll both feeds again a few times: nothing more is sent.
        second.wait_logged("poll", timeout=STARTUP, count=6, exact=True)
        second.send(15)
        assert second.wait_exit(10) == 0, second.tail()
        assert len(receiver.accepted()) == 1
        assert len(set(receiver.message_ids())) == 1  # every attempt carried the same message id
        [(state, attempts)] = db.rows("SELECT state, attempts FROM alert_outbox")
        assert state == "delivered" and attempts >= 2
        assert db.rows("SELECT COUNT(*) FROM republications")[0][0] == 1
        message = receiver.accepted()[0].json
        assert [c["publisher"] for c in message["chain"]] == ["Mirror Site", "Origin Daily"]
        assert second.logged("alert delivered")
    finally:
        db.close()


def test_kill_9_during_the_post_resends_it_with_the_same_message_id_after_the_lease(
    tmp_path: Path, sqlite_url: str, server: FeedServer, receiver: WebhookReceiver, daemons: Any,
) -> None:
    """The documented limit: the receiver got the message but the daemon died before marking it."""
    receiver.hang(30)
    feeds = copied_story(server, seed=12)
    alert = {"name": "desk", "any": True, "webhook": receiver.url, "timeout_seconds": 1.0}
    config = daemon_config(tmp_path / "tracker.toml", sqlite_url, feeds, alert)
    db = Db(sqlite_url)
    try:
        first = daemons(config)
        assert receiver.arrived.wait(STARTUP), first.tail()
        first.proc.kill()
        assert first.wait_exit(5) == -9
        receiver.hang(0)
        second = daemons(config)
        # Not before the dead daemon's lease (3 × 1 s + 10 s) runs out.
        wait_until(lambda: len(receiver.messages()) >= 2, STARTUP + 15, "the message sent again", details=second.tail)
        posts = receiver.messages()
        assert len(posts) == 2 and posts[0].message_id == posts[1].message_id
        assert posts[1].at - posts[0].at >= 10
        wait_until(lambda: db.rows("SELECT state FROM alert_outbox") == [("delivered",)], 10, "the row marked delivered")
    finally:
        db.close()


def test_polling_is_not_slowed_by_a_webhook_that_hangs_and_sigterm_is_prompt(
    tmp_path: Path, sqlite_url: str, server: FeedServer, receiver: WebhookReceiver, daemons: Any,
) -> None:
    receiver.hang(120)
    feeds = copied_story(server, seed=13)
    alpha = server.growing_feed("/alpha.xml", "Alpha", seed=14, initial=1)
    alert = {"name": "desk", "any": True, "webhook": receiver.url, "timeout_seconds": 60.0}
    config = daemon_config(tmp_path / "tracker.toml", sqlite_url, feeds + [(alpha.url, "Alpha")], alert)
    db = Db(sqlite_url)
    try:
        daemon = daemons(config)
        assert receiver.arrived.wait(STARTUP), daemon.tail()
        # The webhook hangs for a minute; new items are still stored within a poll or two.
        for _ in range(3):
            guids = alpha.publish(2)
            # Polls come every 1–2 s: a few seconds' slack for a loaded machine, far below the hang.
            wait_until(lambda g=guids: db.has_all(alpha, g), 8, "new items stored while the webhook hangs", details=daemon.tail)
        assert len(receiver.messages()) == 1  # still the one hanging POST
        started = time.monotonic()
        daemon.send(15)
        assert daemon.wait_exit(10) == 0, daemon.tail()
        assert time.monotonic() - started < 5
    finally:
        db.close()


def test_sighup_changes_what_is_watched_and_where_it_goes(
    tmp_path: Path, sqlite_url: str, server: FeedServer, receiver: WebhookReceiver, daemons: Any,
) -> None:
    first_story = copied_story(server, seed=15)
    config = daemon_config(tmp_path / "tracker.toml", sqlite_url, first_story,
                           {"name": "desk", "publishers": ["Nobody Press"], "webhook": receiver.url})
    db = Db(sqlite_url)
    try:
        daemon = daemons(config)
        wait_until(lambda: db.rows("SELECT COUNT(*) FROM republications") == [(1,)], STARTUP, "the first copy found",
                   details=daemon.tail)
        second_story = copied_story(server, seed=16)
        daemon_config(tmp_path / "tracker.toml", sqlite_url, first_story + second_story,
                      {"name": "desk", "any": True, "file": "copies.jsonl"})
        daemon.send(1)  # SIGHUP
        wait_until(lambda: (tmp_path / "copies.jsonl").exists() and (tmp_path / "copies.jsonl").read_text().endswith("\n"), STARTUP, "the second copy written to the file",
                   details=daemon.tail)
        [line] = (tmp_path / "copies.jsonl").read_text().splitlines()
        assert json.loads(line)["copy"]["url"] == f"{server.base}/m/16.html"
        assert receiver.messages() == []
        daemon.send(15)
        assert daemon.wait_exit(10) == 0
    finally:
        db.close()


def test_poll_delivers_for_cron_users(tmp_path: Path, sqlite_url: str, server: FeedServer, receiver: WebhookReceiver) -> None:
    config = daemon_config(tmp_path / "tracker.toml", sqlite_url, copied_story(server, seed=17),
                           {"name": "desk", "publishers": ["Origin Daily"], "webhook": receiver.url})
    result = CliRunner().invoke(main, ["--config", str(config), "poll", "--all"])
    assert result.exit_code == 0, result.output
    assert "1 republication found" in result.output and "alerts: 1 delivered, 0 to retry, 0 given up" in result.output
    assert len(receiver.accepted()) == 1
    again = CliRunner().invoke(main, ["--config", str(config), "poll", "--all"])
    assert "alerts: 0 delivered" in again.output and len(receiver.messages()) == 1


def test_a_line_torn_by_a_crash_does_not_swallow_the_next_message(sqlite_url: str, tmp_path: Path) -> None:
    target = tmp_path / "copies.jsonl"
    target.write_bytes(b'{"message_id": "earlier"}\n{"message_id": "torn-by-a-cra')
    config = make_config(sqlite_url, [{"name": "log", "any": True, "file": str(target)}])
    Pipeline(open_database(sqlite_url), config).ingest(stories(1))
    assert deliver_once(config).delivered == 1
    lines = target.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["copy"]["url"] == "https://ru24.pro/0-0.html"


def test_the_delivery_thread_does_not_name_the_database_the_daemon_named_already(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config(sqlite_url, [{"name": "desk", "any": True, "file": str(tmp_path / "a.jsonl")}])
    Pipeline(open_database(sqlite_url), config).ingest(stories(1))
    thread = DeliveryThread(config)
    with caplog.at_level("INFO", logger="tracker"):
        caplog.clear()  # what the set-up logged
        thread.start()
        try:
            wait_until(lambda: (tmp_path / "a.jsonl").exists(), 10, "the message written")
        finally:
            thread.stop()
    assert [r.getMessage() for r in caplog.records if r.levelname == "INFO"].count("database") == 0

"""Alerts: the config, which copies concern which alert, the message, and the outbox rows
written with the decision (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.builders import T0, Item, article, capture, hours, html, rss, wordpress_footer
from tests.pipeline.test_pipeline import DIGEST, FEEDS, KHAAMA, MIRRORS, RU24
from tracker.pipeline.alerts import Alerts
from tracker.cli import main
from tracker.config import parse_config
from tracker.errors import ConfigError
from tracker.model import Capture, utcnow
from tracker.pipeline.capture import Pipeline
from tracker.store import outbox as outbox_store
from tracker.store.database import open_database

TITLE = "Torkham crossing reopens to trade"
ORIGINAL_URL = "https://www.khaama.com/torkham-crossing-reopens/"
MIRROR_URL = "https://ru24.pro/70678-torkham.html"
DIGEST_URL = "https://headlinedigest.example/1.html"
MOM_URL = "https://mirrorofmirrors.example/9.html"
CHROME = ["ru24.pro", "News in English", "Январь", "2025", TITLE, "0"]


def network(paragraphs: list[str]) -> list[Capture]:
    """Khaama publishes; ru24 mirrors it; a digest excerpts it; a mirror copies ru24's copy."""
    footer = wordpress_footer(TITLE, ORIGINAL_URL, "https://www.khaama.com", "Khaama Press")
    original = Item(TITLE, ORIGINAL_URL, paragraphs, T0, guid=f"{ORIGINAL_URL}?p=1", summary=html(paragraphs[:1]) + footer)
    mirror_body = CHROME + paragraphs + [f"The post {TITLE} appeared first on Khaama Press."]
    mirror = Item(TITLE, MIRROR_URL, mirror_body, T0 + hours(2))
    excerpt = Item(TITLE, DIGEST_URL, paragraphs[:1] + [f"Read the full story at Khaama Press: {ORIGINAL_URL}"], T0 + hours(3))
    mom = Item(TITLE, MOM_URL, ["Reposted from around the web"] + mirror_body, T0 + hours(4))
    return [
        capture(KHAAMA, T0 + hours(0.5), rss("Khaama Press", "https://www.khaama.com/", [original])),
        capture(RU24, T0 + hours(2.5), rss("ru24.pro", "https://ru24.pro/", [mirror], full_content=False)),
        capture(DIGEST, T0 + hours(3.5), rss("Headline Digest", "https://headlinedigest.example/", [excerpt], full_content=False)),
        capture(MIRRORS, T0 + hours(4.5), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [mom], full_content=False)),
    ]


def config_with(url: str, alerts: list[dict[str, Any]], path: Path | None = None):  # type: ignore[no-untyped-def]
    return parse_config({"database": {"url": url}, "feeds": FEEDS, "alerts": alerts}, path)


def outbox(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(
            "SELECT o.alert, o.item_id, o.message_id, o.payload, o.state, o.attempts, i.url "
            "FROM alert_outbox o JOIN items i ON i.id = o.item_id ORDER BY o.id"
        )).mappings()]
    engine.dispose()
    return rows


def by_alert(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(row["alert"], set()).add(row["url"])
    return out


HOOK = "https://hooks.example/tracker"


# -- config -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("alert", "complaint"), [
    ({"name": "a", "publishers": ["X"]}, "exactly one of webhook or file"),
    ({"name": "a", "publishers": ["X"], "webhook": HOOK, "file": "a.jsonl"}, "exactly one of webhook or file"),
    ({"name": "a", "webhook": HOOK}, "watch something"),
    ({"name": "a", "any": True, "publishers": ["X"], "webhook": HOOK}, "any = true watches everything"),
    ({"name": "a", "any": True, "webhook": "ftp://x/y"}, "alerts.0.webhook"),
    ({"name": "a", "any": True, "file": "a.jsonl", "secret": "s"}, "apply to webhooks only"),
    ({"name": "a", "any": True, "webhook": HOOK, "retry_seconds": 10, "max_retry_seconds": 5}, "retry_seconds is larger"),
    ({"name": "a", "any": True, "webhook": HOOK, "colour": "red"}, "alerts.0.colour: unknown key"),
])
def test_bad_alert_config_is_refused_naming_the_problem(alert: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint.replace(".", r"\.")):
        parse_config({"alerts": [alert]})


def test_two_alerts_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="used twice"):
        parse_config({"alerts": [{"name": "a", "any": True, "webhook": HOOK}, {"name": "a", "any": True, "file": "x"}]})


def test_alert_defaults() -> None:
    alert = parse_config({"alerts": [{"name": "desk", "publishers": ["Khaama Press"], "webhook": HOOK}]}).alerts[0]
    assert (alert.timeout_seconds, alert.retry_seconds, alert.max_retry_seconds, alert.max_attempts) == (10.0, 30.0, 3600.0, 30)


# -- which copies, which message ------------------------------------------------------------------
def test_one_message_per_copy_of_a_watched_publisher_with_its_chain(any_db_url: str) -> None:
    config = config_with(any_db_url, [{"name": "khaama", "publishers": ["khaama press"], "webhook": HOOK}])
    Pipeline(open_database(any_db_url), config).ingest(network(article(1, paragraphs=8)))
    rows = outbox(any_db_url)
    assert by_alert(rows) == {"khaama": {MIRROR_URL, DIGEST_URL, MOM_URL}}
    assert len(rows) == 3 and {r["state"] for r in rows} == {"pending"} and {r["attempts"] for r in rows} == {0}
    messages = {r["url"]: json.loads(r["payload"]) for r in rows}
    mom = messages[MOM_URL]
    assert [c["url"] for c in mom["chain"]] == [MOM_URL, MIRROR_URL, ORIGINAL_URL]
    assert [c["publisher"] for c in mom["chain"]] == ["Mirror of Mirrors", "ru24.pro", "Khaama Press"]
    assert [c["relation"] for c in mom["chain"]] == ["copy", "copy", "original"]
    assert mom["copy"] == mom["chain"][0] and mom["original"] == mom["chain"][-1]
    assert mom["watched"] == {"rule": "publisher", "item_id": mom["original"]["item_id"], "publisher": "Khaama Press", "url": ORIGINAL_URL}
    assert mom["type"] == "republication" and mom["alert"] == "khaama" and mom["version"] == 1
    assert mom["message_id"] == next(r["message_id"] for r in rows if r["url"] == MOM_URL)
    assert mom["story_id"] == mom["original"]["item_id"]
    copy = mom["copy"]
    assert copy["parent_item_id"] == mom["chain"][1]["item_id"]
    assert 0.5 <= copy["similarity"] <= 1.0 and copy["lag_seconds"] > 0
    assert copy["first_seen_at"].endswith("Z") and copy["title"] == TITLE
    assert messages[DIGEST_URL]["copy"]["relation"] == "excerpt"
    assert [c["url"] for c in messages[DIGEST_URL]["chain"]] == [DIGEST_URL, ORIGINAL_URL]


def test_watch_by_url_prefix_publisher_of_a_copy_or_any(any_db_url: str) -> None:
    alerts = [
        {"name": "ru24-prefix", "url_prefixes": ["https://ru24.pro/"], "file": "ru24.jsonl"},
        {"name": "ru24-name", "publishers": ["ru24.pro"], "file": "ru24.jsonl"},
        {"name": "khaama-prefix", "url_prefixes": ["https://www.khaama.com/torkham"], "file": "k.jsonl"},
        {"name": "everything", "any": True, "file": "all.jsonl"},
        {"name": "nobody", "publishers": ["Nobody Press"], "url_prefixes": ["https://nobody.example/"], "file": "n.jsonl"},
    ]
    Pipeline(open_database(any_db_url), config_with(any_db_url, alerts)).ingest(network(article(2, paragraphs=8)))
    assert by_alert(outbox(any_db_url)) == {
        # The mirror of mirrors copies ru24's copy: ru24 is watched through the chain.
        "ru24-prefix": {MOM_URL},
        "ru24-name": {MOM_URL},
        "khaama-prefix": {MIRROR_URL, DIGEST_URL, MOM_URL},
        "everything": {MIRROR_URL, DIGEST_URL, MOM_URL},
    }


def test_no_alerts_configured_queues_nothing(sqlite_url: str) -> None:
    Pipeline(open_database(sqlite_url), config_with(sqlite_url, [])).ingest(network(article(3, paragraphs=8)))
    assert outbox(sqlite_url) == []


def test_a_copy_is_queued_once_across_re_ingests_and_restarts(any_db_url: str) -> None:
    config = config_with(any_db_url, [{"name": "all", "any": True, "webhook": HOOK}])
    captures = network(article(4, paragraphs=8))
    Pipeline(open_database(any_db_url), config).ingest(captures[:2])
    assert by_alert(outbox(any_db_url)) == {"all": {MIRROR_URL}}
    # A restarted process sees the rest, and the first captures again.
    Pipeline(open_database(any_db_url), config).ingest(captures[1:] + captures[:2])
    rows = outbox(any_db_url)
    assert sorted(r["url"] for r in rows) == sorted([MIRROR_URL, DIGEST_URL, MOM_URL])


def test_the_outbox_row_and_the_decision_commit_or_roll_back_together(
    any_db_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash after queueing but before commit leaves neither the copy nor its alert."""
    config = config_with(any_db_url, [{"name": "all", "any": True, "webhook": HOOK}])
    captures = network(article(5, paragraphs=8))
    real = Alerts.enqueue

    def crash_after_queueing(self: Alerts, session: Any, copies: Any, changed: Any = ()) -> int:
        queued = real(self, session, copies, changed)
        if queued:
            raise RuntimeError("crash between queueing and commit")
        return queued

    monkeypatch.setattr(Alerts, "enqueue", crash_after_queueing)
    pipeline = Pipeline(open_database(any_db_url), config)
    pipeline.process(captures[0])
    with pytest.raises(RuntimeError):
        pipeline.process(captures[1])
    engine = sa.create_engine(any_db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM republications")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT COUNT(*) FROM alert_outbox")).scalar_one() == 0
    engine.dispose()
    monkeypatch.setattr(Alerts, "enqueue", real)
    # The restarted process stores the capture again: decision and alert together, once.
    Pipeline(open_database(any_db_url), config).ingest(captures)
    rows = outbox(any_db_url)
    assert sorted(r["url"] for r in rows) == sorted([MIRROR_URL, DIGEST_URL, MOM_URL])


# -- `tracker alerts` ---------------------------------------------------------------------------
def test_alerts_command_lists_pending_and_counts(tmp_path: Path, sqlite_url: str) -> None:
    config_file = tmp_path / "tracker.toml"
    config_file.write_text(
        f'[database]\nurl = "{sqlite_url}"\n\n'
        + "".join(f'[[feeds]]\nurl = "{f["url"]}"\npublisher = "{f["publisher"]}"\n\n' for f in FEEDS)
        + f'[[alerts]]\nname = "khaama"\npublishers = ["Khaama Press"]\nwebhook = "{HOOK}"\n'
    )
    runner = CliRunner()
    nothing = runner.invoke(main, ["--config", str(config_file), "alerts"])
    assert nothing.exit_code == 3 and "no database at" in nothing.output  # and none was created
    open_database(sqlite_url)  # an empty database: the alert is listed with nothing to send
    empty = runner.invoke(main, ["--config", str(config_file), "alerts"])
    assert empty.exit_code == 0, empty.output
    assert "khaama" in empty.output and "Pending" not in empty.output
    config = config_with(sqlite_url, [{"name": "khaama", "publishers": ["Khaama Press"], "webhook": HOOK}])
    Pipeline(open_database(sqlite_url), config).ingest(network(article(6, paragraphs=8)))
    result = runner.invoke(main, ["--config", str(config_file), "alerts"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["alert", "destination", "delivered", "pending", "failed"]
    assert lines[1].split() == ["khaama", HOOK, "0", "3", "0"]
    assert "Pending:" in result.output and result.output.count("0 attempts, due now") == 3
    assert "Mirror of Mirrors" in result.output and "ru24.pro" in result.output
    # One send failed (the endpoint down), and its retry is overdue: nobody is sending.
    sessions = open_database(sqlite_url)
    with sessions.begin() as session:
        claimed = outbox_store.claim_one(session, "test", ["khaama"], utcnow(), utcnow() + timedelta(minutes=1))
        assert claimed is not None
        outbox_store.mark_attempt_failed(session, claimed.id, "test", utcnow(), 503, "HTTP 503", utcnow() - timedelta(minutes=5), give_up=False)
    retried = runner.invoke(main, ["--config", str(config_file), "alerts"]).output
    assert retried.count("0 attempts, due now") == 2
    assert "1 attempt, retry due since" in retried and "waiting for a sender" in retried and "last error: HTTP 503" in retried


def test_the_commented_alerts_of_the_example_config_are_valid() -> None:
    import tomllib

    text = (Path(__file__).resolve().parents[2] / "config" / "tracker.toml").read_text(encoding="utf-8")
    part = text[text.index("# [[alerts]]"):]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else "" for line in part.splitlines())
    alerts = parse_config(tomllib.loads(uncommented)).alerts
    assert [(a.name, a.any, a.publishers) for a in alerts] == [
        ("khaama-desk", False, ["Khaama Press"]), ("everything-to-a-file", True, []),
    ]

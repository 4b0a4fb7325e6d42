"""Alerts taken back: a copy that turns out to be none (an earlier sighting arrives late)
has its message withdrawn unseen, or retracted once delivered; found again, it is told
again (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from tests.builders import T0, Item, article, capture, hours, rss
from tests.pipeline.test_alerts import config_with
from tests.pipeline.test_pipeline import KHAAMA, MIRRORS, RU24
from tracker.answers.alerts import alerts_report
from tracker.model import Capture
from tracker.pipeline.capture import Pipeline
from tracker.store.database import open_database

TITLE = "Salang tunnel closed after avalanche"
KHAAMA_URL = "https://www.khaama.com/salang-tunnel-closed/"
RU24_URL = "https://ru24.pro/801-salang.html"
MOM_URL = "https://mirrorofmirrors.example/salang.html"
PARAGRAPHS = article(61, paragraphs=6)
CHROME = ["ru24.pro", "News in English", "Январь", "2025", TITLE, "0"]
ALERTS = [{"name": "khaama", "publishers": ["Khaama Press"], "file": "k.jsonl"}]


def khaama(when: float, claimed: float) -> Capture:
    item = Item(TITLE, KHAAMA_URL, PARAGRAPHS, T0 + hours(claimed), guid=KHAAMA_URL)
    return capture(KHAAMA, T0 + hours(when), rss("Khaama Press", "https://www.khaama.com/", [item]))


def ru24(when: float, claimed: float) -> Capture:
    # An uncredited copy under ru24's header lines: only the times say who was first.
    item = Item(TITLE, RU24_URL, [*CHROME, *PARAGRAPHS], T0 + hours(claimed))
    return capture(RU24, T0 + hours(when), rss("ru24.pro", "https://ru24.pro/", [item], full_content=False))


def mirror_of_ru24(when: float) -> Capture:
    item = Item(TITLE, MOM_URL, ["Reposted from around the web", *CHROME, *PARAGRAPHS], T0 + hours(when))
    return capture(MIRRORS, T0 + hours(when), rss("Mirror of Mirrors", "https://mirrorofmirrors.example/", [item], full_content=False))


def messages(url: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(
            "SELECT o.id, o.alert, o.kind, o.round, o.state, o.message_id, o.payload, i.url "
            "FROM alert_outbox o JOIN items i ON i.id = o.item_id ORDER BY o.id"
        )).mappings()]
    engine.dispose()
    return rows


def deliver_all(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alert_outbox SET state = 'delivered'"))
    engine.dispose()


def ingest(url: str, captures: list[Capture]) -> None:
    Pipeline(open_database(url), config_with(url, ALERTS)).ingest(captures)


def test_a_message_nobody_received_is_taken_back_unseen(any_db_url: str) -> None:
    ingest(any_db_url, [khaama(2, 1.5), ru24(3, 2.5)])
    assert [(m["url"], m["kind"]) for m in messages(any_db_url)] == [(RU24_URL, "republication")]
    # ru24's feed, captured an hour before Khaama published, already held the article.
    ingest(any_db_url, [ru24(1, 0.8)])
    assert messages(any_db_url) == []


def test_a_delivered_message_is_retracted_and_a_copy_found_again_is_told_again(any_db_url: str) -> None:
    ingest(any_db_url, [khaama(2, 1.5), ru24(3, 2.5)])
    deliver_all(any_db_url)
    told = messages(any_db_url)[0]
    ingest(any_db_url, [ru24(1, 0.8)])
    rows = messages(any_db_url)
    assert [(m["url"], m["kind"], m["round"], m["state"]) for m in rows] == [
        (RU24_URL, "republication", 0, "delivered"), (RU24_URL, "retraction", 0, "pending"),
    ]
    retraction = json.loads(rows[1]["payload"])
    assert retraction["type"] == "retraction" and retraction["retracts"] == told["message_id"]
    assert retraction["reason"] == "no longer a copy" and retraction["item"]["url"] == RU24_URL
    assert retraction["item"]["relation"] == "original" and retraction["message_id"] == rows[1]["message_id"]
    listed = alerts_report(open_database(any_db_url), config_with(any_db_url, ALERTS))
    assert f"khaama: retraction of ru24.pro “{TITLE}”" in listed
    # Then an older capture of Khaama's feed: it published first after all. Told again, anew.
    deliver_all(any_db_url)
    ingest(any_db_url, [khaama(0.5, 0.2)])
    rows = messages(any_db_url)
    assert [(m["url"], m["kind"], m["round"]) for m in rows][2:] == [(RU24_URL, "republication", 1)]
    assert json.loads(rows[2]["payload"])["chain"][-1]["url"] == KHAAMA_URL


def test_a_copy_of_a_withdrawn_copy_is_retracted_too(any_db_url: str) -> None:
    # The mirror copies ru24's copy of Khaama: told as Khaama's story. Once ru24 proves first,
    # the mirror's chain no longer reaches Khaama, though its own parent is unchanged.
    ingest(any_db_url, [khaama(2, 1.5), ru24(3, 2.5), mirror_of_ru24(4)])
    assert {m["url"] for m in messages(any_db_url)} == {RU24_URL, MOM_URL}
    deliver_all(any_db_url)
    ingest(any_db_url, [ru24(1, 0.8)])
    retracted = {m["url"]: json.loads(m["payload"]) for m in messages(any_db_url) if m["kind"] == "retraction"}
    assert set(retracted) == {RU24_URL, MOM_URL}
    assert retracted[MOM_URL]["reason"] == "no longer a copy of what this alert watches"
    assert [c["url"] for c in retracted[MOM_URL]["chain"]] == [MOM_URL, RU24_URL]

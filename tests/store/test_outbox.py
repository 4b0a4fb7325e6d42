"""The outbox's SQL on SQLite and PostgreSQL: the migration matches the model, enqueue is
idempotent, claims go oldest-due first and respect leases, chains survive bad data."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.builders import T0, Item, article, capture, hours, rss
from tests.conftest import make_pipeline
from tracker.model import utcnow
from tracker.store import outbox, schema
from tracker.store.database import open_database

FEEDS = [{"url": "https://a.example/rss", "publisher": "A"}, {"url": "https://b.example/rss", "publisher": "B"}]


def two_items(url: str) -> tuple[int, int]:
    """Two items of different publishers (B's a copy of A's); their ids."""
    paragraphs = article(42, paragraphs=4, words=50)
    make_pipeline(url, FEEDS).ingest([
        capture(FEEDS[0]["url"], T0 + hours(1), rss("A", "https://a.example/", [Item("S", "https://a.example/1", paragraphs, T0)])),
        capture(FEEDS[1]["url"], T0 + hours(2), rss("B", "https://b.example/", [Item("S", "https://b.example/1", paragraphs, T0 + hours(1))])),
    ])
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT url, item_id FROM item_provenance")).all())
    engine.dispose()
    return ids["https://a.example/1"], ids["https://b.example/1"]


def test_the_migration_creates_the_outbox_the_model_describes(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    engine = sessions.kw["bind"]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.Base.metadata)
    assert [d for d in diff if "alert_outbox" in repr(d)] == []
    engine.dispose()


def test_enqueue_is_idempotent_per_alert_and_copy(any_db_url: str) -> None:
    _, copy = two_items(any_db_url)
    sessions = open_database(any_db_url)
    now = utcnow()
    row = {"alert": "a", "item_id": copy, "payload": "{}", "created_at": now}
    with sessions.begin() as session:
        assert outbox.enqueue(session, [{**row, "message_id": "m1"}, {**row, "alert": "b", "message_id": "m2"}]) == 2
    with sessions.begin() as session:
        assert outbox.enqueue(session, [{**row, "message_id": "m3"}]) == 0
        assert outbox.counts(session) == {"a": {"pending": 1, "delivered": 0, "failed": 0},
                                          "b": {"pending": 1, "delivered": 0, "failed": 0}}


def test_claims_take_the_oldest_due_message_of_the_named_alerts(any_db_url: str) -> None:
    original, copy = two_items(any_db_url)
    sessions = open_database(any_db_url)
    now = utcnow()
    rows = [
        {"alert": "late", "item_id": copy, "message_id": "late", "payload": "{}", "created_at": now + timedelta(hours=1)},
        {"alert": "old", "item_id": copy, "message_id": "old", "payload": "{}", "created_at": now - timedelta(minutes=5)},
        {"alert": "new", "item_id": copy, "message_id": "new", "payload": "{}", "created_at": now - timedelta(minutes=1)},
        {"alert": "old", "item_id": original, "message_id": "other", "payload": "{}", "created_at": now},
    ]
    with sessions.begin() as session:
        outbox.enqueue(session, rows)
    lease = now + timedelta(seconds=30)
    claimed = []
    with sessions.begin() as session:
        while (message := outbox.claim_one(session, "me", ["old", "new", "late"], now, lease)) is not None:
            claimed.append(message.message_id)
    assert claimed == ["old", "new", "other"]  # "late" is not due yet
    with sessions.begin() as session:
        assert outbox.claim_one(session, "you", ["old", "new", "late"], now + timedelta(seconds=29), lease) is None
        assert outbox.claim_one(session, "you", ["new"], now + timedelta(seconds=31), lease) is not None
        assert outbox.claim_one(session, "you", ["elsewhere"], now + timedelta(hours=2), lease) is None


def test_chain_stops_at_a_loop_in_bad_data(any_db_url: str) -> None:
    original, copy = two_items(any_db_url)
    sessions = open_database(any_db_url)
    with sessions.begin() as session:
        assert [r["item_id"] for r in outbox.chain(session, copy)] == [copy, original]
        session.execute(sa.update(schema.Provenance).where(schema.Provenance.item_id == original).values(parent_item_id=copy))
        assert [r["item_id"] for r in outbox.chain(session, copy)] == [copy, original]
        session.rollback()

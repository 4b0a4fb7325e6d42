"""What the metrics' database gauges read: feeds by state, items, republications, ingest times."""

from __future__ import annotations

import sqlalchemy as sa

from tests.builders import T0, article, capture, hours
from tests.conftest import make_pipeline
from tests.pipeline.test_pipeline import FEEDS, KHAAMA, seed_captures
from tracker.store.gauges import ping, read_gauges


def test_gauges_count_feeds_by_state_items_and_republications(any_db_url: str) -> None:
    pipeline = make_pipeline(any_db_url, FEEDS)
    pipeline.register_feeds()
    pipeline.ingest(seed_captures(article(71)))
    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:
        urls = [f["url"] for f in FEEDS]
        conn.execute(sa.text("UPDATE feeds SET error_count = 3, last_success_at = :t WHERE url = :u"), {"u": urls[1], "t": T0 + hours(1)})
        conn.execute(sa.text("UPDATE feeds SET retired_at = :t WHERE url = :u"), {"u": urls[2], "t": T0})
        conn.execute(sa.text("UPDATE feeds SET active = :f, last_checked_at = :t WHERE url = :u"), {"u": urls[3], "f": False, "t": T0})
        conn.execute(sa.text("UPDATE feeds SET last_success_at = :t WHERE url = :u"), {"u": urls[0], "t": T0 + hours(5)})
    engine.dispose()

    with pipeline.sessions() as session:
        ping(session)
        gauges = read_gauges(session)
    assert gauges.feeds == {"gone": 1, "failing": 1, "moved": 0, "active": 1, "inactive": 1, "archived": 0}
    assert gauges.items == 2
    assert gauges.republications == 1
    # The ru24 capture (T0 + 2.5 h) is the newest of the two.
    assert gauges.newest_capture_at == T0 + hours(2.5)
    assert gauges.last_success_at == T0 + hours(5)


def test_gauges_of_an_empty_database(any_db_url: str) -> None:
    pipeline = make_pipeline(any_db_url, [])
    with pipeline.sessions() as session:
        gauges = read_gauges(session)
    assert gauges.feeds == {"gone": 0, "failing": 0, "moved": 0, "active": 0, "inactive": 0, "archived": 0}
    assert (gauges.items, gauges.republications, gauges.newest_capture_at, gauges.last_success_at) == (0, 0, None, None)


def test_newest_capture_is_the_latest_across_feeds(sqlite_url: str) -> None:
    pipeline = make_pipeline(sqlite_url, FEEDS)
    captures = seed_captures(article(72))
    late = capture(KHAAMA, T0 + hours(9), captures[0].body or b"")
    pipeline.ingest([*captures, late])
    with pipeline.sessions() as session:
        assert read_gauges(session).newest_capture_at == T0 + hours(9)

"""Feed leases: what two workers claiming from one database each get (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from tracker.model import utcnow
from tracker.store import leases
from tracker.store.database import open_database
from tracker.ingest.shares import parse_share, share_of
from tracker.errors import InputError

LEASE = 30.0


def _feeds(sessions: sessionmaker[Session], urls: list[str], due: bool = True) -> None:
    now = utcnow()
    with sessions.begin() as session:
        session.execute(sa.text("INSERT INTO publishers (name) VALUES ('p')"))
        for url in urls:
            session.execute(
                sa.text("INSERT INTO feeds (url, publisher_id, added_at, active, error_count, next_check_at) VALUES (:u, 1, :t, :a, 0, :n)"),
                {"u": url, "t": now, "a": True, "n": now - timedelta(seconds=1) if due else now + timedelta(hours=1)},
            )


def _claim(sessions: sessionmaker[Session], owner: str, **options: object) -> list[str]:
    with sessions.begin() as session:
        return [f.url for f in leases.claim(session, owner, utcnow(), LEASE, **options)]  # type: ignore[arg-type]


def _host(url: str) -> str:
    return url.split("/")[2]


def test_two_workers_never_hold_one_feed_and_the_first_due_go_first(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    urls = [f"https://site{i}.example/rss" for i in range(5)]
    _feeds(sessions, urls)
    first = _claim(sessions, "a", limit=3)
    second = _claim(sessions, "b", limit=3)
    assert first == urls[:3] and second == urls[3:]
    assert _claim(sessions, "c", limit=3) == []  # all leased, none expired


def test_per_host_counts_the_leases_of_every_worker(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    urls = [f"https://busy.example/{i}.xml" for i in range(4)] + ["https://quiet.example/rss"]
    _feeds(sessions, urls)
    assert _claim(sessions, "a", limit=1, per_host=2, host=_host) == urls[:1]
    # b may add one feed of busy.example (a holds one), and takes quiet.example instead of a third.
    assert _claim(sessions, "b", limit=3, per_host=2, host=_host) == [urls[1], urls[4]]


def test_an_expired_lease_is_taken_over_and_its_old_holder_can_neither_renew_nor_finish(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    _feeds(sessions, ["https://one.example/rss"])
    now = utcnow()
    with sessions.begin() as session:
        [feed] = leases.claim(session, "dead", now - timedelta(seconds=LEASE + 1), LEASE, everything=True)
    assert _claim(sessions, "alive") == ["https://one.example/rss"]
    with sessions.begin() as session:
        assert not leases.renew(session, feed.feed_id, "dead", now, LEASE)
        assert not leases.finish(session, feed.feed_id, "dead", {"error_count": 7})
        assert leases.renew(session, feed.feed_id, "alive", now, LEASE)
        assert leases.finish(session, feed.feed_id, "alive", {"error_count": 1})
    with sessions() as session:
        row = session.execute(sa.text("SELECT error_count, lease_owner, lease_until FROM feeds")).one()
    assert tuple(row) == (1, None, None)


def test_released_leases_and_the_leases_of_dead_workers_are_free_at_once(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    urls = [f"https://site{i}.example/rss" for i in range(3)]
    _feeds(sessions, urls)
    _claim(sessions, "a", limit=2)
    _claim(sessions, "b", limit=1)
    with sessions.begin() as session:
        assert leases.release(session, "a", None) == 2
        assert leases.release_owners(session, ["b"]) == 1
    assert _claim(sessions, "c") == urls


def test_everything_claims_feeds_not_due_yet_but_never_leased_ones(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    _feeds(sessions, ["https://later.example/rss"], due=False)
    assert _claim(sessions, "a") == []
    assert _claim(sessions, "a", everything=True) == ["https://later.example/rss"]
    assert _claim(sessions, "b", everything=True) == []


@pytest.mark.postgres
def test_a_row_locked_by_another_transaction_is_skipped_not_waited_for(pg_url: str) -> None:
    sessions = open_database(pg_url)
    urls = ["https://locked.example/rss", "https://free.example/rss"]
    _feeds(sessions, urls)
    with sessions.begin() as holder:
        # Another worker's transaction is writing the first feed's row (storing a poll, say).
        holder.execute(sa.text("SELECT id FROM feeds WHERE url = :u FOR UPDATE"), {"u": urls[0]})
        engine = sa.create_engine(pg_url, connect_args={"options": "-c lock_timeout=5000"})
        try:
            with Session(engine) as session, session.begin():
                taken = [f.url for f in leases.claim(session, "b", utcnow(), LEASE)]
        finally:
            engine.dispose()
    assert taken == [urls[1]]


def test_captures_are_shared_by_feed_url_stably_and_shares_are_checked() -> None:
    urls = [f"https://site{i}.example/rss" for i in range(200)]
    shares = [share_of(url, 2) for url in urls]
    assert shares == [share_of(url, 2) for url in urls] and set(shares) == {0, 1}
    assert 60 < shares.count(0) < 140
    assert share_of("https://khaama.com/feed", 2) == share_of("https://khaama.com/feed", 2)
    assert parse_share("1/2") == (1, 2)
    for bad in ("2/2", "x/2", "1", "-1/2"):
        with pytest.raises(InputError):
            parse_share(bad)

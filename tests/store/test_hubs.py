"""Hub buckets: a candidate lookup reads at most the first members of a crowded bucket."""

from __future__ import annotations

import threading

import pytest

from tracker.detection.lsh import strongest
from tracker.store import buckets, hubs
from tracker.store.database import open_database


def test_a_crowded_bucket_is_read_up_to_its_earliest_members(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    with sessions.begin() as session:
        for item_id in range(1, 41):
            buckets.add_buckets(session, item_id, [7] + ([-9] if item_id % 10 == 0 else []), new=True)
    with sessions() as session:
        members = hubs.bucket_members(session, [7, -9, 12345], cap=8)
        everything = buckets.bucket_members(session, [7, -9])
    assert members == {7: set(range(1, 9)), -9: {10, 20, 30, 40}}
    assert everything[7] == set(range(1, 41))


def test_candidates_are_those_sharing_most_buckets_earliest_first() -> None:
    members = {1: {5, 6, 7, 8}, 2: {6, 7}, 3: {7}}
    assert strongest([1, 2, 3], members, own=5, limit=2) == {6, 7}
    assert strongest([1, 2], members, own=5, limit=2) == {6, 7}
    assert strongest([1], members, own=5, limit=2) == {6, 7}
    assert strongest([1, 2, 3], members, own=5) == {6, 7, 8}


def test_buckets_added_together_fill_as_added_one_by_one(any_db_url: str) -> None:
    sessions = open_database(any_db_url)
    with sessions.begin() as session:
        buckets.add_buckets_many(session, [(item_id, [7], True) for item_id in range(1, buckets.BUCKET_CAP - 2)])
    with sessions.begin() as session:
        # Item 5 holds bucket 7 already (kept once); 100, 101, 102 take its last free places.
        buckets.add_buckets_many(session, [(5, [7, 9], False)] + [(item_id, [7, 8], True) for item_id in range(100, 106)])
    with sessions() as session:
        members = buckets.bucket_members(session, [7, 8, 9])
    assert len(members[7]) == buckets.BUCKET_CAP
    assert {100, 101, 102} <= members[7] and not {103, 104, 105} & members[7]
    assert members[8] == set(range(100, 106)) and members[9] == {5}


# Also with the transaction keeping at most 2 buckets known: past `KNOWN_BUCKETS` they are
# read back from SQL, with the transaction's own rows.
@pytest.mark.parametrize("known_buckets", [hubs.KNOWN_BUCKETS, 2])
def test_a_lookup_in_the_transaction_that_filled_the_buckets_sees_what_a_later_one_reads(
    any_db_url: str, known_buckets: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hubs, "KNOWN_BUCKETS", known_buckets)
    sessions = open_database(any_db_url)
    with sessions.begin() as session:
        buckets.add_buckets_many(session, [(item_id, [7, item_id], True) for item_id in range(50, 90)])
    with sessions.begin() as session:
        # Earlier items join a crowded bucket (in item order among its members), one leaves it.
        buckets.add_buckets_many(session, [(item_id, [7, 8], True) for item_id in range(1, 30)])
        buckets.remove_buckets(session, 50, [7])
        buckets.add_buckets_many(session, [(item_id, [7, 8], True) for item_id in range(100, 104)])
        during = hubs.bucket_members(session, [7, 8, 55, 99], cap=32)
    with sessions() as session:
        after = hubs.bucket_members(session, [7, 8, 55, 99], cap=32)
    assert {b: set(m) for b, m in during.items()} == after
    # Bucket 7 held 40 and took 24 more (the cap: 64), 50 left it and 100 took its place.
    assert after[7] == set(range(1, 25)) | set(range(51, 59))
    assert after[8] == set(range(1, 30)) | {100, 101, 102}


@pytest.mark.postgres
def test_a_writer_fills_a_bucket_only_after_the_one_filling_it_commits(pg_url: str) -> None:
    """PostgreSQL: what a transaction read of a bucket stays true while it fills it (the
    cap is exact, and its lookups need not read again): another writer waits for it."""
    sessions = open_database(pg_url)
    first = sessions()
    first.begin()
    buckets.add_buckets_many(first, [(item_id, [7], True) for item_id in range(1, buckets.BUCKET_CAP)])
    done = threading.Event()

    def second() -> None:
        with sessions.begin() as session:
            buckets.add_buckets_many(session, [(item_id, [7], True) for item_id in (500, 501)])
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not done.wait(1.0)  # waiting for the first writer's bucket
    first.commit()
    first.close()
    thread.join(10)
    assert done.is_set()
    with sessions() as session:
        members = buckets.bucket_members(session, [7])[7]
    # The first writer's 63 and one of the second's: the cap, not 65.
    assert len(members) == buckets.BUCKET_CAP and 500 in members and 501 not in members


def test_a_transaction_filling_more_buckets_than_it_keeps_known_reads_them_back(any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # One capture of thousands of new texts fills millions of buckets: past KNOWN_BUCKETS
    # they are read back from SQL, with the transaction's own rows, and the cap still holds.
    monkeypatch.setattr(hubs, "KNOWN_BUCKETS", 2)
    sessions = open_database(any_db_url)
    with sessions.begin() as session:
        for item_id in range(200, 201 + buckets.BUCKET_CAP):  # one more than bucket 31 takes
            buckets.add_buckets_many(session, [(item_id, [31, 32, item_id], True)])
            known = hubs.known_members(session)
            assert known is not None and len(known.members) <= 2 + 3
        during = hubs.bucket_members(session, [31, 32], cap=buckets.BUCKET_CAP)
    with sessions() as session:
        after = buckets.bucket_members(session, [31, 32])
    first = set(range(200, 200 + buckets.BUCKET_CAP))
    assert {b: set(m) for b, m in during.items()} == after == {31: first, 32: first}

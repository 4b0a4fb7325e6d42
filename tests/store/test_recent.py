"""The LSH index's recent tier (SQLite): rows appended to the log, held in memory and merged
in bulk read as one index, across transactions rolled back and processes taking turns."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from tests.builders import article
from tests.conftest import alembic, make_pipeline
from tests.pipeline.test_pipeline import FEEDS, network
from tracker.store import buckets, hubs, locks, recent
from tracker.store.database import open_database


class _RollBack(Exception):
    pass


def _filled(model: dict[int, set[int]]) -> dict[int, set[int]]:
    return {bucket: items for bucket, items in model.items() if items}


def _change(session: object, rng: random.Random, keys: list[int], index: dict[int, set[int]], items: list[int]) -> None:
    """One random change to the index, made in `session` and in the model `index`."""
    if rng.random() < 0.3 and items:
        item_id, gone = rng.choice(items), rng.sample(keys, 4)
        buckets.remove_buckets(session, item_id, gone)  # type: ignore[arg-type]
        for bucket in gone:
            index.get(bucket, set()).discard(item_id)
        return
    additions = []
    for _ in range(rng.randint(1, 4)):
        again = bool(items) and rng.random() < 0.3
        item_id = rng.choice(items) if again else max(items, default=0) + 1
        items.append(item_id)
        chosen = rng.sample(keys, rng.randint(1, 5))
        additions.append((item_id, chosen, not again))
        for bucket in chosen:
            held = index.setdefault(bucket, set())
            if item_id not in held and len(held) < buckets.BUCKET_CAP:
                held.add(item_id)
    buckets.add_buckets_many(session, additions)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(5))
def test_the_tiers_read_as_one_index_through_merges_rollbacks_and_two_processes(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(recent, "MERGE_ROWS", 40)
    monkeypatch.setattr(recent, "RUN_ROWS", 8)
    monkeypatch.setattr(recent, "MERGE_SLICE_ROWS", 3)  # many slices of the key space
    monkeypatch.setattr(buckets, "BUCKET_CAP", 6)
    rng = random.Random(seed)
    keys = [rng.getrandbits(64) - 2**63 for _ in range(12)]
    processes = [open_database(sqlite_url), open_database(sqlite_url)]  # each engine holds its own log
    committed: dict[int, set[int]] = {}
    items: list[int] = []
    for _ in range(60):
        index = {bucket: set(held) for bucket, held in committed.items()}
        known = list(items)
        try:
            with rng.choice(processes).begin() as session:
                locks.begin_write(session)  # as the pipeline writes: this process's copy of the log
                for _ in range(rng.randint(1, 3)):
                    _change(session, rng, keys, index, known)
                    assert buckets.bucket_members(session, keys) == _filled(index)
                if rng.random() < 0.15:
                    raise _RollBack
        except _RollBack:
            continue
        committed, items = index, known
        with rng.choice(processes)() as session:
            assert buckets.bucket_members(session, keys) == _filled(committed)
            capped = {b: set(m) for b, m in hubs.bucket_members(session, keys, cap=3).items()}
            assert capped == {b: set(sorted(held)[:3]) for b, held in _filled(committed).items()}
            assert buckets.index_rows(session) == {(b, i) for b, held in committed.items() for i in held}
    with processes[0]() as session:
        merged = session.execute(sa.text("SELECT COUNT(*) FROM lsh_buckets")).scalar_one()
    assert merged, "no merge happened: the test did not cover one"


def test_a_merge_at_every_capture_finds_what_the_log_alone_finds(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    def ingest(name: str) -> tuple[object, ...]:
        url = f"sqlite:///{tmp_path}/{name}.db"
        make_pipeline(url, FEEDS).ingest(network(article(5, paragraphs=8)))
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            provenance = conn.execute(sa.text("SELECT item_id, story_id, parent_item_id, relation FROM provenance ORDER BY 1")).all()
            in_main = conn.execute(sa.text("SELECT COUNT(*) FROM lsh_buckets")).scalar_one()
            rows = buckets.index_rows(sa.orm.Session(conn))
        engine.dispose()
        return provenance, rows, in_main

    logged = ingest("logged")
    monkeypatch.setattr(recent, "MERGE_ROWS", 1)
    merged = ingest("merged")
    assert logged[0] and logged[:2] == merged[:2]
    assert logged[2] == 0 and merged[2] > 0  # one kept its rows in the log, the other merged them


def test_a_merge_rolled_back_leaves_the_log_as_it_was(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent, "MERGE_ROWS", 5)
    sessions = open_database(sqlite_url)
    with sessions.begin() as session:
        locks.begin_write(session)  # writers: the process's own copy of the log
        buckets.add_buckets_many(session, [(item_id, [7, 8], True) for item_id in (1, 2, 3)])
    with pytest.raises(_RollBack), sessions.begin() as session:
        locks.begin_write(session)
        buckets.add_buckets_many(session, [(4, [7], True)])  # the log is full: merged first
        assert session.execute(sa.text("SELECT COUNT(*) FROM lsh_buckets")).scalar_one() == 6
        raise _RollBack
    with sessions.begin() as session:
        locks.begin_write(session)
        assert buckets.bucket_members(session, [7, 8]) == {7: {1, 2, 3}, 8: {1, 2, 3}}
        assert session.execute(sa.text("SELECT COUNT(*) FROM lsh_buckets")).scalar_one() == 0


def test_an_item_put_back_in_a_bucket_it_left_stays_there_through_a_merge(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = open_database(sqlite_url)
    with sessions.begin() as session:
        buckets.add_buckets_many(session, [(1, [7, 8], True), (2, [7], True)])
    with sessions.begin() as session:
        buckets.remove_buckets(session, 1, [7])
    monkeypatch.setattr(recent, "MERGE_ROWS", 4)
    with sessions.begin() as session:
        buckets.add_buckets_many(session, [(1, [7], False)])  # back in 7 (3 rows added so far: no merge)
        buckets.add_buckets_many(session, [(3, [9], True)])  # 4: merged first, 1's return included
    with sessions() as session:
        assert buckets.bucket_members(session, [7, 8, 9]) == {7: {1, 2}, 8: {1}, 9: {3}}
        assert session.execute(sa.text("SELECT COUNT(*) FROM lsh_buckets")).scalar_one() == 3


def test_a_downgrade_keeps_what_the_log_held_in_the_index(sqlite_url: str) -> None:
    sessions = open_database(sqlite_url)
    with sessions.begin() as session:
        buckets.add_buckets_many(session, [(1, [7, -8], True), (2, [7], True)])
    with sessions.begin() as session:
        buckets.remove_buckets(session, 2, [7])
    engine = sessions.kw["bind"]
    alembic(engine, "downgrade", "0014")
    with engine.connect() as connection:
        assert set(connection.execute(sa.text("SELECT bucket, item_id FROM lsh_buckets")).all()) == {(7, 1), (-8, 1)}
        assert "lsh_recent" not in sa.inspect(connection).get_table_names()


def test_a_reader_beside_a_merging_writer_sees_what_was_committed(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent, "MERGE_ROWS", 4)
    sessions = open_database(sqlite_url)  # one engine: the writer's and the reader's connections
    with sessions.begin() as session:
        locks.begin_write(session)
        buckets.add_buckets_many(session, [(1, [7, 8], True), (2, [7, 8], True)])
    with sessions.begin() as writer:
        locks.begin_write(writer)
        buckets.remove_buckets(writer, 1, [7])
        buckets.add_buckets_many(writer, [(3, [9], True)])  # the log is full: merged first
        with sessions.begin() as reader:
            assert buckets.bucket_members(reader, [7, 8, 9]) == {7: {1, 2}, 8: {1, 2}}
        assert buckets.bucket_members(writer, [7, 8, 9]) == {7: {2}, 8: {1, 2}, 9: {3}}
    with sessions.begin() as session:
        locks.begin_write(session)
        assert buckets.bucket_members(session, [7, 8, 9]) == {7: {2}, 8: {1, 2}, 9: {3}}
        assert buckets.index_rows(session) == {(7, 2), (8, 1), (8, 2), (9, 3)}


def test_item_ids_past_32_bits_are_held(sqlite_url: str) -> None:
    sessions = open_database(sqlite_url)
    with sessions.begin() as session:
        locks.begin_write(session)
        buckets.add_buckets_many(session, [(2**31 + 5, [7, -(2**63)], True)])
    with sessions.begin() as session:
        locks.begin_write(session)
        assert buckets.bucket_members(session, [7, -(2**63)]) == {7: {2**31 + 5}, -(2**63): {2**31 + 5}}

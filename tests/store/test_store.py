"""The public SQL interface: the same views, with the same answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.builders import article
from tests.conftest import alembic, make_pipeline
from tests.pipeline.test_pipeline import FEEDS, MIRROR_URL, ORIGINAL_URL, network
from tracker.errors import SchemaTooNewError, StoreError
from tracker.store import database
from tracker.store.database import (
    create_db_engine,
    describe,
    migrate,
    open_database,
    open_reader,
)

ITEM_PROVENANCE_COLUMNS = {
    "item_id", "url", "title", "publisher", "published_at", "first_seen_at", "story_id",
    "original_item_id", "parent_item_id", "relation", "similarity",
}


def _rows(url: str, query: str) -> list[dict[str, object]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(query)).mappings()]
    engine.dispose()
    return rows


def test_views_answer_the_same_on_every_database(any_db_url: str) -> None:
    make_pipeline(any_db_url, FEEDS).ingest(network(article(30, paragraphs=8)))
    provenance = _rows(any_db_url, "SELECT * FROM item_provenance")
    assert set(provenance[0]) >= ITEM_PROVENANCE_COLUMNS
    by_url = {r["url"]: r for r in provenance}
    ids = {r["item_id"]: r["url"] for r in provenance}
    assert {u: ids.get(r["parent_item_id"]) for u, r in by_url.items()} == {
        ORIGINAL_URL: None,
        MIRROR_URL: ORIGINAL_URL,
        "https://headlinedigest.example/1.html": ORIGINAL_URL,
        "https://mirrorofmirrors.example/9.html": MIRROR_URL,
    }
    edges = _rows(any_db_url, "SELECT copy_url, parent_url, copy_publisher, parent_publisher, relation, lag_seconds FROM republications ORDER BY copy_url")
    assert [(e["copy_publisher"], e["parent_publisher"], e["relation"]) for e in edges] == [
        ("Headline Digest", "Khaama Press", "excerpt"),
        ("Mirror of Mirrors", "ru24.pro", "copy"),
        ("ru24.pro", "Khaama Press", "copy"),
    ]
    assert all(int(e["lag_seconds"]) > 0 for e in edges)  # type: ignore[call-overload]
    stories = _rows(any_db_url, "SELECT original_url, publisher, copies, publishers FROM stories")
    assert stories == [{"original_url": ORIGINAL_URL, "publisher": "Khaama Press", "copies": 3, "publishers": 4}]


def test_readme_chain_query_walks_a_story_on_every_database(any_db_url: str) -> None:
    """The recursive CTE docs/database.md gives returns the whole chain of one article."""
    make_pipeline(any_db_url, FEEDS).ingest(network(article(31, paragraphs=8)))
    chain = _rows(
        any_db_url,
        f"""
        WITH RECURSIVE chain(item_id, url, publisher, parent_item_id, depth) AS (
            SELECT item_id, url, publisher, parent_item_id, 0 FROM item_provenance
            WHERE url = '{ORIGINAL_URL}'
            UNION ALL
            SELECT p.item_id, p.url, p.publisher, p.parent_item_id, c.depth + 1
            FROM item_provenance p JOIN chain c ON p.parent_item_id = c.item_id
        )
        SELECT publisher, depth FROM chain ORDER BY depth, publisher
        """,
    )
    assert [(r["publisher"], r["depth"]) for r in chain] == [
        ("Khaama Press", 0), ("Headline Digest", 1), ("ru24.pro", 1), ("Mirror of Mirrors", 2),
    ]


def test_migrations_upgrade_and_downgrade_cleanly(any_db_url: str) -> None:
    engine = create_db_engine(any_db_url)
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    assert {"item_provenance", "republications", "stories"} <= set(sa.inspect(engine).get_view_names())
    alembic(engine, "downgrade", "base")
    assert "items" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_a_database_of_the_previous_schema_is_upgraded_and_its_items_found_again(any_db_url: str) -> None:
    """Revision 0003 hashes identities and links of items stored before it."""
    engine = create_db_engine(any_db_url)
    alembic(engine, "upgrade", "0002")
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO publishers (id, name) VALUES (1, 'Khaama Press')"))
        connection.execute(sa.text(
            "INSERT INTO feeds (id, url, publisher_id, added_at, active, error_count) "
            "VALUES (1, 'https://www.khaama.com/feed/', 1, '2025-01-07 09:00:00', :yes, 0)"), {"yes": True})
        connection.execute(sa.text(
            "INSERT INTO items (id, publisher_id, identity, url, title, first_seen_at) VALUES "
            "(1, 1, 'guid:https://www.khaama.com/?p=1', 'https://www.khaama.com/a/', 'A', '2025-01-07 09:00:00')"))
        # Bound as the tracker of that revision wrote it (SQLite keeps SQLAlchemy's text form).
        connection.execute(sa.text(
            "INSERT INTO captures (id, feed_id, captured_at, kind, entries, new_items, updates) "
            "VALUES (1, 1, :at, 'response', 1, 1, 0)").bindparams(sa.bindparam("at", type_=sa.DateTime)), {"at": datetime(2025, 1, 7, 9, 0)})
    migrate(engine)
    engine.dispose()
    from tracker.answers.summaries import find_item
    from tracker.detection.identity import key_hash, lookup_hash
    from tracker.store.database import open_database

    [row] = _rows(any_db_url, "SELECT identity_hash, url_hash FROM items")
    assert row == {"identity_hash": key_hash("guid:https://www.khaama.com/?p=1"), "url_hash": lookup_hash("https://www.khaama.com/a/")}
    with open_database(any_db_url)() as session:
        assert find_item(session, "http://khaama.com/a?utm_source=x")["item_id"] == 1
    # A capture stored before digests existed is still recognised when the archive is read again.
    pipeline = make_pipeline(any_db_url)
    from tests.builders import capture

    again = capture("https://www.khaama.com/feed/", datetime(2025, 1, 7, 9, 0), b"<rss/>")
    assert pipeline.is_stored(again)
def test_a_database_upgraded_by_a_newer_tracker_is_refused_in_one_line(any_db_url: str) -> None:
    """An older tracker among several sharing one database, after another upgraded it."""
    engine = create_db_engine(any_db_url)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(SchemaTooNewError, match=r"schema revision 0099, newer than this tracker knows \(its newest is \d{4}\)"):
        open_database(any_db_url)
    assert _rows(any_db_url, "SELECT version_num FROM alembic_version") == [{"version_num": "0099"}]  # left as it was


# -- read-only opening ---------------------------------------------------------------------------------------
def test_read_only_open_never_creates_a_sqlite_file_or_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "not" / "yet"
    url = f"sqlite:///{folder / 'tracker.sqlite3'}"
    with pytest.raises(StoreError, match="no database at"):
        open_database(url, create=False)
    assert not (tmp_path / "not").exists()
    open_database(url)  # a writing command creates it
    assert open_database(url, create=False) is not None


def test_read_only_open_refuses_a_database_without_the_schema(any_db_url: str) -> None:
    engine = create_db_engine(any_db_url)
    with engine.connect() as conn:  # an empty SQLite file, or an empty PostgreSQL database
        conn.execute(sa.text("SELECT 1"))
    engine.dispose()
    with pytest.raises(StoreError, match="holds no tracker data yet"):
        open_database(any_db_url, create=False)
    assert _rows(any_db_url, "SELECT 1 AS one") == [{"one": 1}]
    engine = create_db_engine(any_db_url)
    assert not sa.inspect(engine).has_table("items")  # nothing was created
    engine.dispose()


def test_describe_names_the_database_without_its_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert describe(f"sqlite:///{tmp_path / 'x.sqlite3'}") == f"{tmp_path / 'x.sqlite3'} (SQLite)"
    assert describe("postgresql+psycopg://user:secret@db.example/tracker") == "postgresql+psycopg://user:***@db.example/tracker"


def test_alembic_ini_runs_the_packaged_migrations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The documented manual command, `alembic -c db/alembic.ini -x url=… upgrade head`."""
    import subprocess
    import sys
    from pathlib import Path

    ini = Path(__file__).resolve().parents[2] / "db" / "alembic.ini"
    url = f"sqlite:///{tmp_path / 'manual.sqlite3'}"
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}", "upgrade", "head"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert {r["name"] for r in _rows(url, "SELECT name FROM sqlite_master WHERE type = 'view'")} >= {
        "item_provenance", "republications", "stories",
    }


def test_the_known_head_revision_is_alembics_newest_so_a_current_database_is_opened_without_migrating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HEAD_REVISION lets a current database skip Alembic; a new migration must move it too,
    # or every database would be taken for outdated (readers refuse it) or never upgraded.
    assert database.HEAD_REVISION == database.head_revision()
    url = f"sqlite:///{tmp_path / 't.sqlite3'}"
    open_database(url)  # created and migrated
    calls: list[str] = []
    original = database._alembic_config
    monkeypatch.setattr(database, "_alembic_config", lambda: calls.append("alembic") or original())
    open_database(url)
    open_reader(url)
    assert calls == []


def test_postgresql_plans_each_statement_for_the_tables_as_they_are(pg_url: str) -> None:
    # A plan kept from when the database was empty read millions of LSH rows one by one.
    sessions = open_database(pg_url)
    with sessions() as session:
        settings = dict(session.execute(sa.text(
            "SELECT name, setting FROM pg_settings WHERE name IN ('plan_cache_mode', 'synchronous_commit', 'jit')"
        )).all())
    assert settings == {"plan_cache_mode": "force_custom_plan", "synchronous_commit": "off", "jit": "off"}

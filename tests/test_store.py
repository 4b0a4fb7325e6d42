"""The public SQL interface: the same views, with the same answers, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from tests.builders import article
from tests.conftest import make_pipeline
from tests.test_pipeline import FEEDS, MIRROR_URL, ORIGINAL_URL, network
from tracker.store.database import MIGRATIONS, create_db_engine, migrate

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
    """The recursive CTE the README gives returns the whole chain of one article."""
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
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert "items" not in sa.inspect(engine).get_table_names()
    engine.dispose()

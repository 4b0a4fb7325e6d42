"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable) and pipelines."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from tracker.config import parse_config
from tracker.pipeline import Pipeline
from tracker.store.database import open_database

PG_ADMIN_URL = os.environ.get("TRACKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _require_services() -> bool:
    return os.environ.get("TRACKER_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server URL for a scratch database, or a skip (a failure in CI) when unreachable."""
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as error:  # any failure to connect means "no server here"
        engine.dispose()
        if _require_services():
            pytest.fail(f"PostgreSQL required (TRACKER_REQUIRE_SERVICES=1) but unreachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    yield PG_ADMIN_URL
    engine.dispose()


@pytest.fixture
def pg_databases(pg_server: str) -> Iterator[Callable[[], str]]:
    """Make fresh, empty PostgreSQL databases (as many as a test needs), dropped afterwards.

    `pg_url` is one per test: asked for twice, it is the same database.
    """
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def make() -> str:
        name = f"tracker_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return sa.engine.make_url(pg_server).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url(pg_databases: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    return pg_databases()


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'tracker.sqlite3'}"


def make_pipeline(url: str, feeds: list[dict[str, str]] | None = None, **detection: object) -> Pipeline:
    """A pipeline on database `url` with the given feeds and detection settings."""
    config = parse_config({"database": {"url": url}, "feeds": feeds or [], "detection": detection})
    return Pipeline(open_database(url), config)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True, scope="session")
def _opml_cache_of_the_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Parsed OPML lists are cached under a folder of the test run, not the user's ~/.cache."""
    previous = os.environ.get("TRACKER_CACHE_DIR")
    os.environ["TRACKER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("TRACKER_CACHE_DIR", None)
    else:
        os.environ["TRACKER_CACHE_DIR"] = previous

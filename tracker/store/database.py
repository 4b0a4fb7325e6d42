"""Opening the provenance database: engine, migrations to the current schema, sessions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.errors import ConfigError, StoreError

MIGRATIONS = Path(__file__).resolve().parents[2] / "db" / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets `tracker stats` or a user's SQL read while an ingest writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_db_engine(url: str, timeout: float | None = None) -> Engine:
    """An engine for `url`; a SQLite file's folder is created if it does not exist.

    `timeout` (seconds) bounds connecting and each statement, for short probes such as
    health checks; such an engine keeps at most two connections.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigError(f"database.url: invalid database URL {url!r}: {error}") from None
    if parsed.drivername in ("postgres", "postgresql"):
        # "postgres://" is Heroku's spelling; SQLAlchemy needs the dialect and a driver.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **({"connect_args": {"timeout": timeout}} if timeout else {}))
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options: dict[str, Any] = {}
    if timeout and parsed.get_backend_name() == "postgresql":
        # libpq counts whole seconds (and at least 2); the statement timeout is in milliseconds.
        options = {
            "connect_args": {"connect_timeout": max(2, math.ceil(timeout)), "options": f"-c statement_timeout={int(timeout * 1000)}"},
            "pool_size": 1, "max_overflow": 1, "pool_timeout": timeout,
        }
    try:
        return create_engine(parsed, pool_pre_ping=True, **options)
    except Exception as error:  # unknown dialects surface as assorted errors (NoSuchModuleError, ImportError, …)
        raise ConfigError(f"database.url: cannot use {parsed.render_as_string()}: {error}") from None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creating it on an empty database)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as error:
        detail = " ".join(str(error.orig).split())
        raise StoreError(f"cannot reach database {engine.url.render_as_string()}: {detail}") from None
    except SQLAlchemyError as error:
        raise StoreError(f"cannot migrate database: {error}") from None


def open_database(url: str) -> sessionmaker[Session]:
    """Open (and migrate) the database at `url`; return a session factory."""
    engine = create_db_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


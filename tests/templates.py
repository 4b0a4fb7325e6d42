"""Databases built once per test process and copied for each test that asks for one.

Running the Alembic revisions on a fresh database, and ingesting the same sample world
into it, was repeated by hundreds of tests: a test now gets a copy of a database built
the same way by the first test of its process that asked (a file copy on SQLite,
`CREATE DATABASE … TEMPLATE` on PostgreSQL). The build itself, and its assertions, still
run: once per process rather than once per test.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Hashable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

from tracker.store import database

_FOLDER: Path | None = None
_PG_ADMIN: str | None = None
_SQLITE: dict[Hashable, Path] = {}
_POSTGRESQL: dict[Hashable, str] = {}
_FRESH: set[str] = set()
_COPYING = threading.Lock()
_REAL_MIGRATE = database.migrate


def start(folder: Path, pg_admin_url: str) -> None:
    """Keep templates in `folder`; PostgreSQL ones are made through `pg_admin_url`. Makes
    `open_database` copy a migrated template into a database that is new (see `_migrate`)."""
    global _FOLDER, _PG_ADMIN
    _FOLDER, _PG_ADMIN = folder, pg_admin_url
    database.migrate = _migrate


def stop() -> None:
    """Undo `start` and drop the PostgreSQL templates."""
    database.migrate = _REAL_MIGRATE
    if _POSTGRESQL:
        admin = sa.create_engine(_PG_ADMIN or "", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in _POSTGRESQL.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        _POSTGRESQL.clear()
    _SQLITE.clear()
    _FRESH.clear()


def _new_sqlite_file(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    path = database.sqlite_file(engine.url.render_as_string(hide_password=False))
    return path if path is not None and not path.exists() else None


def fresh(pg_database: str) -> None:
    """Note a PostgreSQL database just created empty for a test: migrated, it becomes a copy."""
    _FRESH.add(pg_database)


def _migrate(engine: Engine) -> None:
    """`database.migrate`, except that a database that is new (a SQLite file not there yet,
    an empty PostgreSQL database of `fresh`) becomes a copy of one migrated before."""
    if _FOLDER is not None:
        # Two threads (a daemon and its delivery thread) may open one new database at once.
        with _COPYING:
            path = _new_sqlite_file(engine)
            if path is not None and _copy(_sqlite_template("schema", _migrated), path):
                return
            if engine.dialect.name == "postgresql" and engine.url.database in _FRESH:
                _FRESH.discard(engine.url.database)
                if _replace_empty(engine.url.render_as_string(hide_password=False)):
                    return
    _REAL_MIGRATE(engine)


def _replace_empty(url: str) -> bool:
    """Make the empty PostgreSQL database at `url` again from the migrated template; False
    (nothing done) when it holds a table or anyone is connected to it."""
    target = sa.engine.make_url(url).database
    probe = sa.create_engine(url, poolclass=NullPool)
    try:
        with probe.connect() as conn:
            if conn.execute(sa.text("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one():
                return False
    finally:
        probe.dispose()
    admin = sa.create_engine(_PG_ADMIN or "", isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            template = _pg_template(conn, "schema", _migrated)
            try:
                conn.execute(sa.text(f'DROP DATABASE "{target}"'))  # refused while anyone is connected
            except sa.exc.DBAPIError:
                return False
            conn.execute(sa.text(f'CREATE DATABASE "{target}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
    return True


def _migrated(url: str) -> None:
    engine = database.create_db_engine(url)
    try:
        _REAL_MIGRATE(engine)
    finally:
        engine.dispose()


def _sqlite_template(key: Hashable, build: Callable[[str], object]) -> Path:
    if key not in _SQLITE:
        assert _FOLDER is not None
        path = _FOLDER / f"template-{uuid.uuid4().hex[:8]}.sqlite3"
        build(f"sqlite:///{path}")
        # Everything into the file itself: a copy takes the file, not its -wal. (A builder's
        # engine may still be checkpointing in the background: that answers busy, and is waited for.)
        with sqlite3.connect(path) as conn:
            for _ in range(400):
                if conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(f"{path}: the WAL could not be emptied")
        conn.close()
        _SQLITE[key] = path
    return _SQLITE[key]


def _copy(template: Path, path: Path) -> bool:
    """Copy `template` to `path` unless `path` appeared meanwhile (then False)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    shutil.copyfile(template, scratch)
    try:
        os.link(scratch, path)  # atomic, and never over a file another process just created
    except FileExistsError:
        return False
    finally:
        scratch.unlink()
    return True


def built(url: str, key: Hashable, build: Callable[[str], object]) -> None:
    """Make the new, empty database at `url` hold what `build(url)` would put there.

    `key` names what `build` makes (the same key, the same build). A SQLite file must not
    exist yet; a PostgreSQL database must be empty and unused (it is dropped and made again
    from the template).
    """
    if url.startswith("sqlite"):
        path = database.sqlite_file(url)
        assert path is not None
        if not _copy(_sqlite_template(key, build), path):
            raise AssertionError(f"{path} exists: a built database is copied into a new file")
        return
    _FRESH.discard(sa.engine.make_url(url).database)
    admin = sa.create_engine(_PG_ADMIN or "", isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            template = _pg_template(conn, key, build)
            target = sa.engine.make_url(url).database
            conn.execute(sa.text(f'DROP DATABASE "{target}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{target}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()


def _pg_template(admin: sa.Connection, key: Hashable, build: Callable[[str], object]) -> str:
    """The PostgreSQL database `build` made for `key` (made now if it is the first time)."""
    if key not in _POSTGRESQL:
        name = f"tracker_template_{uuid.uuid4().hex[:12]}"
        admin.execute(sa.text(f'CREATE DATABASE "{name}"'))
        _POSTGRESQL[key] = name
        build(sa.engine.make_url(_PG_ADMIN or "").set(database=name).render_as_string(hide_password=False))
    # The build's pools may still hold connections to the template, which a copy forbids.
    admin.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                  {"name": _POSTGRESQL[key]})
    return _POSTGRESQL[key]

"""Opening the provenance database: engine, migrations to the current schema, sessions."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracker.errors import ConfigError, MissingDatabaseError, SchemaOutdatedError, SchemaTooNewError, StoreError
from tracker.logs import fields
from tracker.store.checkpoints import Checkpointer

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

T = TypeVar("T")

# Inside the package, so that an installed tool (wheel, pipx) finds its migrations.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Alembic's `context` and `op` are module-global proxies: two threads migrating at once
# (the daemon and its alert delivery thread) would run each other's operations.
_MIGRATING = threading.Lock()
# The newest revision in MIGRATIONS (tests/store/test_store.py checks it against Alembic's head).
# A database already there is opened without loading Alembic and its scripts at all: that
# costs every command a quarter of a second, for nothing to do.
HEAD_REVISION = "0019"

# How long a SQLite write waits for another process's write lock before "database is locked".
BUSY_SECONDS = 30.0

WRITER_CACHE_KIB = 32 * 1024


def _sqlite_pragmas(busy_seconds: float, readonly: bool):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # First: another process may hold the database (creating it, say); wait for it.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        if not readonly:
            # WAL lets `tracker stats` or a user's SQL read while an ingest writes. A reader
            # leaves the mode to the writers: setting it is a write (refused on a file it may only read).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A writer's page cache: 32 MiB rather than SQLite's 2 MiB, for the LSH index's
            # inserts land all over it (a capture's new texts: 11% less time on a 20k corpus).
            cursor.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if readonly:
            # A reader that tried to write would wait for the write lock: refused at once instead.
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()
        if readonly:
            # The driver begins no transaction before a SELECT: each statement would read its
            # own snapshot. A deferred BEGIN (on "begin", below) gives a session one snapshot
            # of what was committed, and takes no lock that a writer waits for (WAL).
            dbapi_connection.isolation_level = None

    return on_connect


def _unwritable_at_rest(path: Path) -> bool:
    """Whether a reader may not write next to a SQLite file that no writer has open.

    A WAL reader needs the `-shm` and `-wal` files, and creates them when no writer has:
    a user who may read the file but not write its folder is refused ("attempt to write a
    readonly database"). With no `-wal` file every commit is in the file itself, and a
    writer that starts meanwhile writes its `-wal` first: it is read as it is (immutable)."""
    wal = path.with_name(path.name + "-wal")
    return path.is_file() and not wal.exists() and not os.access(path.parent, os.W_OK)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigError(f"database.url: invalid database URL {url!r}: {error}") from None
    if parsed.drivername in ("postgres", "postgresql"):
        # "postgres://" is Heroku's spelling; SQLAlchemy needs the dialect and a driver.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None for other databases and in-memory SQLite)."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:") and parsed.query.get("uri"):
        return None  # a SQLite URI filename: SQLite itself resolves it
    return Path(parsed.database).expanduser()


def is_postgresql(url: str) -> bool:
    """Whether `url` names a PostgreSQL database (where several daemons may share the work)."""
    return _parse(url).get_backend_name() == "postgresql"


def describe(url: str) -> str:
    """The database as a user should read it: a SQLite file's absolute path, else the URL without its password."""
    path = sqlite_file(url)
    if path is not None:
        return f"{path.resolve()} (SQLite)"
    return _parse(url).render_as_string(hide_password=True)


def _sqlite_engine(
    parsed: URL, path: Path | None, create: bool, timeout: float | None, busy_seconds: float, readonly: bool,
) -> Engine:
    """`create_db_engine` of a SQLite URL (`path`: its file; None in memory)."""
    if path is not None:
        parsed = parsed.set(database=str(path))  # "~" expanded: SQLite would take it literally
    if path is not None and create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the database folder {path.parent}: {error.strerror}") from None
    if readonly and path is not None and _unwritable_at_rest(path):
        parsed = parsed.set(database=f"file:{path}?immutable=1", query={**parsed.query, "uri": "true"})
    engine = create_engine(parsed, **({"connect_args": {"timeout": timeout}} if timeout else {}))
    event.listen(engine, "connect", _sqlite_pragmas(busy_seconds, readonly))
    if not readonly and path is not None:
        Checkpointer(path).attach(engine)
    if readonly:
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN DEFERRED"))
    return engine


def create_db_engine(
    url: str, create: bool = True, timeout: float | None = None, busy_seconds: float = BUSY_SECONDS, readonly: bool = False,
) -> Engine:
    """An engine for `url`; with `create`, a SQLite file's folder is created if missing.

    `timeout` (seconds) bounds connecting and each statement, for short probes such as
    health checks; such an engine keeps at most two connections. `busy_seconds`: how long
    a SQLite write waits for another process's write lock. `readonly`: every transaction
    is read-only (a write fails at once rather than waiting for, or holding, a lock).
    """
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, sqlite_file(url), create, timeout, busy_seconds, readonly)
    options: dict[str, Any] = {}
    if timeout and parsed.get_backend_name() == "postgresql":
        # libpq counts whole seconds (and at least 2); the statement timeout is in milliseconds.
        options = {
            "connect_args": {"connect_timeout": max(2, math.ceil(timeout)), "options": f"-c statement_timeout={int(timeout * 1000)}"},
            "pool_size": 1, "max_overflow": 1, "pool_timeout": timeout,
        }
    if parsed.get_backend_name() == "postgresql":
        # A commit need not wait for its WAL to reach the disk: a server crash may lose the
        # last fraction of a second of captures (whole transactions, never half of one), which
        # a re-run ingests and a daemon polls again — as SQLite's WAL with synchronous=NORMAL.
        # Waiting costs a disk flush per capture, the largest part of storing one.
        connect_args = options.setdefault("connect_args", {})
        connect_args["options"] = (connect_args.get("options", "") + " -c synchronous_commit=off").strip()
        # psycopg prepares a statement run five times; PostgreSQL may then keep one generic plan
        # for it, made from the statistics of that moment. A daemon or ingest that begins on an
        # empty database would read a table of millions of LSH rows with the plan of an empty
        # one (a sequential scan per bucket: two ingests at once ran 9× slower than one).
        # Each execution is planned for the table as it is.
        connect_args["options"] += " -c plan_cache_mode=force_custom_plan"
        # Every statement is small. Past a cost estimate (a table without statistics yet, after
        # a bulk load, makes a lookup of a few rows look like thousands) PostgreSQL compiled it
        # first: 13-200 ms per statement, where running it took under one.
        connect_args["options"] += " -c jit=off"
    try:
        engine = create_engine(parsed, pool_pre_ping=True, **options)
        if readonly and parsed.get_backend_name() == "postgresql":
            # Read-only: refuses writes, so it takes no row lock. Repeatable read: one snapshot
            # per session, as on SQLite (never a serialisation failure when read-only).
            return engine.execution_options(postgresql_readonly=True, isolation_level="REPEATABLE READ")
        return engine
    except Exception as error:  # unknown dialects surface as assorted errors (NoSuchModuleError, ImportError, …)
        raise ConfigError(f"database.url: cannot use {parsed.render_as_string()}: {error}") from None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creating it on an empty database).

    A SQLite file that another process is creating at this very moment can answer "locked"
    without waiting (while it turns to WAL): that is retried for a while.
    """
    for attempt in range(60):
        try:
            return _migrate(engine)
        except StoreError as error:
            if "database is locked" not in str(error) or attempt == 59:
                raise
            time.sleep(0.5)


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this tracker knows (what `migrate` brings a database to)."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


def _stored_revision(connection: Any) -> str | None:
    """The revision in `alembic_version`, or None when there is none (a new database)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _at_head(engine: Engine) -> bool:
    """Whether the database is at HEAD_REVISION already: read without a write lock, so a
    process opening a current database never waits for a writer (nor blocks one)."""
    try:
        with engine.connect() as connection:
            return _stored_revision(connection) == HEAD_REVISION
    except SQLAlchemyError:
        return False  # the full path below says what is wrong, in one line


def _migrate(engine: Engine) -> None:
    if _at_head(engine):
        return
    from alembic import command

    config = _alembic_config()
    try:
        with _MIGRATING, engine.begin() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # SQLite alters a table by rebuilding it, which foreign keys pointing at it forbid.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                # Two processes starting on a new file would both create the schema.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            if connection.dialect.name == "postgresql":
                # Two processes starting on an empty database would both create the schema.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7526744982103761411)")
            config.attributes["connection"] = connection
            _refuse_unknown_revision(connection, config, engine.url.render_as_string(hide_password=False))
            command.upgrade(config, "head")
        if sqlite:
            with engine.connect() as connection:  # outside the transaction, where the pragma applies
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    except OperationalError as error:
        detail = " ".join(str(error.orig).split())
        raise StoreError(f"cannot reach database {describe(engine.url.render_as_string(hide_password=False))}: {detail}") from None
    except SQLAlchemyError as error:  # the driver's words alone: SQLAlchemy's add the statement and a link
        detail = " ".join(str(getattr(error, "orig", None) or error).split())
        raise StoreError(f"cannot migrate database {describe(engine.url.render_as_string(hide_password=False))}: {detail}") from None


def _refuse_unknown_revision(connection: Any, config: AlembicConfig, url: str) -> None:
    """Refuse, in one line, a database that a newer tracker has upgraded past what this one knows.

    Alembic would fail with "Can't locate revision": a machine left on an older version
    among several sharing one PostgreSQL database meets this as soon as another upgrades.
    """
    from alembic.script import ScriptDirectory

    _refuse_too_new(_stored_revision(connection), ScriptDirectory.from_config(config), url)


def _refuse_too_new(current: str | None, script: ScriptDirectory, url: str) -> None:
    if current is not None and current not in {revision.revision for revision in script.walk_revisions()}:
        raise SchemaTooNewError(
            f"database {describe(url)} has schema revision {current}, newer than this tracker knows "
            f"(its newest is {script.get_current_head()}): it was upgraded by a newer version; install that version here"
        )


def _require_existing(engine: Engine, url: str) -> str:
    """The schema revision of an existing database; refuse, in one line, one that a
    command that must not create it would have to create.

    Only reads (the revision in `alembic_version`): no write transaction, so this never
    waits for a writer (an ingest holding SQLite's write lock) and never blocks one.
    """
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise MissingDatabaseError(
            f"no database at {path.resolve()} (nothing ingested there yet? check --config and [database] url)"
        )
    try:
        with engine.connect() as connection:
            current = _stored_revision(connection)
    except OperationalError as error:
        detail = " ".join(str(error.orig).split())
        raise StoreError(f"cannot reach database {describe(url)}: {detail}") from None
    if current is None:
        raise MissingDatabaseError(f"database {describe(url)} holds no tracker data yet (run `tracker ingest` or `tracker run` first)")
    return current


def _require_current(engine: Engine, url: str) -> None:
    """Refuse, in one line, a database a read-only command cannot read as it is: missing,
    empty, upgraded by a newer tracker, or not yet upgraded to this one's schema (a reader
    never upgrades: that takes the write lock, and would wait for every writer)."""
    current = _require_existing(engine, url)
    if current == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    _refuse_too_new(current, script, url)
    head = script.get_current_head()
    if current != head:
        raise SchemaOutdatedError(
            f"database {describe(url)} has schema revision {current}, older than this tracker's {head}: "
            "run `tracker upgrade` (or any command that writes: ingest, poll, run) to upgrade it, then again"
        )


def open_database(url: str, create: bool = True, quiet: bool = False) -> sessionmaker[Session]:
    """Open (and migrate) the database at `url` to write in; return a session factory.

    With `create=False` a database that does not exist yet is an error rather than
    silently created, empty, wherever the URL happens to point. `quiet`: a second opening
    in a process that named the database already, logged at debug level only.
    """
    (log.debug if quiet else log.info)("database", extra=fields(url=describe(url)))
    engine = create_db_engine(url, create)
    if not create:
        _require_existing(engine, url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)


def impatient(sessions: sessionmaker[Session], busy_seconds: float) -> sessionmaker[Session]:
    """Sessions on the same database whose SQLite writes give up after `busy_seconds` when
    another process holds the write lock (`locks.busy` tells that error apart), for the
    daemon's bookkeeping between polls: a dispatch tick must not stall behind a long
    ingest transaction. Elsewhere (PostgreSQL) `sessions` themselves: writers there do
    not wait for each other's whole transactions."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        return sessions
    url = engine.url.render_as_string(hide_password=False)
    return sessionmaker(create_db_engine(url, create=False, busy_seconds=busy_seconds), expire_on_commit=False)


def open_reader(url: str) -> sessionmaker[Session]:
    """Open the database at `url` to read only; return a session factory.

    Never creates, migrates or locks anything: a read-only command answers while an
    ingest or a daemon writes, each session reading one snapshot of what was committed
    (SQLite's WAL, PostgreSQL's MVCC), and a database at another schema revision is
    refused in one line.
    """
    log.info("database", extra=fields(url=describe(url)))
    engine = create_db_engine(url, create=False, readonly=True)
    _require_current(engine, url)
    return sessionmaker(engine, expire_on_commit=False)


def transaction_state(session: Session, key: str, make: Callable[[], T] | None = None) -> T | None:
    """What the session keeps under `key` for its current transaction: made by `make` when
    this transaction has none yet (without `make`: None). A new transaction starts without it."""
    transaction = session.get_transaction()
    kept = session.info.get(key)
    if kept is None or kept[0] is not transaction:
        if make is None:
            return None
        kept = session.info[key] = (transaction, make())
    return kept[1]


def int_array(values: Iterable[int]) -> str:
    """Integers as one PostgreSQL array literal, for `CAST(:x AS bigint[])`: psycopg adapts
    a list value by value, at three times the cost of the whole statement."""
    return "{" + ",".join(map(str, values)) + "}"


def as_store_error(error: BaseException) -> StoreError | None:
    """An operational failure (database gone, disk full, permission denied) as one line; None if it is not one."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        lines = str(error.orig).strip().splitlines() or [type(error.orig).__name__]
        lost = " (connection lost)" if error.connection_invalidated else ""
        return StoreError(f"database error{lost}: {lines[0]}")
    if isinstance(error, SQLAlchemyError):
        lines = str(error).strip().splitlines() or [type(error).__name__]
        return StoreError(f"database error: {lines[0]}")
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return StoreError(f"{error.strerror or error}{where}")
    return None

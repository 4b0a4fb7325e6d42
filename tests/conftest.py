"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable) and pipelines."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests import templates
from tracker.config import parse_config
from tracker.pipeline.capture import Pipeline
from tracker.store.database import MIGRATIONS, open_database

PG_ADMIN_URL = os.environ.get("TRACKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _require_services() -> bool:
    return os.environ.get("TRACKER_REQUIRE_SERVICES") == "1"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers more than there are cores. Much of the suite waits (on daemons
    polling, leases expiring, the demo's network) rather than computes: with a worker per
    core, a core sits idle whenever its worker waits. On the idle 2-core CI machine: 185 s
    with 3 workers, 174 s with 4, 172 s with 5."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 2


# The tests that take longest (mostly waiting on daemons, leases and subprocesses) start
# first: with several xdist workers, a long test left for the end keeps one worker busy
# while the others have nothing left to do. Listed by file (and test name where one test
# of a file is the long one), from `--durations` of whole runs.
_LONGEST_FIRST = (
    "tests/demo/test_demo.py",
    "tests/ingest/test_shared_state.py",
    "tests/daemon/test_scaleout.py",
    "tests/test_bench_scale.py::test_bench_runs",
    "tests/ingest/test_concurrency.py",
    "tests/test_bench_scale.py",
    "tests/daemon/test_deliver.py::test_kill_9",
    "tests/test_packaging.py",
    "tests/daemon/test_scheduler.py",
    "tests/cli/test_cli.py::test_a_real_ctrl_c",
    "tests/daemon/test_deliver.py::test_polling_is_not_slowed",
    "tests/daemon/test_opsserver.py",
)
# Last, when the other workers have little left to do: the real daemon's watchdog test
# allows 0.5 s between STOPPING=1 and the last ping, which a core busy with another
# worker's ingest can stretch.
_LAST = ("tests/daemon/test_systemd.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the longest tests first, the timing-sensitive ones last (a stable sort: the
    order within each group is kept)."""
    def rank(item: pytest.Item) -> int:
        if item.nodeid.startswith(_LAST):
            return len(_LONGEST_FIRST) + 1
        return next((i for i, prefix in enumerate(_LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(_LONGEST_FIRST))

    items.sort(key=rank)


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


class _Dropper:
    """Drops scratch databases in a background thread.

    DROP DATABASE makes the server take a checkpoint and waits for it (a second or more
    on a busy disk): done at each test's teardown, that wait was paid by every PostgreSQL
    test. The next test starts meanwhile; the session waits for every drop at its end.
    """

    def __init__(self, url: str) -> None:
        self._admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="drop-databases")
        self._done: list[Future[None]] = []

    def drop(self, names: list[str]) -> None:
        self._done.append(self._thread.submit(self._drop, names))

    def _drop(self, names: list[str]) -> None:
        with self._admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._admin.dispose()
        for done in self._done:
            done.result()  # a drop that failed is reported, not lost


@pytest.fixture(scope="session")
def _pg_dropper(pg_server: str) -> Iterator[_Dropper]:
    dropper = _Dropper(pg_server)
    yield dropper
    dropper.close()


@pytest.fixture
def pg_databases(pg_server: str, _pg_dropper: _Dropper) -> Iterator[Callable[[], str]]:
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
        templates.fresh(name)
        return sa.engine.make_url(pg_server).set(database=name).render_as_string(hide_password=False)

    yield make
    admin.dispose()
    if names:
        _pg_dropper.drop(names)


@pytest.fixture
def pg_url(pg_databases: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    return pg_databases()


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'tracker.sqlite3'}"


def alembic(engine: sa.Engine, action: str, revision: str) -> None:
    """Alembic's `upgrade` or `downgrade` to `revision` on the engine's database, in one transaction."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


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
def _database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """New databases migrated in this process are copies of one migrated once (tests/templates.py)."""
    templates.start(tmp_path_factory.mktemp("templates"), PG_ADMIN_URL)
    yield
    templates.stop()


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

"""Shared fixtures: a real PostgreSQL for every test, never a mock.

The server is ``MILKBOT_TEST_DATABASE_URL`` (any database on it; the tests create and drop
their own databases there) or, when that is unset, the embedded PostgreSQL 18 under
``MILKBOT_TEST_HOME`` (default: a per-user cache directory), started once per session.
Each test that writes gets a fresh database cloned from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from milkbot.db.embedded import EmbeddedPostgres
from milkbot.db.migrate import apply_migrations, list_migrations
from milkbot.settings import state_dir


def _test_home() -> Path:
    return Path(os.environ.get("MILKBOT_TEST_HOME") or state_dir("milkbot-tests", cache=True))


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A fresh, empty MILKBOT_HOME for an embedded server of the test's own, removed afterwards
    (stop the server first). Not under tmp_path: pytest keeps that in a 0700 directory which,
    as root, the server's system user may not enter, and Milkbot never loosens a parent."""
    home = Path(tempfile.mkdtemp(prefix="milkbot-test-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Admin URL (may CREATE DATABASE) of the PostgreSQL server the tests run against."""
    external = os.environ.get("MILKBOT_TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(_test_home())
    server.start()
    try:
        yield server.admin_url
    finally:
        server.stop()


def database_url(server: str, name: str) -> str:
    """URL of database ``name`` on the same server as ``server``."""
    return make_conninfo(server, dbname=name)


def _create_database(server: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(query)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """Name of a migrated, empty database that per-test databases are cloned from."""
    name = f"milkbot_tmpl_{uuid.uuid4().hex[:10]}"
    _create_database(server_url, name)
    apply_migrations(database_url(server_url, name))
    try:
        yield name
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="session")
def make_database(server_url: str, template_db: str) -> Iterator[Callable[[], str]]:
    """Factory: a fresh migrated database per call, dropped at the end of the session."""
    made: list[str] = []

    def make() -> str:
        name = f"milkbot_t_{uuid.uuid4().hex[:12]}"
        _create_database(server_url, name, template=template_db)
        made.append(name)
        return database_url(server_url, name)

    yield make
    for name in made:
        drop_database(server_url, name)


@pytest.fixture
def db_url(make_database: Callable[[], str]) -> str:
    """A fresh, migrated, empty database for this test."""
    return make_database()


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """Autocommit connection to this test's own database (each write function is one
    transaction)."""
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="session")
def migration_count() -> int:
    return len(list_migrations())


# pytest-asyncio's settings in pyproject.toml; without the plugin, --strict-config would stop
# on them with a message that does not say what to install (see pytest_configure).
ASYNCIO_INI = (
    "asyncio_mode",
    "asyncio_default_fixture_loop_scope",
    "asyncio_default_test_loop_scope",
)
TEST_EXTRAS_HINT = (
    "the tests need the project's test extras: pip install -e '.[test]' "
    "(pytest-asyncio, httpx, locust, playwright, line-profiler)"
)


def _has_asyncio_plugin() -> bool:
    try:
        import pytest_asyncio  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once, with one line saying what to install, when the test extras are missing
    (e.g. after the guide's `pip install pytest locust` alone)."""
    if not _has_asyncio_plugin():
        pytest.exit(TEST_EXTRAS_HINT, returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the query performance tests (tests/performance), defined here so they exist
    whichever path pytest is given."""
    if not _has_asyncio_plugin():
        for name in ASYNCIO_INI:  # known, so pytest_configure can say what is missing
            parser.addini(name, "pytest-asyncio setting (plugin not installed)")
    group = parser.getgroup("milkbot performance")
    group.addoption(
        "--profile",
        action="store_true",
        default=False,
        help="write a cProfile stats file per performance test "
        "(tests/performance/results/profile_<test>.stats)",
    )
    group.addoption(
        "--perf-trades",
        type=int,
        default=None,
        help="trades in the performance dataset (default: $MILKBOT_PERF_TRADES or 1000000)",
    )

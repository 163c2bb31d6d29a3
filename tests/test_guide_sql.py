"""The guide's SQL, typed into psql as role `milkbot` after `eval "$(milkbot db env)"`, runs as
printed on the embedded server; the role gets exactly the rights it needs, not superuser."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from milkbot.cli.main import app
from milkbot.db.embedded import EmbeddedPostgres
from milkbot.db.migrate import apply_migrations

# Statements as PERFORMANCE_TESTING.md prints them (the sections "Analyzing Slow Queries",
# "Running Optimization Script", "Setting Up Monitoring" and "Troubleshooting").
GUIDE_SQL = """
ALTER SYSTEM SET log_min_duration_statement = 100;
SELECT pg_reload_conf();
SELECT
    query,
    calls,
    total_time,
    mean_time,
    max_time
FROM pg_stat_statements
ORDER BY mean_time DESC
LIMIT 20;
CREATE INDEX idx_trades_city_date ON ops.trades(city_code, created_at);
ANALYZE ops.trades;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SELECT * FROM pg_stat_statements ORDER BY mean_time DESC;
SELECT query, mean_time, calls
FROM pg_stat_statements
WHERE mean_time > 100
ORDER BY mean_time DESC;
"""


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="milkbot-test-guide-"))
    server = EmbeddedPostgres(path)
    apply_migrations(server.start())
    yield path
    server.stop()
    shutil.rmtree(path, ignore_errors=True)


def _shell(home: Path, script: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(MILKBOT_HOME=str(home), MILKBOT_LOG_LEVEL="WARNING")
    env.pop("MILKBOT_DATABASE_URL", None)
    milkbot = f"{shlex.quote(sys.executable)} -m milkbot"
    return subprocess.run(
        ["bash", "-c", f'set -e; eval "$({milkbot} db env)"; {script}'],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_guides_sql_runs_as_printed_in_psql_as_milkbot(home: Path) -> None:
    done = _shell(home, "psql -U milkbot -d milkbot -v ON_ERROR_STOP=1 -X -q", GUIDE_SQL)
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr
    url = EmbeddedPostgres(home).url
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW log_min_duration_statement").fetchone() == ("100ms",)
        assert conn.execute("SELECT to_regclass('ops.idx_trades_city_date')").fetchone() != (None,)


def test_milkbot_is_not_a_superuser_and_alters_only_the_guides_settings(home: Path) -> None:
    with psycopg.connect(EmbeddedPostgres(home).url, autocommit=True) as conn:
        assert conn.execute("SHOW is_superuser").fetchone() == ("off",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER SYSTEM SET shared_buffers = '8GB'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE intruder SUPERUSER")


def test_db_env_exports_what_psql_needs_and_no_secret(home: Path) -> None:
    done = _shell(home, "env | grep '^PG' | sort; command -v psql")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    found = dict(line.split("=", 1) for line in lines if line.startswith("PG"))
    assert set(found) == {"PGHOST", "PGUSER", "PGDATABASE", "PGPASSFILE"}
    assert found["PGUSER"] == found["PGDATABASE"] == "milkbot"
    assert Path(found["PGPASSFILE"]) == home / "pgpass"
    assert lines[-1].endswith("/pginstall/bin/psql")  # the embedded server's own psql
    secret = (home / "pgpass").read_text().split(":")[-1].strip()
    assert secret not in done.stdout


def test_db_grant_gives_an_external_role_the_guides_rights(
    server_url: str, make_database: Callable[[], str]
) -> None:
    url = make_database()
    role = f"milkbot_guide_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(role)
            )
        )
    try:
        result = CliRunner().invoke(
            app,
            ["db", "grant", "--role", role],
            env={"MILKBOT_DATABASE_URL": url, "MILKBOT_LOG_LEVEL": "WARNING"},
        )
        assert result.exit_code == 0, result.output
        assert "ALTER SYSTEM log_min_duration_statement" in result.output
        as_role = make_conninfo(url, user=role, password=role, passfile="")
        with psycopg.connect(as_role, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET log_min_duration_statement = 250")
            conn.execute("ALTER SYSTEM RESET log_min_duration_statement")
            assert conn.execute("SELECT pg_reload_conf()").fetchone() == (True,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("ALTER SYSTEM SET work_mem = '1GB'")
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_db_psql_opens_psql_as_milkbot(home: Path) -> None:
    done = _shell(
        home,
        f"{shlex.quote(sys.executable)} -m milkbot db psql -- -X -A -t -c 'SELECT current_user'",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "milkbot"

"""Log output as a user sees it: a command run as a process writes readable console lines on
stderr by default (no colour codes when stderr is not a terminal) and one JSON object per line
with MILKBOT_LOG_FORMAT=json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import database_url, drop_database


@pytest.fixture
def empty_databases(server_url: str) -> Iterator[list[str]]:
    """Two empty, unmigrated databases (`milkbot db migrate` logs each migration it applies)."""
    names = [f"milkbot_t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield [database_url(server_url, name) for name in names]
    for name in names:
        drop_database(server_url, name)


def migrate(url: str, **env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MILKBOT_LOG")}
    done = subprocess.run(
        [sys.executable, "-m", "milkbot", "db", "migrate"],
        env=environ | {"MILKBOT_DATABASE_URL": url} | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "applied 0001_ops" in done.stdout
    return done.stderr.splitlines()


def test_a_command_logs_console_lines_by_default_and_json_when_asked(
    empty_databases: list[str], migration_count: int
) -> None:
    console = [line for line in migrate(empty_databases[0]) if "migration_applied" in line]
    assert len(console) == migration_count, console
    for version, line in enumerate(console, start=1):
        assert "[info" in line and f"version={version}" in line, line
        assert not line.startswith("{") and "\x1b[" not in line, line
    lines = migrate(empty_databases[1], MILKBOT_LOG_FORMAT="json")
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    applied = [e for e in events if e["event"] == "migration_applied"]
    assert [(e["version"], e["level"]) for e in applied] == [
        (v, "info") for v in range(1, migration_count + 1)
    ]

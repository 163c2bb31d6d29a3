"""The `milkbot` command line, run as a user would (CliRunner, and real processes for `up`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from milkbot.cli.main import app
from tests.net import free_port

runner = CliRunner()


def run(args: list[str], db_url: str | None = None, **env: str) -> tuple[int, str]:
    environ = {"MILKBOT_LOG_LEVEL": "WARNING", **env}
    if db_url:
        environ["MILKBOT_DATABASE_URL"] = db_url
    result = runner.invoke(app, args, env=environ)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["db"],
        ["db", "migrate"],
        ["db", "status"],
        ["db", "optimize"],
        ["db", "slow-queries"],
        ["up"],
        ["serve"],
        ["alerts", "check"],
    ],
)
def test_every_command_has_help(args: list[str]) -> None:
    code, out = run([*args, "--help"])
    assert code == 0, out
    assert "Usage" in out


def test_migrate_and_status_on_an_external_database(db_url: str) -> None:
    code, out = run(["db", "migrate"], db_url)
    assert code == 0 and "up to date" in out
    code, out = run(["db", "status"], db_url)
    assert code == 0
    assert "0001" in out and "pending" not in out


def test_db_url_prints_the_configured_url(db_url: str) -> None:
    code, out = run(["db", "url"], db_url)
    assert code == 0 and out.strip() == db_url


def test_bad_setting_stops_with_the_variable_named() -> None:
    code, out = run(["db", "status"], MILKBOT_POOL_TIMEOUT="soon")
    assert code == 2
    assert "MILKBOT_POOL_TIMEOUT='soon'" in out


def test_unreachable_database_is_a_clear_error() -> None:
    code, out = run(["db", "migrate"], "postgresql://nobody@127.0.0.1:1/none")
    assert code == 1
    assert "cannot reach the database (MILKBOT_DATABASE_URL)" in out


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_up_starts_embedded_database_with_demo_data_and_stops_cleanly(
    embedded_home: Path,
) -> None:
    """The README's first command: `milkbot up` on an empty home serves /health with data."""
    port = free_port()
    env = {
        **os.environ,
        "MILKBOT_HOME": str(embedded_home),
        "MILKBOT_PORT": str(port),
        "MILKBOT_DEMO_TRADES": "3000",
        "MILKBOT_SIMULATOR": "false",
        "MILKBOT_LOG_LEVEL": "WARNING",
    }
    env.pop("MILKBOT_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "milkbot", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        status, body = 0, b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                time.sleep(0.2)  # readiness poll: the server is still starting
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert status == 200, body
        pgdata = embedded_home / "pgdata"
        assert (pgdata / "PG_VERSION").read_text().strip() == "18"
        url = subprocess.run(
            [sys.executable, "-m", "milkbot", "db", "url"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        with psycopg.connect(url) as conn:
            trades = conn.execute("SELECT count(*) FROM ops.trades").fetchone()
        assert trades is not None and trades[0] > 1000
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130, -signal.SIGINT), out
    assert not (embedded_home / "pgdata" / "postmaster.pid").exists(), "server left running"

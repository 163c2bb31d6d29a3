"""The guide's one-command run when nothing answers at the host: the script generates a dataset
in its own home, serves it, runs the smoke scenario, and stops everything it started; the next
run reuses the dataset. Slow (two runs, an embedded PostgreSQL initialised from nothing)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from milkbot.db.embedded import EmbeddedPostgres
from milkbot.perf.records import LoadTestSummary
from milkbot.perf.server import MARKER, PIDFILE
from tests.net import free_port

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deployment" / "scripts" / "run-load-test.sh"

pytestmark = pytest.mark.slow


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_script_runs_on_its_own_platform_and_stops_it(tmp_path: Path, embedded_home: Path) -> None:
    port = free_port()
    home = embedded_home
    env = {
        **os.environ,
        "LOAD_TEST_SCENARIO": "smoke",
        "LOAD_TEST_HOST": f"http://127.0.0.1:{port}",
        "LOAD_TEST_USERS": "5",
        "LOAD_TEST_RUN_TIME": "10s",
        "LOAD_TEST_TRADES": "2000",
        "LOAD_TEST_HOME": str(home),
        # The user's database must never be touched: the run ignores this.
        "MILKBOT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/not_this_one",
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), "--results", str(tmp_path / "results")],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip

    first = run()
    assert first.returncode in (0, 1), first.stderr[-3000:]
    assert "starting a private platform" in first.stderr
    assert "generating 2,000 trades" in first.stderr
    summary = LoadTestSummary.read(tmp_path / "results/loadtest/smoke/summary.json")
    assert summary.platform.startswith("private")
    assert summary.dataset is not None and 1900 <= summary.dataset.trades <= 2100
    assert summary.total.failures == 0, summary.top_failures
    assert summary.resources.server_cpu_peak_10s_pct is not None

    # Everything it started is stopped; the dataset stays for the next run.
    assert not answers(port)
    assert not (home / PIDFILE).exists()
    assert EmbeddedPostgres(home).running_url() is None
    assert json.loads((home / MARKER).read_text()) == {"trades": 2000, "seed": 42}

    second = run()
    assert second.returncode in (0, 1), second.stderr[-3000:]
    assert "reusing the generated dataset (2,000 trades, seed 42)" in second.stderr
    assert not answers(port)

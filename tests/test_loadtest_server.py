"""The pool-capacity criterion judges the server under test with the settings it runs with, learnt
from the server (its /metrics and its workers), not from the load tester's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from milkbot.generator import generate_dataset
from milkbot.perf.records import ServerFacts
from milkbot.perf.resources import listening_pid
from milkbot.perf.server import server_facts
from tests.net import await_status, free_port


def test_the_servers_own_workers_and_pool_are_read(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_dataset(db_url, trades=1000, seed=7)
    port = free_port()
    log = tmp_path / "serve.log"
    # The server: 2 workers of 3 + 1 connections; the load tester: other settings altogether.
    env = {
        **os.environ,
        "MILKBOT_DATABASE_URL": db_url,
        "MILKBOT_WORKERS": "2",
        "MILKBOT_POOL_SIZE": "3",
        "MILKBOT_MAX_OVERFLOW": "1",
        "MILKBOT_LOG_LEVEL": "WARNING",
    }
    monkeypatch.setenv("MILKBOT_WORKERS", "4")
    monkeypatch.setenv("MILKBOT_POOL_SIZE", "50")
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "milkbot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        await_status(proc, f"{base}/health", log=log)
        assert server_facts(base, listening_pid(port)) == ServerFacts(workers=2, pool_capacity=8)
        # Without its process (another user's), the workers, hence the capacity, are unknown.
        assert server_facts(base, None) == ServerFacts(workers=None, pool_capacity=None)
    finally:
        # Granian hangs on a stop that comes while a worker is still starting: let both start.
        deadline = time.monotonic() + 60
        while not all(f"Started worker-{n}" in log.read_text() for n in (1, 2)):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        proc.terminate()
        proc.wait(timeout=30)
    assert server_facts(base, None) == ServerFacts(workers=None, pool_capacity=None)

"""Two `milkbot serve` started at once on one fresh home share one embedded server: neither
fails, and the last to stop stops the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from milkbot.db.embedded import EmbeddedPostgres
from tests.net import await_status, free_port, http_status


def _serve(home: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "MILKBOT_HOME": str(home), "MILKBOT_PORT": str(port)}
    env["MILKBOT_LOG_LEVEL"] = "WARNING"
    env.pop("MILKBOT_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "milkbot", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert "Traceback" not in out, out
    return out


def test_two_serves_started_at_once_on_a_fresh_home_share_the_database(
    embedded_home: Path,
) -> None:
    ports = [free_port(), free_port()]
    procs = [_serve(embedded_home, port) for port in ports]
    try:
        route = "/api/v1/metrics/cities"  # reads the database
        for proc, port in zip(procs, ports, strict=True):
            await_status(proc, f"http://127.0.0.1:{port}{route}")
        server = EmbeddedPostgres(embedded_home)
        pid = server.postmaster_pid()
        log = (embedded_home / "pgdata" / "log").read_text()
        assert log.count("database system is ready to accept connections") == 1, log
        _stop(procs[0])
        assert http_status(f"http://127.0.0.1:{ports[1]}{route}") == 200
        assert server.postmaster_pid() == pid
        _stop(procs[1])
        assert server.running_url() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)

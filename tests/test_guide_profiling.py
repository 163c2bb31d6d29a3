"""The guide's profiling commands, run as printed from the repository root."""

from __future__ import annotations

import os
import pstats
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from milkbot.generator import generate_dataset
from tests.net import await_status, free_port, http_status

ROOT = Path(__file__).resolve().parent.parent


def test_cprofile_of_src_dashboard_app_sees_request_handling(db_url: str, tmp_path: Path) -> None:
    generate_dataset(db_url, trades=2_000, seed=3)
    port = free_port()
    stats = tmp_path / "profile.stats"
    env = {**os.environ, "MILKBOT_DATABASE_URL": db_url, "MILKBOT_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cProfile", "-o", str(stats), "src/dashboard/app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await_status(proc, f"http://127.0.0.1:{port}/api/v1/metrics/cities")
        assert http_status(f"http://127.0.0.1:{port}/") == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    names = {func[2] for func in pstats.Stats(str(stats)).stats}  # type: ignore[attr-defined]
    assert {"city_metrics", "read_city_metrics", "overview"} <= names


def test_kernprof_of_src_analytics_api_reports_the_query_lines(db_url: str, tmp_path: Path) -> None:
    kernprof = Path(sys.executable).parent / "kernprof"
    if not kernprof.exists():
        pytest.skip("kernprof (line-profiler) is not installed in this environment")
    generate_dataset(db_url, trades=2_000, seed=4)
    done = subprocess.run(
        [str(kernprof), "-l", "-v", str(ROOT / "src/analytics/api.py")],
        cwd=tmp_path,
        env={**os.environ, "MILKBOT_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Line #" in done.stdout
    assert "read_city_metrics" in done.stdout

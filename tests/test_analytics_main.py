"""The profilers' entry point (python -m milkbot.analytics) and `milkbot bench queries`, run as
a user would, against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from milkbot.generator import generate_dataset
from milkbot.perf.datasets import dataset_name
from milkbot.perf.gate import load_run
from milkbot.perf.query_bench import GUIDE
from milkbot.perf.records import QueryBenchmark

ROOT = Path(__file__).resolve().parent.parent


def run(
    args: list[str], database_url: str, tmp_path: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MILKBOT_DATABASE_URL": database_url,
        "MILKBOT_HOME": str(tmp_path),
        **extra,
    }
    return subprocess.run(
        args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )


def test_module_runs_each_query_once(db_url: str, tmp_path: Path) -> None:
    generate_dataset(db_url, trades=2_000, seed=5)
    done = run(
        [sys.executable, "-m", "milkbot.analytics", "--json"],
        db_url,
        tmp_path,
        MILKBOT_LOG_FORMAT="json",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert set(results) == set(GUIDE)
    assert len(results["city_metrics"]["cities"]) == 10
    timing = [json.loads(line) for line in done.stderr.splitlines() if '"analytics_query"' in line]
    assert sorted(t["query"] for t in timing) == sorted(
        ["city_metrics", "equity_curve", "public_trades", "health", "strategy_metrics"]
    )
    assert not any(t["cached"] for t in timing)


def test_module_runs_under_cprofile(db_url: str, tmp_path: Path) -> None:
    stats = tmp_path / "profile.stats"
    done = run(
        [sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "milkbot.analytics"],
        db_url,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "city_metrics" in done.stdout and stats.stat().st_size > 0


def test_module_runs_under_kernprof(db_url: str, tmp_path: Path) -> None:
    kernprof = Path(sys.executable).parent / "kernprof"
    if not kernprof.exists():
        pytest.skip("kernprof (line-profiler) is not installed in this environment")
    script = ROOT / "src" / "milkbot" / "analytics" / "__main__.py"
    done = run([str(kernprof), "-l", "-v", str(script)], db_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Function: read_city_metrics" in done.stdout
    assert "Line #" in done.stdout


def test_bench_queries_prints_ratios(server_url: str, tmp_path: Path) -> None:
    seed = 90_000 + os.getpid() % 1000  # a dataset of its own, dropped below
    out = tmp_path / "bench.json"
    try:
        done = run(
            [
                sys.executable,
                "-m",
                "milkbot",
                "bench",
                "queries",
                "--trades",
                "3000",
                "--baseline-trades",
                "1000",
                "--seed",
                str(seed),
                "--iterations",
                "5",
                "--naive-iterations",
                "2",
                "--json",
                str(out),
            ],
            server_url,
            tmp_path,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        for word in ("city_metrics", "naive/ours P50", "ours/floor P50", "growth P95", "SELECT 1"):
            assert word in done.stdout
        figures = QueryBenchmark.read(out)
        assert set(figures.queries) == set(figures.naive) >= set(GUIDE)
        assert figures.dataset.trades == 3000 and figures.dataset.seed == seed
        assert figures.growth is not None and figures.growth.trades == 1000
        assert all(q.p95 > 0 for q in figures.queries.values())
        assert figures.fingerprint
        # The gate reads what the bench writes.
        assert (
            load_run(out).figures["query city_metrics P95"][1]
            == figures.queries["city_metrics"].p95
        )
        again = run(
            [
                sys.executable,
                "-m",
                "milkbot",
                "bench",
                "queries",
                "--trades",
                "3000",
                "--baseline-trades",
                "1000",
                "--seed",
                str(seed),
                "--iterations",
                "5",
                "--naive-iterations",
                "0",
            ],
            server_url,
            tmp_path,
        )
        assert again.returncode == 0, again.stderr
        assert "generating" not in again.stdout  # reused, not rebuilt
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            for trades in (3000, 1000):
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dataset_name(trades, seed))
                    )
                )

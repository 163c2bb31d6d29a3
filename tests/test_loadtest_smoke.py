"""A real, short load test: the smoke scenario against a real server on a small generated
database, with Locust, the resource sampler and the verdict. Timings are not asserted (the
machine is shared); what is asserted is that every request met the API contract the locustfile
checks, that the summary, the reports and the stable results files are there and agree, and
that the pool the connections are judged against is the server's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from milkbot.generator import generate_dataset
from milkbot.perf.records import LoadTestResults, LoadTestSummary, ServerFacts
from milkbot.perf.resources import listening_pid
from milkbot.perf.server import server_facts
from tests.net import free_port
from tests.test_api import METRICS_TOKEN, write_metrics_token

REPO = Path(__file__).resolve().parents[1]
# Every route the locustfile may request; which ones a 15-second run reaches is up to its
# random task choice, so the test asserts a spread over known routes, not a fixed set.
ROUTES = {
    "/", "/cities", "/performance", "/strategies", "/trades", "/status", "/compare", "/health",
    "/static/[asset]",
    "/api/v1/summary", "/api/v1/trades/public", "/api/v1/metrics/cities",
    "/api/v1/metrics/strategies", "/api/v1/equity", "/api/v1/health", "/api/v1/calibration",
    "/api/v1/accounts", "/api/v1/comparison",
}  # fmt: skip


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"milkbot serve exited: {log.read_text()[-2000:]}"
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # 503 from /health is an answer
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def serve(db: str, port: int, log: Path, **settings: str) -> subprocess.Popen[bytes]:
    """`milkbot serve` on 127.0.0.1:``port`` and database ``db``, with ``settings``
    (environment variables) of its own."""
    env = {**os.environ, "MILKBOT_DATABASE_URL": db, "MILKBOT_LOG_LEVEL": "WARNING", **settings}
    with log.open("w") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "milkbot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def server(
    make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """(base URL, database URL, metrics token file) of `milkbot serve` on a database of 3,000
    generated trades."""
    db = make_database()
    generate_dataset(db, trades=3000, seed=11)
    port = free_port()
    home = tmp_path_factory.mktemp("serve")
    log = home / "serve.log"
    # The load test reads the server's /metrics with its token, as an operator's would.
    token = str(write_metrics_token(home))
    proc = serve(db, port, log, MILKBOT_METRICS_TOKEN_FILE=token)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", proc, log)
        yield f"http://127.0.0.1:{port}", db, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_pool_judged_is_the_servers_own(
    make_database: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool-capacity criterion is judged against the settings the server runs with, learnt
    # from the server (its /metrics and its workers), not from the load tester's environment.
    db = make_database()
    port = free_port()
    log = tmp_path / "serve.log"
    monkeypatch.setenv("MILKBOT_WORKERS", "4")
    monkeypatch.setenv("MILKBOT_POOL_SIZE", "50")
    pool = {"MILKBOT_WORKERS": "2", "MILKBOT_POOL_SIZE": "3", "MILKBOT_MAX_OVERFLOW": "1"}
    token = str(write_metrics_token(tmp_path))
    proc = serve(db, port, log, MILKBOT_METRICS_TOKEN_FILE=token, **pool)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/health", proc, log)
        facts = server_facts(base, listening_pid(port), METRICS_TOKEN)
        assert facts == ServerFacts(workers=2, pool_capacity=8)
        # Without its process (another user's), the workers, hence the capacity, are unknown;
        # without the metrics token, so is the pool.
        assert server_facts(base, None, METRICS_TOKEN) == ServerFacts(
            workers=None, pool_capacity=None
        )
        assert server_facts(base, listening_pid(port)) == ServerFacts(workers=2, pool_capacity=None)
    finally:
        # Granian hangs on a stop that comes while a worker is still starting: let both start.
        deadline = time.monotonic() + 60
        while not all(f"Started worker-{n}" in log.read_text() for n in (1, 2)):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        proc.terminate()
        proc.wait(timeout=30)


def test_smoke_run_produces_a_sane_verdict(server: tuple[str, str, str], tmp_path: Path) -> None:
    url, db, token = server
    results = tmp_path / "results"
    results.mkdir()
    # A result of another scenario already there, in the format that preceded the records,
    # must survive this run (converted).
    old = json.loads((REPO / "tests/performance/old_formats/loadtest.json").read_text())
    peak = {"peak": {**old["scenarios"]["smoke"], "scenario": "peak"}}
    (results / "loadtest.json").write_text(json.dumps({"scenarios": peak}))
    done = subprocess.run(
        [
            sys.executable, "-m", "milkbot", "perf", "loadtest",
            "--scenario", "smoke", "--users", "8", "--run-time", "15s",
            "--host", url, "--database-url", db, "--results", str(results),
        ],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
        env=os.environ | {"MILKBOT_METRICS_TOKEN_FILE": token},
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    out = results / "loadtest" / "smoke"
    summary = LoadTestSummary.read(out / "summary.json")
    assert summary.passed == (done.returncode == 0)
    assert "Load test smoke" in done.stdout

    # Every request met the contract: the locustfile and the API agree.
    total = summary.total
    assert total.requests > 20
    assert total.failures == 0, summary.top_failures
    assert set(summary.routes) <= ROUTES, set(summary.routes) - ROUTES
    assert len(summary.routes) >= 4
    assert total.p50_ms is not None and total.p95_ms is not None and total.p99_ms is not None
    assert total.p50_ms <= total.p95_ms <= total.p99_ms
    assert sum(r.requests for r in summary.routes.values()) == total.requests

    # Both no-think-time phases ran, against the same server.
    assert summary.ceiling and summary.ceiling.requests > 0 and summary.ceiling.failures == 0
    assert summary.capacity and summary.capacity.requests > 0 and summary.capacity.failures == 0
    bare = summary.ceiling.server_cpu_ms_per_request
    mix = summary.capacity.server_cpu_ms_per_request
    assert bare and mix and bare > 0 and mix > 0
    assert summary.capacity_to_ceiling == pytest.approx(bare / mix, rel=0.01)

    # The environment, the server and the resources were measured.
    assert summary.dataset is not None and summary.dataset.trades > 2000
    assert summary.dataset.postgres
    assert summary.machine.cores >= 1
    assert summary.server.workers == 1 and summary.server.pool_capacity == 30  # the defaults
    res = summary.resources
    assert res.samples >= 3
    assert res.db_connections_max is not None and res.db_connections_max >= 1
    assert res.server_cpu_peak_10s_pct is not None
    states = {c.name: c.state for c in summary.checks}
    assert states["error rate"] == "pass"
    assert all(state != "skip" for state in states.values()), states

    # Files: Locust's CSVs and HTML report, ours with its charts, the stable summary of every
    # scenario.
    for name in ("scenario_stats.csv", "scenario_stats_history.csv", "resources.csv"):
        assert (out / name).stat().st_size > 0
    assert "<html" in (out / "scenario.html").read_text().lower()
    report = (out / "report.html").read_text()
    assert report.count("<svg") >= 4  # self-contained: no script, stylesheet or image to fetch
    assert "<script" not in report and "<link" not in report and "<img" not in report
    assert 'href="scenario.html"' in report
    stable = LoadTestResults.read(results / "loadtest.json")
    assert set(stable.scenarios) == {"peak", "smoke"}
    assert stable.scenarios["smoke"] == summary
    assert "Load test smoke" in (results / "loadtest.txt").read_text()

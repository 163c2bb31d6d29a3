"""Fixtures of the query performance tests: a generated dataset on the test server (built once,
reused by name: milkbot_perf_<trades>_s42), the analytics service on it, the results files and
the optional cProfile per test.

Size: ``--perf-trades N``, else ``MILKBOT_PERF_TRADES``, else 1,000,000. Timed calls per query:
``MILKBOT_PERF_ITERATIONS`` (default 300). These tests run when asked for - by path
(``pytest tests/performance/...``) or by marker (``-m perf``) - and are skipped in a plain
``pytest`` run of the whole suite, which stays fast.
"""

from __future__ import annotations

import cProfile
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from milkbot.analytics.benchmark import (
    GUIDE,
    Dataset,
    Percentiles,
    Plan,
    database_info,
    ensure_dataset,
    machine_info,
    make_plan,
)
from milkbot.analytics.service import Analytics
from milkbot.perf.fingerprint import analytics_fingerprint
from milkbot.perf.query_text import render_query_text
from milkbot.settings import Settings

HERE = Path(__file__).parent
RESULTS = HERE / "results"
# The cProfile files --profile wrote this session: (test id, path).
PROFILES = pytest.StashKey[list[tuple[str, Path]]]()
SEED = 42
DEFAULT_TRADES = 1_000_000


def perf_trades(config: pytest.Config) -> int:
    """Dataset size from --perf-trades, $MILKBOT_PERF_TRADES or the default (1M)."""
    option = config.getoption("--perf-trades")
    return int(option or os.environ.get("MILKBOT_PERF_TRADES") or DEFAULT_TRADES)


@pytest.fixture(scope="session")
def perf_iterations() -> int:
    """Timed calls per query: $MILKBOT_PERF_ITERATIONS or 300."""
    return int(os.environ.get("MILKBOT_PERF_ITERATIONS") or 300)


def _asked_for(config: pytest.Config) -> bool:
    """True when the run names this folder (or a file in it) or selects the perf marker."""
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    expr = str(config.getoption("markexpr") or "")
    return "perf" in expr and "not perf" not in expr


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    skip = pytest.mark.skip(
        reason="performance tests run on their own: "
        "pytest tests/performance/test_query_performance.py -v -s"
    )
    for item in items:
        if item.get_closest_marker("perf"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def perf_dataset(server_url: str, pytestconfig: pytest.Config) -> Dataset:
    """The generated dataset (built on first use, then reused)."""
    return ensure_dataset(server_url, perf_trades(pytestconfig), SEED, progress=print)


@pytest.fixture(scope="session")
async def perf_analytics(perf_dataset: Dataset) -> AsyncIterator[Analytics]:
    """The analytics service on the dataset, with its timing logs rendered (their cost is part
    of every call) into /dev/null."""
    sink = open(os.devnull, "w")  # noqa: SIM115
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=sink),
    )
    settings = Settings(database_url=perf_dataset.url)
    async with Analytics(settings, perf_dataset.url, bypass_cache=True) as analytics:
        yield analytics
    structlog.reset_defaults()
    sink.close()


@pytest.fixture(scope="session")
async def perf_plan(perf_analytics: Analytics, perf_dataset: Dataset) -> Plan:
    """The calls to time, windows ending at the dataset's last settlement day."""
    return await make_plan(perf_analytics, perf_dataset.end_date)


@dataclass
class Results:
    """Collects each query's figures and rewrites current.json / current.txt after each one.
    Figures of other queries from an earlier run on the same data, machine and server are kept,
    so the single-test command updates its own line."""

    header: dict[str, Any]
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def load_previous(self) -> None:
        path = RESULTS / "current.json"
        if not path.exists():
            return
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return

        def machine(header: dict[str, Any]) -> Any:
            return {k: v for k, v in header.get("machine", {}).items() if k != "load_average"}

        same = ("postgres", "data", "fingerprint")
        if machine(previous) == machine(self.header) and all(
            previous.get(k) == self.header.get(k) for k in same
        ):
            self.queries.update(previous.get("queries", {}))

    def record(self, name: str, p: Percentiles, iterations: int) -> None:
        guide = GUIDE[name.removesuffix("_deep")]
        self.queries[name] = {
            **{k: round(v, 4) for k, v in asdict(p).items() if k != "n"},
            "n": p.n,
            "iterations": iterations,
            "goal_ms": guide.goal_ms,
            "target_ms": guide.target_ms,
            "critical_ms": guide.critical_ms,
            "status": "FAIL" if p.p95 > guide.critical_ms else "ok",
        }
        self.write()

    def write(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        payload = {
            **self.header,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "queries": dict(sorted(self.queries.items())),
        }
        (RESULTS / "current.json").write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
        (RESULTS / "current.txt").write_text(self.text(), "utf-8")

    def text(self) -> str:
        """The guide's diff-friendly text record (see milkbot.perf.query_text)."""
        return render_query_text(self.header, self.queries)

    def make_baseline_if_none(self) -> str | None:
        """On a fresh clone there is no baseline for the guide's `diff`: the first complete run
        becomes it. Returns what to tell the user, or None when a baseline exists."""
        if not self.queries or (RESULTS / "baseline.txt").exists():
            return None
        for suffix in (".json", ".txt"):
            shutil.copyfile(RESULTS / f"current{suffix}", RESULTS / f"baseline{suffix}")
        return (
            f"no baseline yet: this run is now the baseline ({RESULTS / 'baseline.txt'}); "
            "the next run's current.txt compares with it"
        )


@pytest.fixture(scope="session")
async def perf_fingerprint(perf_analytics: Analytics, perf_dataset: Dataset) -> str:
    """Fingerprint of the analytics outputs over the dataset's last settled year."""
    last = perf_dataset.end_date - timedelta(days=2)
    return await analytics_fingerprint(perf_analytics, last - timedelta(days=364), last)


BASELINE_NOTE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def perf_results(
    perf_dataset: Dataset, perf_fingerprint: str, pytestconfig: pytest.Config
) -> Iterator[Results]:
    """Where the tests put their figures (tests/performance/results/current.*); at the end of
    the session, the baseline too when there is none yet."""
    info = database_info(perf_dataset.url)
    data = {k: v for k, v in info.items() if k != "postgres"} | {"seed": perf_dataset.seed}
    machine = machine_info()
    results = Results(
        {
            "machine": machine,
            "postgres": info["postgres"],
            "data": data,
            "fingerprint": perf_fingerprint,
        }
    )
    results.load_previous()
    print(
        f"\n{machine['cpu']}, {machine['cores']} cores, load average {machine['load_average']};"
        f" PostgreSQL {info['postgres']}; {info['trades']:,} trades in {perf_dataset.name}"
    )
    yield results
    note = results.make_baseline_if_none()
    if note:
        pytestconfig.stash[BASELINE_NOTE] = note


@pytest.fixture(autouse=True)
def profile_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """With --profile, a cProfile of the test (stdlib only) in results/profile_<test>.stats."""
    if not request.config.getoption("--profile"):
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        path = RESULTS / f"profile_{name}.stats"
        profiler.dump_stats(path)
        request.config.stash.setdefault(PROFILES, []).append((request.node.nodeid, path))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say so when this run became the baseline (the guide's `diff` needs one), and, with
    --profile, where each test's cProfile went and how to read it."""
    note = config.stash.get(BASELINE_NOTE, None)
    if note:
        terminalreporter.write_line(note)
    written = config.stash.get(PROFILES, [])
    if not written:
        return
    terminalreporter.section("cProfile (--profile)")
    for nodeid, path in written:
        terminalreporter.write_line(f"{nodeid}: wrote {path}")
    terminalreporter.write_line(f"read one with: python -m pstats {written[0][1]}")

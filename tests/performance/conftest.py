"""Fixtures of the query performance tests: a generated dataset on the test server (built once,
reused by name: milkbot_perf_<trades>_s42), the analytics service on it, the results files and
the optional cProfile per test.

The per-account queries are timed for the primary account and the dataset's typical generated
account (:func:`milkbot.perf.query_bench.typical_account`), the comparison across all of them.
Size: ``--perf-trades N``, else ``MILKBOT_PERF_TRADES``, else 1,000,000. Timed calls per query:
``MILKBOT_PERF_ITERATIONS`` (default 300). These tests run when asked for - by path
(``pytest tests/performance/...``) or by marker (``-m perf``) - and are skipped in a plain
``pytest`` run of the whole suite, which stays fast.
"""

from __future__ import annotations

import cProfile
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import ValidationError

from milkbot.analytics.service import Analytics
from milkbot.perf.datasets import GeneratedDatabase, ensure_dataset
from milkbot.perf.environment import describe_dataset, describe_machine
from milkbot.perf.query_bench import QueryCalls, dataset_fingerprint, make_calls, query_figures
from milkbot.perf.query_text import render_query_text
from milkbot.perf.records import QueryBenchmark, Timing
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
def perf_dataset(server_url: str, pytestconfig: pytest.Config) -> GeneratedDatabase:
    """The generated dataset (built on first use, then reused)."""
    return ensure_dataset(server_url, perf_trades(pytestconfig), SEED, progress=print)


@pytest.fixture(scope="session")
async def perf_analytics(perf_dataset: GeneratedDatabase) -> AsyncIterator[Analytics]:
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
async def perf_calls(perf_analytics: Analytics, perf_dataset: GeneratedDatabase) -> QueryCalls:
    """The calls to time, windows ending at the dataset's last settlement day."""
    return await make_calls(perf_analytics, perf_dataset.end_date)


@dataclass
class Results:
    """Collects each query's figures and rewrites current.json / current.txt (one record, see
    milkbot.perf.records and milkbot.perf.query_text) after each one. Figures of other queries
    from an earlier run on the same data, machine and server are kept, so the single-test
    command updates its own line."""

    record: QueryBenchmark

    def load_previous(self) -> None:
        try:
            previous = QueryBenchmark.read(RESULTS / "current.json")
        except (OSError, ValidationError):
            return

        def alike(r: QueryBenchmark) -> Any:
            machine = r.machine.model_copy(update={"load_average": None})
            dataset = r.dataset.model_copy(update={"database_mb": None})
            return machine, dataset, r.fingerprint, r.accounts

        if alike(previous) == alike(self.record):
            queries = previous.queries | self.record.queries
            self.record = self.record.model_copy(update={"queries": queries})

    def add(self, name: str, timing: Timing, iterations: int) -> None:
        queries = self.record.queries | {name: query_figures(name, timing, iterations)}
        self.record = self.record.model_copy(update={"queries": dict(sorted(queries.items()))})
        self.save()

    def add_floor(self, timing: Timing) -> None:
        """The floor (``SELECT 1`` through the pool) as last measured, beside the queries."""
        self.record = self.record.model_copy(update={"floor": timing})
        self.save()

    def save(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.record.write(RESULTS / "current.json")
        (RESULTS / "current.txt").write_text(render_query_text(self.record), "utf-8")

    def make_baseline_if_none(self) -> str | None:
        """On a fresh clone there is no baseline for the guide's `diff`: the first complete run
        becomes it. Returns what to tell the user, or None when a baseline exists."""
        if not self.record.queries or (RESULTS / "baseline.txt").exists():
            return None
        for suffix in (".json", ".txt"):
            shutil.copyfile(RESULTS / f"current{suffix}", RESULTS / f"baseline{suffix}")
        return (
            f"no baseline yet: this run is now the baseline ({RESULTS / 'baseline.txt'}); "
            "the next run's current.txt compares with it"
        )


@pytest.fixture(scope="session")
async def perf_fingerprint(
    perf_analytics: Analytics, perf_dataset: GeneratedDatabase, perf_calls: QueryCalls
) -> str:
    """Fingerprint of the analytics outputs over the dataset's last settled year (each account
    timed, and the comparison)."""
    accounts = list(perf_calls.accounts.values())
    return await dataset_fingerprint(perf_analytics, perf_dataset.end_date, accounts)


BASELINE_NOTE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def perf_results(
    perf_dataset: GeneratedDatabase,
    perf_fingerprint: str,
    perf_calls: QueryCalls,
    pytestconfig: pytest.Config,
) -> Iterator[Results]:
    """Where the tests put their figures (tests/performance/results/current.*); at the end of
    the session, the baseline too when there is none yet."""
    machine = describe_machine()
    dataset = describe_dataset(perf_dataset.url, perf_dataset.seed)
    record = QueryBenchmark(
        machine=machine,
        dataset=dataset,
        fingerprint=perf_fingerprint,
        accounts=perf_calls.accounts,
        queries={},
    )
    results = Results(record)
    results.load_previous()
    print(
        f"\n{machine.cpu}, {machine.cores} cores, load average {list(machine.load_average or ())};"
        f" PostgreSQL {dataset.postgres}; {dataset.trades:,} trades, {dataset.accounts or 0:,}"
        f" accounts in {perf_dataset.name}; timed: "
        + ", ".join(f"{role} = {name}" for role, name in perf_calls.accounts.items())
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

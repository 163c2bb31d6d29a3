"""The measurement results format: what the harness persists and compares later, as frozen,
typed records with a schema version and a JSON round trip (``write`` then ``read`` gives an
equal record).

Two kinds of results file, told apart by ``kind``:

- :class:`QueryBenchmark` (``"queries"``): per-query timings on a described dataset and machine,
  written by ``milkbot bench queries --json`` and by the query performance tests
  (``tests/performance/results/current.json``; ``current.txt`` is the same record as text, see
  :mod:`milkbot.perf.query_text`);
- :class:`LoadTestResults` (``"loadtest"``): the latest :class:`LoadTestSummary` of each load-test
  scenario (``loadtest.json``; each scenario's ``summary.json`` is its summary alone).

:func:`read_results` reads either; it is the regression gate's input. Files written before this
format existed are converted by :mod:`milkbot.perf.legacy`. Times in ms, rates as fractions,
CPU and memory in % of the machine unless a name says otherwise.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from milkbot.perf.scenarios import StressPlan

SCHEMA_VERSION: Final = 1
State = Literal["pass", "fail", "critical", "skip", "info"]


class Record(BaseModel):
    """A frozen record that refuses unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ResultsFile(Record):
    """A record stored as a JSON file of its own."""

    schema_version: Literal[1] = SCHEMA_VERSION

    def write(self, path: Path) -> None:
        """Write the record to ``path`` as indented JSON."""
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Self:
        """The record in ``path`` (raises ``OSError`` or pydantic's ``ValidationError``)."""
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


class Machine(Record):
    """Where a run ran: CPU model, logical cores, memory (GiB), OS, Python, and the 1/5/15-minute
    load average when measured (a busy machine's figures are not comparable with a quiet one's).
    ``None``: not recorded (the text form keeps only CPU, cores, memory and OS)."""

    hostname: str | None = None
    cpu: str
    cores: int
    memory_gib: float | None
    os: str
    python: str | None = None
    load_average: tuple[float, float, float] | None = None


class Dataset(Record):
    """What was measured on: the PostgreSQL version and the data volume (exact trade count,
    estimated signals and markets, settlement days covered, database size in MB, accounts), and
    the generator seed when known."""

    postgres: str
    trades: int
    seed: int | None = None
    signals_estimate: int | None = None
    markets_estimate: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    database_mb: int | None = None
    accounts: int | None = None


# --- query benchmarks ------------------------------------------------------------------------


class Timing(Record):
    """Summary of one timing loop, in milliseconds (percentiles by linear interpolation)."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Timing:
        """The figures of ``samples_ms``, rounded to 0.1 µs."""
        import numpy as np  # here: the locustfile imports this module, and needs no numpy

        a = np.asarray(samples_ms, dtype=float)
        p50, p95, p99 = (float(v) for v in np.percentile(a, [50, 95, 99]))
        figures = (p50, p95, p99, float(a.mean()), float(a.min()), float(a.max()))
        p50, p95, p99, mean, low, high = (round(v, 4) for v in figures)
        return cls(n=len(a), p50=p50, p95=p95, p99=p99, mean=mean, min=low, max=high)


class QueryFigures(Record):
    """One query's timing (ms) beside the guide's target and critical threshold and this
    project's goal; ``status`` is FAIL when the P95 is past the critical threshold. The text
    form keeps P50/P95/P99, the thresholds and the status only."""

    p50: float
    p95: float
    p99: float
    target_ms: float
    critical_ms: float
    goal_ms: float | None = None
    status: Literal["ok", "FAIL"]
    n: int | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    iterations: int | None = None


class Growth(Record):
    """The same queries timed on a smaller dataset of ``trades`` trades, interleaved with the
    main run so that the growth ratios compare like with like."""

    trades: int
    queries: dict[str, Timing]
    floor: Timing


class QueryBenchmark(ResultsFile):
    """A query benchmark: each query's figures (warm, cache bypassed, wall clock of one call
    through the pool), and with ``milkbot bench queries`` also the naive SQL over the raw trades,
    the ``SELECT 1`` floor and the growth from a smaller dataset. ``fingerprint``: of the
    analytics outputs on the dataset (:func:`milkbot.perf.query_bench.dataset_fingerprint`).

    The per-account queries are timed for each account of ``accounts`` (by role: ``primary``,
    the configured primary account, under the plain query names; ``typical``, the generated
    account of median trade count, under names ending ``@typical``); ``comparison`` spans all
    public accounts."""

    kind: Literal["queries"] = "queries"
    machine: Machine
    dataset: Dataset
    fingerprint: str | None
    days: int = 30
    accounts: dict[str, str] = Field(default_factory=dict)
    queries: dict[str, QueryFigures]
    naive: dict[str, Timing] = Field(default_factory=dict)
    floor: Timing | None = None
    growth: Growth | None = None


# --- load tests ------------------------------------------------------------------------------


class Figures(Record):
    """Throughput and latency of one route (or all) over a window: requests per second, error
    rate as a fraction, percentiles in ms (``None`` without responses)."""

    requests: int
    failures: int
    rps: float
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class ThroughputPhase(Figures):
    """A no-think-time phase (capacity or ceiling): users, length (s), average CPU of the
    server and of Locust, and the server's CPU time per request (ms)."""

    users: int
    seconds: float
    server_cpu_avg_pct: float | None
    server_cpu_ms_per_request: float | None
    loadgen_cpu_avg_pct: float | None


class StressStage(Figures):
    """One judged stage of the breaking-point search: users, window (length, and end in s since
    the test started), the routes over a limit, whether it broke, and the average CPU of the
    server and of Locust over the window (added by the runner)."""

    users: int
    seconds: float
    ended: float
    broke: bool
    broken_routes: dict[str, Figures]
    server_cpu_avg_pct: float | None = None
    loadgen_cpu_avg_pct: float | None = None


class BreakingPoint(Record):
    """Where the search broke, held last, or which route broke first: users and figures."""

    users: int
    rps: float | None = None
    route: str | None = None
    p95_ms: float | None = None
    error_rate: float | None = None


class StressSearch(Record):
    """The breaking-point search's outcome: its plan (after holding ``hold_users`` users for
    ``hold_s`` s), the stages, why it stopped, the breaking point, the last stage that held,
    the route that broke first, and the wall time (s since the epoch) stage times count from."""

    hold_users: int
    hold_s: float
    plan: StressPlan
    stages: list[StressStage]
    stop_reason: str | None
    breaking_point: BreakingPoint | None
    last_good: BreakingPoint | None
    broke_first: BreakingPoint | None
    wall0: float | None = None


class ResourcePeaks(Record):
    """Peaks of the resource samples over the measured window (CPU and memory in % of the whole
    machine, server CPU also as its highest 10-second average, memory of the web server in
    MiB, the app's database connections)."""

    samples: int
    server_cpu_peak_10s_pct: float | None
    server_cpu_max_pct: float | None
    app_cpu_max_pct: float | None
    db_cpu_max_pct: float | None
    loadgen_cpu_max_pct: float | None
    machine_cpu_max_pct: float | None
    machine_mem_max_pct: float | None
    app_rss_max_mb: float | None
    db_connections_max: int | None


class Criterion(Record):
    """One line of a verdict: what, the measured value as shown, the target, the state."""

    name: str
    value: float | None
    shown: str
    target: str
    state: State
    note: str = ""

    @property
    def passed(self) -> bool:
        """Whether it held (skipped and informational lines do not fail)."""
        return self.state not in ("fail", "critical")


class ServerFacts(Record):
    """The server under test as it runs: web worker processes and database connections it may
    open (workers x (pool size + overflow)); ``None`` when they could not be learnt."""

    workers: int | None
    pool_capacity: int | None


class LoadSettings(Record):
    """What load was applied: users, spawn rate (users/s), run time (s), the user mix and the
    think time range (s) of each kind of user."""

    users: int
    spawn_rate: float
    run_time_s: float
    weights: dict[str, int]
    think_time_s: dict[str, tuple[float, float]]


class Failure(Record):
    """A failure Locust counted, and how often."""

    route: str
    error: str
    count: int


class LoadTestSummary(ResultsFile):
    """Everything one load-test scenario measured and its verdict (``summary.json``)."""

    scenario: str
    description: str
    verdict: Literal["pass", "fail"]
    finished_at: datetime
    commit: str | None
    target: str
    platform: str
    machine: Machine
    dataset: Dataset | None
    server: ServerFacts
    load: LoadSettings
    window_s: float
    total: Figures
    server_cpu_ms_per_request: float | None
    routes: dict[str, Figures]
    capacity: ThroughputPhase | None
    ceiling: ThroughputPhase | None
    ceiling_path: str
    capacity_to_ceiling: float | None
    resources: ResourcePeaks
    checks: list[Criterion]
    goals: list[Criterion]
    stress: StressSearch | None
    top_failures: list[Failure]
    notes: list[str]

    @property
    def passed(self) -> bool:
        """Whether the guide's criteria held."""
        return self.verdict == "pass"


class LoadTestResults(ResultsFile):
    """The latest summary of each scenario (``loadtest.json``), what the gate compares."""

    kind: Literal["loadtest"] = "loadtest"
    scenarios: dict[str, LoadTestSummary]


AnyResults = Annotated[QueryBenchmark | LoadTestResults, Field(discriminator="kind")]
_RESULTS: TypeAdapter[QueryBenchmark | LoadTestResults] = TypeAdapter(AnyResults)


def parse_results(data: Any) -> QueryBenchmark | LoadTestResults:
    """A results file's parsed JSON as its record (raises pydantic's ``ValidationError``)."""
    return _RESULTS.validate_python(data)

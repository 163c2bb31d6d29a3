"""A load test's raw run (phases, resource samples, the server under test) judged into its
:class:`~milkbot.perf.records.LoadTestSummary`: the guide's criteria, the goal figures, the
phases without think time, the resource peaks and the notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from milkbot.perf.histograms import AGGREGATED, PhaseResult, read_failures
from milkbot.perf.records import (
    Dataset,
    LoadSettings,
    LoadTestSummary,
    Machine,
    ResourcePeaks,
    ServerFacts,
    StressSearch,
    ThroughputPhase,
)
from milkbot.perf.resources import ResourceSample
from milkbot.perf.scenarios import Scenario, parse_weights
from milkbot.perf.verdict import Criteria, Measured, evaluate, goals, passed, rolling_peak

CPU_AVERAGE_S = 10.0
THINK_TIME_S = {"dashboard": (2.0, 5.0), "api": (1.0, 3.0)}  # the locustfile's users


@dataclass(frozen=True)
class LoadTestRun:
    """Everything a run produced, before it is judged: what ran against what (``server``: the
    tested server's workers and pool, ``server_found``: its process was seen, so its CPU was
    measured), the phases' windows, the resource samples and the notes gathered on the way."""

    scenario: Scenario
    target: str
    weights: str | None
    machine: Machine
    dataset: Dataset | None
    commit: str | None
    server: ServerFacts
    phases: dict[str, PhaseResult]
    samples: list[ResourceSample]
    started_platform: bool
    server_found: bool
    notes: list[str]
    ceiling_path: str
    out: Path
    sample_interval_s: float = 1.0


def resource_peaks(
    samples: list[ResourceSample], start: float, stop: float, interval_s: float
) -> ResourcePeaks:
    """Peaks of the samples taken in [start, stop] (s since the epoch); server CPU also as the
    highest 10-second average, which is what the CPU criterion judges."""
    win = [s for s in samples if start <= s.t <= stop + interval_s]
    conns = [s.db_connections for s in win if s.db_connections is not None]
    n = max(1, round(CPU_AVERAGE_S / interval_s))

    def top(values: list[float]) -> float | None:
        return round(max(values), 1) if values else None

    avg = rolling_peak([s.server_cpu for s in win], n)
    return ResourcePeaks(
        samples=len(win),
        server_cpu_peak_10s_pct=None if avg is None else round(avg, 1),
        server_cpu_max_pct=top([s.server_cpu for s in win]),
        app_cpu_max_pct=top([s.app_cpu for s in win]),
        db_cpu_max_pct=top([s.db_cpu for s in win]),
        loadgen_cpu_max_pct=top([s.loadgen_cpu for s in win]),
        machine_cpu_max_pct=top([s.machine_cpu for s in win]),
        machine_mem_max_pct=top([s.machine_mem for s in win]),
        app_rss_max_mb=top([s.app_rss_mb for s in win]),
        db_connections_max=max(conns) if conns else None,
    )


def cpu_ms_per_request(
    samples: list[ResourceSample], start: float, stop: float, requests: int, interval_s: float
) -> float | None:
    """The server's CPU time (web + database) per request in ms over [start, stop]."""
    if not requests:
        return None
    used = sum(x.server_cpu_s for x in samples if start < x.t <= stop + interval_s)
    return round(1000 * used / requests, 3) if used else None


def _average(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _phase(
    result: PhaseResult | None, users: int, samples: list[ResourceSample], interval_s: float
) -> ThroughputPhase | None:
    """A no-think-time phase's figures, with the average CPU of the server and of Locust over
    it (Locust is one process: near one core, i.e. 100 / cores %, it is what limits the rate)."""
    if result is None:
        return None
    win = [x for x in samples if result.started < x.t <= result.stopped]
    return ThroughputPhase(
        **result.total.model_dump(),
        users=users,
        seconds=round(result.seconds, 1),
        server_cpu_avg_pct=_average([x.server_cpu for x in win]),
        server_cpu_ms_per_request=cpu_ms_per_request(
            samples, result.started, result.stopped, result.total.requests, interval_s
        ),
        loadgen_cpu_avg_pct=_average([x.loadgen_cpu for x in win]),
    )


def _stage_cpu(search: StressSearch | None, samples: list[ResourceSample]) -> StressSearch | None:
    """The search with the average server and Locust CPU over each stage's window."""
    if search is None or search.wall0 is None:
        return search
    stages = []
    for stage in search.stages:
        end = search.wall0 + stage.ended
        win = [x for x in samples if end - stage.seconds < x.t <= end]
        cpu = {
            "server_cpu_avg_pct": _average([x.server_cpu for x in win]),
            "loadgen_cpu_avg_pct": _average([x.loadgen_cpu for x in win]),
        }
        stages.append(stage.model_copy(update=cpu))
    return search.model_copy(update={"stages": stages})


def client_notes(cpus: int, **loadgen_cpu_pct: float | None) -> list[str]:
    """A note for each window (phase or stress stage; its average Locust CPU in % of the
    machine) in which Locust used (nearly) a whole core: there the rate may be the load
    generator's limit rather than the server's."""
    return [
        f"Locust used a whole core in the {name.replace('_', ' ')} window: that rate may be "
        "the load generator's limit rather than the server's"
        for name, pct in loadgen_cpu_pct.items()
        if (pct or 0) >= 0.9 * 100 / cpus
    ]


def judge_run(run: LoadTestRun) -> LoadTestSummary:
    """Judge the run against the guide's criteria and gather every figure into its summary."""
    sc = run.scenario
    main = run.phases["scenario"]
    total = main.total
    capacity = run.phases.get("capacity")
    ceiling = run.phases.get("ceiling")
    res = resource_peaks(run.samples, main.started, main.stopped, run.sample_interval_s)
    search = _stage_cpu(main.search, run.samples)
    breaking = search.breaking_point if search else None
    ceiling_ok = (
        ceiling is not None and ceiling.total.requests > 0 and ceiling.total.error_rate < 0.01
    )
    interval = run.sample_interval_s
    cap = _phase(capacity, sc.phase_users, run.samples, interval)
    ceil = _phase(ceiling, sc.phase_users, run.samples, interval) if ceiling_ok else None
    found = run.server_found
    measured = Measured(
        rps=total.rps,
        capacity_rps=capacity.total.rps if capacity and capacity.total.requests else None,
        p50_ms=total.p50_ms,
        p95_ms=total.p95_ms,
        p99_ms=total.p99_ms,
        error_rate=total.error_rate,
        requests=total.requests,
        cpu_pct=res.server_cpu_peak_10s_pct if found else None,
        mem_pct=res.machine_mem_max_pct,
        db_connections=res.db_connections_max,
        pool_capacity=run.server.pool_capacity,
        ceiling_rps=ceil.rps if ceil else None,
        ceiling_cost_ms=ceil.server_cpu_ms_per_request if ceil and found else None,
        capacity_cost_ms=cap.server_cpu_ms_per_request if cap and found else None,
        breaking_users=breaking.users if breaking else None,
        search_max_users=sc.stress.max_users if sc.stress else None,
    )
    checks = evaluate(measured, Criteria(p95_ms=sc.p95_target_ms))
    goal_checks = goals(measured, sc.users if sc.stress else None)
    broke = next((st for st in search.stages if st.broke), None) if search else None
    notes = run.notes + client_notes(
        run.machine.cores,
        ceiling=ceil.loadgen_cpu_avg_pct if ceil else None,
        capacity=cap.loadgen_cpu_avg_pct if cap else None,
        breaking_point=broke.loadgen_cpu_avg_pct if broke else None,
    )
    ratio = next((g.value for g in goal_checks if g.name == "mixed / bare ceiling"), None)
    return LoadTestSummary(
        scenario=sc.name,
        description=sc.description,
        verdict="pass" if passed(checks) else "fail",
        finished_at=datetime.now(UTC).replace(microsecond=0),
        commit=run.commit,
        target=run.target,
        platform="private (started by this run)" if run.started_platform else "already running",
        machine=run.machine,
        dataset=run.dataset,
        server=run.server,
        load=LoadSettings(
            users=sc.users,
            spawn_rate=sc.spawn_rate,
            run_time_s=sc.run_time_s,
            weights=parse_weights(run.weights),
            think_time_s=THINK_TIME_S,
        ),
        window_s=round(main.seconds, 1),
        total=total,
        server_cpu_ms_per_request=cpu_ms_per_request(
            run.samples, main.started, main.stopped, total.requests, interval
        ),
        routes={k: v for k, v in sorted(main.routes.items()) if k != AGGREGATED},
        capacity=cap,
        ceiling=ceil,
        ceiling_path=run.ceiling_path,
        capacity_to_ceiling=round(ratio, 3) if ratio else None,
        resources=res,
        checks=checks,
        goals=goal_checks,
        stress=search,
        top_failures=read_failures(run.out / "scenario_failures.csv"),
        notes=notes,
    )

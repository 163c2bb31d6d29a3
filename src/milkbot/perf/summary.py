"""A load test's record, its summary (JSON, one screen of text) and the files it writes.

``summary.json`` in the scenario's directory holds every figure; ``<results>/loadtest.json``
keeps the latest summary of each scenario (what a release gate compares against a baseline) and
``<results>/loadtest.txt`` their one-screen texts; ``resources.csv`` the sampler's readings.
"""

from __future__ import annotations

import csv
import json
import platform
import subprocess
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from milkbot.perf.resources import Sample
from milkbot.perf.results import PhaseResult, read_failures
from milkbot.perf.scenarios import Scenario, parse_weights
from milkbot.perf.stats import AGGREGATED
from milkbot.perf.verdict import Criteria, Measured, evaluate, goals, passed, rolling_peak

DB_FACTS = """
SELECT current_setting('server_version'),
       (SELECT count(*) FROM ops.trades),
       pg_database_size(current_database())
"""
CPU_AVERAGE_S = 10.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_environment(db_url: str | None) -> dict[str, Any]:
    """The machine, and the database's PostgreSQL version and data volume (trades, MB)."""
    facts: dict[str, Any] = {
        "machine": {
            "hostname": platform.node(),
            "cpu_model": _cpu_model(),
            "cpus": psutil.cpu_count() or 1,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(terse=True),
            "python": platform.python_version(),
        },
        "postgres": None,
    }
    if db_url:
        try:
            with psycopg.connect(db_url, connect_timeout=5) as conn:
                row = conn.execute(DB_FACTS).fetchone()
        except psycopg.Error:
            row = None
        if row:
            facts["postgres"] = {
                "version": row[0],
                "trades": row[1],
                "database_mb": round(row[2] / 2**20),
            }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        facts["commit"] = commit.stdout.strip() or None
    except OSError:
        facts["commit"] = None
    return facts


@dataclass
class RunRecord:
    """Everything a run produced, before it is judged and written."""

    scenario: Scenario
    target: str
    weights: str | None
    facts: dict[str, Any]
    phases: dict[str, PhaseResult]
    samples: list[Sample]
    pool_capacity: int
    workers: int
    started_platform: bool
    server_found: bool
    notes: list[str]
    ceiling_path: str
    out: Path
    sample_interval_s: float = 1.0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.summary.get("verdict") == "pass")


def resource_peaks(
    samples: list[Sample], start: float, stop: float, interval_s: float
) -> dict[str, Any]:
    """Peaks of the samples taken in [start, stop] (s since the epoch); server CPU also as the
    highest 10-second average, which is what the CPU criterion judges."""
    win = [s for s in samples if start <= s.t <= stop + interval_s]
    conns = [s.db_connections for s in win if s.db_connections is not None]
    n = max(1, round(CPU_AVERAGE_S / interval_s))

    def top(values: list[float]) -> float | None:
        return round(max(values), 1) if values else None

    avg = rolling_peak([s.server_cpu for s in win], n)
    return {
        "samples": len(win),
        "server_cpu_peak_10s_pct": None if avg is None else round(avg, 1),
        "server_cpu_max_pct": top([s.server_cpu for s in win]),
        "app_cpu_max_pct": top([s.app_cpu for s in win]),
        "db_cpu_max_pct": top([s.db_cpu for s in win]),
        "loadgen_cpu_max_pct": top([s.loadgen_cpu for s in win]),
        "machine_cpu_max_pct": top([s.machine_cpu for s in win]),
        "machine_mem_max_pct": top([s.machine_mem for s in win]),
        "app_rss_max_mb": top([s.app_rss_mb for s in win]),
        "db_connections_max": max(conns) if conns else None,
    }


def cpu_ms_per_request(
    samples: list[Sample], start: float, stop: float, requests: int, interval_s: float
) -> float | None:
    """The server's CPU time (web + database) per request in ms over [start, stop]."""
    if not requests:
        return None
    used = sum(x.server_cpu_s for x in samples if start < x.t <= stop + interval_s)
    return round(1000 * used / requests, 3) if used else None


def _phase(
    result: PhaseResult | None, users: int, samples: list[Sample], interval_s: float
) -> dict[str, Any] | None:
    """A no-think-time phase's figures, with the average CPU of the server and of Locust over
    it (Locust is one process: near one core, i.e. 100 / cores %, it is what limits the rate)."""
    if result is None:
        return None
    win = [x for x in samples if result.started < x.t <= result.stopped]

    def avg(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    return {
        "users": users,
        "seconds": round(result.seconds, 1),
        **result.total.to_dict(),
        "server_cpu_avg_pct": avg([x.server_cpu for x in win]),
        "server_cpu_ms_per_request": cpu_ms_per_request(
            samples, result.started, result.stopped, result.total.requests, interval_s
        ),
        "loadgen_cpu_avg_pct": avg([x.loadgen_cpu for x in win]),
    }


def _stage_cpu(search: dict[str, Any] | None, samples: list[Sample]) -> None:
    """Add the average server and Locust CPU of each stress stage's window to its dict."""
    if not search or "wall0" not in search:
        return
    for stage in search["stages"]:
        end = search["wall0"] + stage["ended"]
        win = [x for x in samples if end - stage["seconds"] < x.t <= end]
        for key, attr in (
            ("server_cpu_avg_pct", "server_cpu"),
            ("loadgen_cpu_avg_pct", "loadgen_cpu"),
        ):
            values = [float(getattr(x, attr)) for x in win]
            stage[key] = round(sum(values) / len(values), 1) if values else None


def client_notes(cpus: int, **windows: dict[str, Any] | None) -> list[str]:
    """A note for each window (phase or stress stage) in which Locust used (nearly) a whole
    core: there the rate may be the load generator's limit rather than the server's."""
    return [
        f"Locust used a whole core in the {name.replace('_', ' ')} window: that rate may be "
        "the load generator's limit rather than the server's"
        for name, window in windows.items()
        if window and (window.get("loadgen_cpu_avg_pct") or 0) >= 0.9 * 100 / cpus
    ]


def build_summary(rec: RunRecord) -> dict[str, Any]:
    """Judge the run and gather every figure into one JSON-ready dict."""
    sc = rec.scenario
    main = rec.phases["scenario"]
    total = main.total
    capacity = rec.phases.get("capacity")
    ceiling = rec.phases.get("ceiling")
    res = resource_peaks(rec.samples, main.started, main.stopped, rec.sample_interval_s)
    search = main.search or {}
    breaking = search.get("breaking_point")
    ceiling_ok = (
        ceiling is not None and ceiling.total.requests > 0 and ceiling.total.error_rate < 0.01
    )
    interval = rec.sample_interval_s
    cap = _phase(capacity, sc.phase_users, rec.samples, interval)
    ceil = _phase(ceiling, sc.phase_users, rec.samples, interval) if ceiling_ok else None
    measured = Measured(
        rps=total.rps,
        capacity_rps=capacity.total.rps if capacity and capacity.total.requests else None,
        p50_ms=total.p50_ms,
        p95_ms=total.p95_ms,
        p99_ms=total.p99_ms,
        error_rate=total.error_rate,
        requests=total.requests,
        cpu_pct=res["server_cpu_peak_10s_pct"] if rec.server_found else None,
        mem_pct=res["machine_mem_max_pct"],
        db_connections=res["db_connections_max"],
        pool_capacity=rec.pool_capacity,
        ceiling_rps=ceil["rps"] if ceil else None,
        ceiling_cost_ms=ceil["server_cpu_ms_per_request"] if ceil and rec.server_found else None,
        capacity_cost_ms=cap["server_cpu_ms_per_request"] if cap and rec.server_found else None,
        breaking_users=breaking["users"] if breaking else None,
        search_max_users=sc.stress.max_users if sc.stress else None,
    )
    checks = evaluate(measured, Criteria(p95_ms=sc.p95_target_ms))
    goal_checks = goals(measured, sc.users if sc.stress else None)
    pg = rec.facts.get("postgres") or {}
    _stage_cpu(main.search, rec.samples)
    notes = rec.notes + client_notes(
        rec.facts["machine"]["cpus"],
        ceiling=ceil,
        capacity=cap,
        breaking_point=next((st for st in search.get("stages", []) if st["broke"]), None),
    )
    return {
        "scenario": sc.name,
        "description": sc.description,
        "verdict": "pass" if passed(checks) else "fail",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": rec.facts.get("commit"),
        "target": rec.target,
        "platform": "private (started by this run)" if rec.started_platform else "already running",
        "machine": rec.facts["machine"],
        "postgres_version": pg.get("version"),
        "data": {"trades": pg.get("trades"), "database_mb": pg.get("database_mb")},
        "server": {"workers": rec.workers, "pool_capacity": rec.pool_capacity},
        "load": {
            "users": sc.users,
            "spawn_rate": sc.spawn_rate,
            "run_time_s": sc.run_time_s,
            "weights": parse_weights(rec.weights),
            "think_time_s": {"dashboard": [2, 5], "api": [1, 3]},
        },
        "window_s": round(main.seconds, 1),
        **total.to_dict(),
        "server_cpu_ms_per_request": cpu_ms_per_request(
            rec.samples, main.started, main.stopped, total.requests, interval
        ),
        "routes": {k: v.to_dict() for k, v in sorted(main.routes.items()) if k != AGGREGATED},
        "capacity": cap,
        "ceiling": ceil,
        "ceiling_path": rec.ceiling_path,
        "capacity_to_ceiling": next(
            (
                round(g.value, 3)
                for g in goal_checks
                if g.name == "mixed / bare ceiling" and g.value
            ),
            None,
        ),
        "resources": {**res, "pool_capacity": rec.pool_capacity},
        "checks": [c.to_dict() for c in checks],
        "goals": [c.to_dict() for c in goal_checks],
        "stress": main.search,
        "top_failures": read_failures(rec.out / "scenario_failures.csv"),
        "notes": notes,
    }


def write_samples(samples: list[Sample], path: Path) -> None:
    """The resource readings as CSV (one row a second: CPU %, memory %, connections...)."""
    names = [f.name for f in fields(Sample)]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(x.to_dict() for x in samples)


def write_outputs(rec: RunRecord, results: Path) -> None:
    """summary.json, summary.txt and report.html in the scenario's directory; the scenario's
    entry in ``results/loadtest.json`` and the texts of all scenarios in ``loadtest.txt``."""
    from milkbot.perf.report import render_report
    from milkbot.perf.screen import plain_text

    rec.summary = build_summary(rec)
    s = rec.summary
    (rec.out / "summary.json").write_text(json.dumps(s, indent=2) + "\n")
    (rec.out / "summary.txt").write_text(plain_text(s))
    (rec.out / "report.html").write_text(render_report(rec))
    write_samples(rec.samples, rec.out / "resources.csv")
    stable = results / "loadtest.json"
    try:
        every = json.loads(stable.read_text())
    except (OSError, ValueError):
        every = {}
    every.setdefault("scenarios", {})[s["scenario"]] = s
    stable.write_text(json.dumps(every, indent=2, sort_keys=True) + "\n")
    texts = [
        text.read_text()
        for name in sorted(every["scenarios"])
        if (text := results / "loadtest" / name / "summary.txt").exists()
    ]
    (results / "loadtest.txt").write_text("\n".join(texts))

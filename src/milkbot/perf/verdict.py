"""The guide's pass/fail criteria for a load test, and the verdict on a run's figures.

Guide ("Interpreting Results"): RPS > 50 (critical < 20), P50 < 200 ms, P95 < 500 ms,
P99 < 1000 ms, error rate < 0.1% (critical > 1%), CPU < 70%, memory < 80%, database
connections < 80% of the pool. A scenario may set its own P95 target (peak: 1000 ms).

How each is measured (see :func:`evaluate`):
- RPS is the server's sustained throughput on the mixed workload without think time (the
  capacity phase): the modelled users' own rate is bounded by their think time (50 users at
  2-5 s offer ~30 requests/s however fast the server is), so it is shown beside it as context.
- Latencies and errors come from the scenario's measured window (the stress test: its hold).
- CPU is the peak 10-second average of the server (web workers + database when local) as a
  share of the whole machine; memory the machine's peak use; connections the peak count of
  the app's backends in ``pg_stat_activity`` against the pool (workers x (size + overflow)).

The issue's goal figures are reported beside the criteria but do not fail a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from milkbot.perf.records import Criterion, State


@dataclass(frozen=True)
class Criteria:
    """Thresholds: requests/s, ms, fractions (error rate, connection share) and % of machine."""

    min_rps: float = 50.0
    critical_rps: float = 20.0
    p50_ms: float = 200.0
    p95_ms: float = 500.0
    p99_ms: float = 1000.0
    max_error_rate: float = 0.001
    critical_error_rate: float = 0.01
    max_cpu_pct: float = 70.0
    max_mem_pct: float = 80.0
    max_pool_share: float = 0.8


@dataclass(frozen=True)
class Measured:
    """A run's figures as :func:`evaluate` needs them (``None``: not measured)."""

    rps: float
    capacity_rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float
    requests: int
    cpu_pct: float | None
    mem_pct: float | None
    db_connections: int | None
    pool_capacity: int | None
    ceiling_rps: float | None = None
    ceiling_cost_ms: float | None = None
    capacity_cost_ms: float | None = None
    breaking_users: int | None = None
    search_max_users: int | None = None


def criterion(
    name: str, value: float | None, shown: str, target: str, state: State | bool, note: str = ""
) -> Criterion:
    """A verdict line; ``state`` True / False for pass / fail."""
    if isinstance(state, bool):
        state = "pass" if state else "fail"
    return Criterion(name=name, value=value, shown=shown, target=target, state=state, note=note)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _below(name: str, value: float | None, limit: float, shown: str, target: str) -> Criterion:
    if value is None:
        return criterion(name, None, "n/a", target, "skip", "not measured")
    return criterion(name, value, shown, target, value < limit)


def evaluate(m: Measured, c: Criteria) -> list[Criterion]:
    """The guide's checks on ``m``; any ``fail`` or ``critical`` makes the run fail."""
    rps_target = f"> {c.min_rps:.0f}"
    if m.capacity_rps is None:
        rps = criterion(
            "RPS (capacity)", None, "n/a", rps_target, "skip", "capacity phase did not run"
        )
    else:
        state: State = "pass" if m.capacity_rps > c.min_rps else "fail"
        state = "critical" if m.capacity_rps < c.critical_rps else state
        shown = f"{m.capacity_rps:,.1f}"
        rps = criterion(
            "RPS (capacity)", m.capacity_rps, shown, rps_target, state, "user mix, no think time"
        )
    checks = [
        rps,
        criterion(
            "RPS (scenario)", m.rps, f"{m.rps:,.1f}", "context", "info", "bounded by think time"
        ),
    ]
    if m.requests == 0:
        checks.append(criterion("requests", 0, "0", "> 0", "fail", "the run sent no request"))
    for name, value, limit in (
        ("P50", m.p50_ms, c.p50_ms),
        ("P95", m.p95_ms, c.p95_ms),
        ("P99", m.p99_ms, c.p99_ms),
    ):
        checks.append(_below(name, value, limit, _ms(value), f"< {limit:,.0f} ms"))
    errors = _below(
        "error rate",
        m.error_rate,
        c.max_error_rate,
        f"{m.error_rate:.3%}",
        f"< {c.max_error_rate:.1%}",
    )
    if m.error_rate > c.critical_error_rate:
        note = f"critical above {c.critical_error_rate:.0%}"
        errors = errors.model_copy(update={"state": "critical", "note": note})
    checks.append(errors)
    checks.append(
        _below("server CPU", m.cpu_pct, c.max_cpu_pct, _pct(m.cpu_pct), f"< {c.max_cpu_pct:.0f}%")
    )
    checks.append(
        _below("memory", m.mem_pct, c.max_mem_pct, _pct(m.mem_pct), f"< {c.max_mem_pct:.0f}%")
    )
    pool_target = f"< {c.max_pool_share:.0%} of pool"
    if m.db_connections is None or not m.pool_capacity:
        note = "database or pool size unknown"
        checks.append(criterion("DB connections", None, "n/a", pool_target, "skip", note))
    else:
        share = m.db_connections / m.pool_capacity
        shown = f"{m.db_connections} of {m.pool_capacity} ({share:.0%})"
        checks.append(_below("DB connections", share, c.max_pool_share, shown, pool_target))
    return checks


def goals(m: Measured, stress_users: int | None = None) -> list[Criterion]:
    """The issue's goal figures (not gating): the ceiling ratio always; for the stress test
    (held at ``stress_users`` users) also P95 <= 50 ms, P99 <= 100 ms, no errors and a
    breaking point of >= 1,000 users."""
    out = [ceiling_ratio(m)]
    if stress_users is None:
        return out
    at = f"at {stress_users:,} users"
    for name, value, limit in ((f"P95 {at}", m.p95_ms, 50.0), (f"P99 {at}", m.p99_ms, 100.0)):
        ok = value is not None and value <= limit
        out.append(criterion(name, value, _ms(value), f"<= {limit:.0f} ms", ok))
    errors = f"{m.error_rate:.3%}"
    out.append(criterion(f"errors {at}", m.error_rate, errors, "none", m.error_rate == 0))
    target = ">= 1,000 users"
    if m.breaking_users is None:
        cap = m.search_max_users
        shown = f"> {cap:,} users (cap)" if cap else "n/a"
        out.append(criterion("breaking point", None, shown, target, bool(cap and cap >= 1000)))
    else:
        shown = f"{m.breaking_users:,} users"
        ok = m.breaking_users >= 1000
        out.append(criterion("breaking point", m.breaking_users, shown, target, ok))
    return out


def ceiling_ratio(m: Measured) -> Criterion:
    """Mixed throughput as a share of the bare endpoint's, at saturation.

    Locust needs about as much CPU per request as the bare endpoint does, so on a small
    machine the closed-loop rate it reaches on that endpoint is its own limit, not the
    server's. The ratio is therefore taken from the server's CPU time per request in the two
    phases (a CPU-bound server's throughput is inversely proportional to it), with the
    measured throughput ratio beside it; without CPU figures, the throughput ratio alone.
    """
    name, target = "mixed / bare ceiling", ">= 50%"
    measured = (
        m.capacity_rps / m.ceiling_rps if m.ceiling_rps and m.capacity_rps is not None else None
    )
    if m.ceiling_cost_ms and m.capacity_cost_ms:
        ratio = m.ceiling_cost_ms / m.capacity_cost_ms
        note = (
            f"server CPU per request: bare {m.ceiling_cost_ms:.2f} ms, mix "
            f"{m.capacity_cost_ms:.2f} ms"
        )
        if measured is not None:
            note += f"; measured throughput {measured:.0%}"
        return criterion(name, ratio, f"{ratio:.0%}", target, ratio >= 0.5, note)
    if measured is not None:
        return criterion(name, measured, f"{measured:.0%}", target, measured >= 0.5, "throughput")
    return criterion(name, None, "n/a", target, "skip", "no bare endpoint measured")


def passed(checks: Sequence[Criterion]) -> bool:
    """True when no check failed (skipped and informational checks do not fail a run)."""
    return all(ch.passed for ch in checks)


def rolling_peak(values: Sequence[float], n: int) -> float | None:
    """The highest mean of ``n`` consecutive values (all of them when there are fewer)."""
    if not values:
        return None
    if len(values) <= n:
        return sum(values) / len(values)
    window = sum(values[:n])
    best = window
    for i in range(n, len(values)):
        window += values[i] - values[i - n]
        best = max(best, window)
    return best / n

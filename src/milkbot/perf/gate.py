"""The release regression gate: compare a baseline results file with a current one.

It reads either kind of results file (:mod:`milkbot.perf.records`): a query benchmark
(``current.json``, ``milkbot bench queries --json``, or the text ``current.txt``: per-query
P50/P95 in ms) or the load tests' ``loadtest.json`` (per scenario: P95 ms, error rate, peak
server memory). A file in the format that preceded the records is converted once
(:mod:`milkbot.perf.legacy`) and rewritten. The guide's criteria fail the release when:

- any query is more than 20% slower than baseline (its P50 or its P95),
- the load test's P95 response time is more than 20% slower,
- the error rate rose by more than 0.5 percentage points,
- memory use rose by more than 20%,
- or the analytics results changed (the files' fingerprints of the analytics outputs on the
  seeded dataset differ: a "speed-up" that changes results is a regression).

Latency changes smaller than ``min_delta_ms`` (1 ms) never fail: at a few milliseconds per query
that is scheduler noise on a shared machine, not a regression. Runs that are not alike
(machine, data volume, PostgreSQL major version, scenario) are refused, not compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from milkbot.perf.legacy import convert
from milkbot.perf.query_text import parse_query_text
from milkbot.perf.records import LoadTestResults, Machine, QueryBenchmark, parse_results

SLOWER = 1.20
MEMORY_GROWTH = 1.20
ERROR_RATE_POINTS = 0.005
MIN_DELTA_MS = 1.0

Kind = Literal["latency_ms", "error_rate", "memory_mb"]


class RefusedError(ValueError):
    """The two runs are not alike (or not results files); comparing them would mean nothing."""


@dataclass(frozen=True, slots=True)
class GateRun:
    """A results file reduced to what the gate compares; ``converted``: it was in the old
    format and has been rewritten in the new one."""

    kind: Literal["queries", "loadtest"]
    identity: dict[str, str]
    fingerprint: str | None
    figures: dict[str, tuple[Kind, float]]
    converted: bool = False


@dataclass(frozen=True, slots=True)
class Comparison:
    """One figure's comparison."""

    name: str
    kind: Kind
    baseline: float | None
    current: float | None
    verdict: Literal["ok", "FAIL", "new", "gone"]
    reason: str


def _machine(m: Machine) -> dict[str, str]:
    return {"cpu": m.cpu, "cores": str(m.cores), "memory_gib": str(round(m.memory_gib or 0))}


def _major(version: str | None) -> str:
    return str(version).split(".")[0]


def read_record(path: Path) -> tuple[QueryBenchmark | LoadTestResults, bool]:
    """The record in a results file (JSON, or the query tests' text file), and whether it was
    in the old format (then converted and rewritten in the new one)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".txt":
            return parse_query_text(text), False
        data = json.loads(text)
        if isinstance(data, dict) and "schema_version" not in data:
            record = convert(data)
            record.write(path)
            return record, True
        return parse_results(data), False
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise RefusedError(f"{path}: not a results file of this version ({problems})") from None
    except (OSError, ValueError) as exc:
        raise RefusedError(f"{path}: not a readable results file ({exc})") from None


def load_run(path: Path) -> GateRun:
    """Read a query or load-test results file for comparison."""
    record, converted = read_record(path)
    if isinstance(record, QueryBenchmark):
        figures: dict[str, tuple[Kind, float]] = {}
        for name, q in sorted(record.queries.items()):
            figures[f"query {name} P50"] = ("latency_ms", q.p50)
            figures[f"query {name} P95"] = ("latency_ms", q.p95)
        d = record.dataset
        identity = {
            **_machine(record.machine),
            "postgres": _major(d.postgres),
            "trades": str(d.trades),
            "seed": str(d.seed),
            "days": f"{d.first_day}..{d.last_day}",
        }
        if record.accounts:
            # The per-account figures of other accounts are not comparable.
            identity["accounts"] = ", ".join(f"{r}={n}" for r, n in record.accounts.items())
        return GateRun("queries", identity, record.fingerprint, figures, converted)
    figures = {}
    alike: dict[str, str] = {}
    for name, s in sorted(record.scenarios.items()):
        figures[f"{name} P95"] = ("latency_ms", s.total.p95_ms or 0.0)
        figures[f"{name} error rate"] = ("error_rate", s.total.error_rate)
        figures[f"{name} server memory"] = ("memory_mb", s.resources.app_rss_max_mb or 0.0)
        alike = {
            **_machine(s.machine),
            "postgres": _major(s.dataset.postgres if s.dataset else None),
            "trades": str(s.dataset.trades if s.dataset else None),
        }
    alike["scenarios"] = ",".join(sorted(record.scenarios))
    return GateRun("loadtest", alike, None, figures, converted)


def _judge(kind: Kind, base: float, cur: float, min_delta_ms: float) -> tuple[bool, str]:
    if kind == "latency_ms":
        if cur > base * SLOWER and cur - base >= min_delta_ms:
            return False, f"{(cur / base - 1) * 100:+.0f}% slower (limit +20%)"
        return True, f"{(cur / base - 1) * 100:+.0f}%" if base else "="
    if kind == "error_rate":
        rise = cur - base
        if rise > ERROR_RATE_POINTS:
            return False, f"error rate up {rise * 100:.2f} points (limit 0.5)"
        return True, f"{rise * 100:+.2f} points"
    if cur > base * MEMORY_GROWTH:
        return False, f"memory {(cur / base - 1) * 100:+.0f}% (limit +20%)"
    return True, f"{(cur / base - 1) * 100:+.0f}%" if base else "="


def compare(
    baseline: GateRun, current: GateRun, min_delta_ms: float = MIN_DELTA_MS
) -> list[Comparison]:
    """Compare two alike runs figure by figure; raise RefusedError when they are not alike."""
    if baseline.kind != current.kind:
        raise RefusedError(f"cannot compare {baseline.kind} results with {current.kind} results")
    unlike = [
        f"{k}: baseline {baseline.identity.get(k)!r}, current {current.identity.get(k)!r}"
        for k in sorted(set(baseline.identity) | set(current.identity))
        if baseline.identity.get(k) != current.identity.get(k)
    ]
    if unlike:
        raise RefusedError("runs are not alike, refusing to compare: " + "; ".join(unlike))
    rows: list[Comparison] = []
    if baseline.fingerprint and current.fingerprint and baseline.fingerprint != current.fingerprint:
        rows.append(
            Comparison(
                "analytics results fingerprint",
                "latency_ms",
                None,
                None,
                "FAIL",
                "the analytics outputs on the seeded dataset changed",
            )
        )
    for name in sorted(set(baseline.figures) | set(current.figures)):
        if name not in current.figures:
            kind, base = baseline.figures[name]
            rows.append(Comparison(name, kind, base, None, "gone", "not in the current run"))
            continue
        kind, cur = current.figures[name]
        if name not in baseline.figures:
            rows.append(Comparison(name, kind, None, cur, "new", "no baseline"))
            continue
        base = baseline.figures[name][1]
        ok, reason = _judge(kind, base, cur, min_delta_ms)
        rows.append(Comparison(name, kind, base, cur, "ok" if ok else "FAIL", reason))
    return rows


def no_regression(rows: list[Comparison]) -> bool:
    """True when no figure failed."""
    return all(r.verdict != "FAIL" for r in rows)

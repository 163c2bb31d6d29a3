"""The release regression gate: compare a baseline results file with a current one.

It reads either kind of results file the harness writes: the query performance tests'
``current.json`` or ``current.txt`` (per-query P50/P95 in ms; the text file is the same record) and the load tests' ``loadtest.json`` (per scenario:
P95 ms, error rate, peak server memory). The guide's criteria fail the release when:

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
from typing import Any, Literal

from milkbot.perf.query_text import parse_query_text

SLOWER = 1.20
MEMORY_GROWTH = 1.20
ERROR_RATE_POINTS = 0.005
MIN_DELTA_MS = 1.0

Kind = Literal["latency_ms", "error_rate", "memory_mb"]


class RefusedError(ValueError):
    """The two runs are not alike (or not results files); comparing them would mean nothing."""


@dataclass(frozen=True, slots=True)
class Run:
    """A results file reduced to what the gate compares."""

    kind: Literal["queries", "loadtest"]
    identity: dict[str, str]
    fingerprint: str | None
    figures: dict[str, tuple[Kind, float]]


@dataclass(frozen=True, slots=True)
class Row:
    """One figure's comparison."""

    name: str
    kind: Kind
    baseline: float | None
    current: float | None
    verdict: Literal["ok", "FAIL", "new", "gone"]
    reason: str


def _machine(m: dict[str, Any]) -> dict[str, str]:
    return {
        "cpu": str(m.get("cpu") or m.get("cpu_model")),
        "cores": str(m.get("cores") or m.get("cpus")),
        "memory_gib": str(round(float(m.get("memory_gib", 0)))),
    }


def _major(version: object) -> str:
    return str(version).split(".")[0]


def load_run(path: Path) -> Run:
    """Read a query or load-test results file: JSON, or the query tests' text file (the
    guide's ``baseline.txt`` / ``current.txt``)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = parse_query_text(text) if path.suffix == ".txt" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise RefusedError(f"{path}: not a readable results file ({exc})") from None
    if "queries" in data:
        figures: dict[str, tuple[Kind, float]] = {}
        for name, q in sorted(data["queries"].items()):
            figures[f"query {name} P50"] = ("latency_ms", float(q["p50"]))
            figures[f"query {name} P95"] = ("latency_ms", float(q["p95"]))
        identity = {
            **_machine(data["machine"]),
            "postgres": _major(data["postgres"]),
            "trades": str(data["data"]["trades"]),
            "seed": str(data["data"].get("seed")),
            "days": f"{data['data'].get('first_day')}..{data['data'].get('last_day')}",
        }
        return Run("queries", identity, data.get("fingerprint"), figures)
    if "scenarios" in data:
        figures = {}
        alike: dict[str, str] = {}
        prints = set()
        for name, s in sorted(data["scenarios"].items()):
            figures[f"{name} P95"] = ("latency_ms", float(s["p95_ms"]))
            figures[f"{name} error rate"] = ("error_rate", float(s["error_rate"]))
            figures[f"{name} server memory"] = (
                "memory_mb",
                float(s["resources"]["app_rss_max_mb"]),
            )
            alike = {
                **_machine(s["machine"]),
                "postgres": _major(s["postgres_version"]),
                "trades": str(s["data"]["trades"]),
            }
            prints.add(s.get("fingerprint"))
        alike["scenarios"] = ",".join(sorted(data["scenarios"]))
        fingerprint = prints.pop() if len(prints) == 1 else "mixed"
        return Run("loadtest", alike, fingerprint, figures)
    raise RefusedError(f"{path}: neither query results (queries) nor load-test results (scenarios)")


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


def compare(baseline: Run, current: Run, min_delta_ms: float = MIN_DELTA_MS) -> list[Row]:
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
    rows: list[Row] = []
    if baseline.fingerprint and current.fingerprint and baseline.fingerprint != current.fingerprint:
        rows.append(
            Row(
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
            rows.append(Row(name, kind, base, None, "gone", "not in the current run"))
            continue
        kind, cur = current.figures[name]
        if name not in baseline.figures:
            rows.append(Row(name, kind, None, cur, "new", "no baseline"))
            continue
        base = baseline.figures[name][1]
        ok, reason = _judge(kind, base, cur, min_delta_ms)
        rows.append(Row(name, kind, base, cur, "ok" if ok else "FAIL", reason))
    return rows


def passed(rows: list[Row]) -> bool:
    """True when no figure failed."""
    return all(r.verdict != "FAIL" for r in rows)

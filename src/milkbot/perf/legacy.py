"""Results files written before the typed format (:mod:`milkbot.perf.records`), converted once.

Three shapes existed, none with a ``schema_version``: the query performance tests'
``current.json`` (machine ``{cpu, cores}``, ``data``, ``queries``), ``milkbot bench queries
--json`` (``database``, ``ours``, ``naive``, ``floor``, ``baseline``) and the load test's
``loadtest.json`` (``scenarios`` of free dicts, machine ``{cpu_model, cpus}``). The regression
gate reads them through :func:`convert` and rewrites the file in the new format.
"""

from __future__ import annotations

from typing import Any

from milkbot.perf.query_bench import query_figures
from milkbot.perf.records import (
    Dataset,
    LoadTestResults,
    LoadTestSummary,
    Machine,
    QueryBenchmark,
    Timing,
)

FIGURES = ("requests", "failures", "rps", "error_rate", "p50_ms", "p95_ms", "p99_ms", "max_ms")


class LegacyFormatError(ValueError):
    """The data is neither a record nor one of the old shapes."""


def _machine(m: dict[str, Any]) -> Machine:
    renamed = {"cpu": m.get("cpu") or m["cpu_model"], "cores": m.get("cores") or m["cpus"]}
    kept = ("hostname", "memory_gib", "python", "load_average")
    return Machine(**renamed, os=m.get("os", "unknown"), **{k: m.get(k) for k in kept})


def _queries(data: dict[str, Any]) -> QueryBenchmark:
    queries = {}
    for name, q in data["queries"].items():
        # The text form and the earliest files keep P50/P95/P99 only.
        known = {"n": 0, "mean": 0.0, "min": 0.0, "max": 0.0, **q}
        timing = Timing.model_validate({k: known[k] for k in Timing.model_fields})
        queries[name] = query_figures(name, timing, q.get("iterations")).model_copy(
            update={k: q.get(k) for k in ("n", "mean", "min", "max")}
        )
    dataset = Dataset.model_validate({"postgres": data["postgres"], **data["data"]})
    fingerprint = data.get("fingerprint")
    return QueryBenchmark(
        machine=_machine(data["machine"]), dataset=dataset, fingerprint=fingerprint, queries=queries
    )


def _bench(data: dict[str, Any]) -> QueryBenchmark:
    timings = {name: Timing.model_validate(t) for name, t in data["ours"].items()}
    base = data.get("baseline")
    growth = base and {"trades": base["trades"], "queries": base["ours"], "floor": base["floor"]}
    return QueryBenchmark(
        machine=_machine(data["machine"]),
        dataset=Dataset.model_validate({**data["database"], "seed": data["seed"]}),
        fingerprint=None,
        days=data["days"],
        queries={name: query_figures(name, t, data["iterations"]) for name, t in timings.items()},
        naive=data["naive"],
        floor=data["floor"],
        growth=growth or None,
    )


def _summary(s: dict[str, Any]) -> LoadTestSummary:
    data, search = s.get("data") or {}, s.get("stress")
    if search is not None:
        plan = dict(search["plan"])
        hold = {"hold_users": plan.pop("hold_users"), "hold_s": plan.pop("hold_s")}
        search = {**search, **hold, "plan": plan}
    dataset = s.get("postgres_version") and {
        "postgres": s["postgres_version"],
        "trades": data.get("trades") or 0,
        "database_mb": data.get("database_mb"),
    }
    moved = ("machine", "postgres_version", "data", "stress", "top_failures", *FIGURES)
    return LoadTestSummary.model_validate(
        {
            **{k: v for k, v in s.items() if k not in moved},
            "machine": _machine(s["machine"]),
            "dataset": dataset or None,
            "total": {k: s[k] for k in FIGURES},
            "resources": {k: v for k, v in s["resources"].items() if k != "pool_capacity"},
            "stress": search,
            "top_failures": [{"route": r, "error": e, "count": n} for r, e, n in s["top_failures"]],
        }
    )


def convert(data: Any) -> QueryBenchmark | LoadTestResults:
    """The record of an old-format results file's parsed JSON. Raises
    :class:`LegacyFormatError` (or pydantic's ``ValidationError``, a ``ValueError`` too)."""
    if not isinstance(data, dict):
        raise LegacyFormatError("not a JSON object")
    if "ours" in data and "database" in data:
        return _bench(data)
    if "queries" in data:
        return _queries(data)
    if "scenarios" in data:
        scenarios = {name: _summary(s) for name, s in data["scenarios"].items()}
        return LoadTestResults(scenarios=scenarios)
    raise LegacyFormatError("neither query results (queries) nor load-test results (scenarios)")

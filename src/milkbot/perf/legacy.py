"""Results files written before the typed format (:mod:`milkbot.perf.records`), converted once.

Three shapes existed, none with a ``schema_version``: the query performance tests'
``current.json`` (machine ``{cpu, cores}``, ``data``, ``queries``), ``milkbot bench queries
--json`` (``database``, ``ours``, ``naive``, ``floor``, ``baseline``) and the load test's
``loadtest.json`` (``scenarios`` of free dicts, machine ``{cpu_model, cpus}``). The regression
gate reads them through :func:`convert` and rewrites the file in the new format.
"""

from __future__ import annotations

from typing import Any

from milkbot.perf.query_bench import guide_of, query_figures
from milkbot.perf.records import (
    Dataset,
    Growth,
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
    return Machine(
        hostname=m.get("hostname"),
        cpu=m.get("cpu") or m["cpu_model"],
        cores=m.get("cores") or m["cpus"],
        memory_gib=m.get("memory_gib"),
        os=m.get("os", "unknown"),
        python=m.get("python"),
        load_average=m.get("load_average"),
    )


def _timing(t: dict[str, Any]) -> Timing:
    return Timing.model_validate(t)


def _queries(data: dict[str, Any]) -> QueryBenchmark:
    queries = {}
    for name, q in data["queries"].items():
        guide = guide_of(name)
        queries[name] = {
            "goal_ms": guide.goal_ms,
            "target_ms": guide.target_ms,
            "critical_ms": guide.critical_ms,
            "status": "FAIL" if q["p95"] > guide.critical_ms else "ok",
            **q,
        }
    return QueryBenchmark.model_validate(
        {
            "machine": _machine(data["machine"]),
            "dataset": Dataset.model_validate({"postgres": data["postgres"], **data["data"]}),
            "fingerprint": data.get("fingerprint"),
            "queries": queries,
        }
    )


def _bench(data: dict[str, Any]) -> QueryBenchmark:
    base = data.get("baseline")
    return QueryBenchmark(
        machine=_machine(data["machine"]),
        dataset=Dataset.model_validate({**data["database"], "seed": data["seed"]}),
        fingerprint=None,
        days=data["days"],
        queries={
            name: query_figures(name, _timing(t), data["iterations"])
            for name, t in data["ours"].items()
        },
        naive={name: _timing(t) for name, t in data["naive"].items()},
        floor=_timing(data["floor"]),
        growth=None
        if not base
        else Growth(
            trades=base["trades"],
            queries={name: _timing(t) for name, t in base["ours"].items()},
            floor=_timing(base["floor"]),
        ),
    )


def _search(old: dict[str, Any] | None) -> dict[str, Any] | None:
    if old is None:
        return None
    plan = dict(old["plan"])
    return {
        **{k: v for k, v in old.items() if k != "plan"},
        "hold_users": plan.pop("hold_users"),
        "hold_s": plan.pop("hold_s"),
        "plan": plan,
        "broke_first": old["broke_first"] and {**old["broke_first"]},
    }


def _summary(s: dict[str, Any]) -> LoadTestSummary:
    data = s.get("data") or {}
    resources = {k: v for k, v in s["resources"].items() if k != "pool_capacity"}
    return LoadTestSummary.model_validate(
        {
            **{k: s[k] for k in ("scenario", "description", "verdict", "finished_at", "commit")},
            **{k: s[k] for k in ("target", "platform", "server", "load", "window_s", "routes")},
            **{k: s[k] for k in ("capacity", "ceiling", "ceiling_path", "capacity_to_ceiling")},
            **{k: s[k] for k in ("checks", "goals", "notes", "server_cpu_ms_per_request")},
            "machine": _machine(s["machine"]),
            "dataset": None
            if not s.get("postgres_version")
            else Dataset(
                postgres=s["postgres_version"],
                trades=data.get("trades") or 0,
                database_mb=data.get("database_mb"),
            ),
            "total": {k: s[k] for k in FIGURES},
            "resources": resources,
            "stress": _search(s.get("stress")),
            "top_failures": [
                {"route": r, "error": e, "count": n} for r, e, n in s.get("top_failures", [])
            ],
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
        return LoadTestResults(
            scenarios={name: _summary(s) for name, s in data["scenarios"].items()}
        )
    raise LegacyFormatError("neither query results (queries) nor load-test results (scenarios)")

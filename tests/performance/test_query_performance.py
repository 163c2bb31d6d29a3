"""The guide's query performance tests on a generated dataset (see conftest.py for its size).

Each test times its query many times, warm, with the cache bypassed, prints P50/P95/P99 next
to the guide's target and critical threshold (and this project's goal), records them in
tests/performance/results/current.json and current.txt, and fails only when the P95 passes the
guide's critical threshold. A last test checks on the same data that no query plan reads the raw
trades except through the public feed's indexes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from milkbot.analytics.explain import CASES, explain
from milkbot.perf.datasets import GeneratedDatabase
from milkbot.perf.query_bench import QueryCalls, guide_of, time_calls

pytestmark = pytest.mark.perf


async def measure(calls: QueryCalls, results: Any, name: str, iterations: int) -> None:
    p = (await time_calls({name: calls.ours[name]}, iterations, warmup=20))[name]
    results.add(name, p, iterations)
    guide = guide_of(name)
    verdict = "FAIL" if p.p95 > guide.critical_ms else "ok"
    print(
        f"\n{name}: P50 {p.p50:.3f} ms  P95 {p.p95:.3f} ms  P99 {p.p99:.3f} ms  "
        f"(n={p.n}) | guide: target < {guide.target_ms:g} ms, critical < {guide.critical_ms:g} ms"
        f" | goal {guide.goal_ms:g} ms: {'met' if p.p95 <= guide.goal_ms else 'missed'}"
        f" | {verdict}"
    )
    assert p.p95 <= guide.critical_ms, (
        f"{guide.title} P95 {p.p95:.1f} ms is past the guide's critical threshold "
        f"({guide.critical_ms:g} ms)"
    )


class TestQueryPerformance:
    async def test_city_metrics_query_performance(
        self, perf_calls: QueryCalls, perf_results: Any, perf_iterations: int
    ) -> None:
        await measure(perf_calls, perf_results, "city_metrics", perf_iterations)

    async def test_equity_curve_query_performance(
        self, perf_calls: QueryCalls, perf_results: Any, perf_iterations: int
    ) -> None:
        await measure(perf_calls, perf_results, "equity_curve", perf_iterations)

    async def test_public_trades_query_performance(
        self, perf_calls: QueryCalls, perf_results: Any, perf_iterations: int
    ) -> None:
        await measure(perf_calls, perf_results, "public_trades", perf_iterations)
        await measure(
            perf_calls, perf_results, "public_trades_deep", perf_iterations
        )  # 10,000 trades down

    async def test_health_status_query_performance(
        self, perf_calls: QueryCalls, perf_results: Any, perf_iterations: int
    ) -> None:
        await measure(perf_calls, perf_results, "health_status", perf_iterations)

    async def test_strategy_metrics_query_performance(
        self, perf_calls: QueryCalls, perf_results: Any, perf_iterations: int
    ) -> None:
        await measure(perf_calls, perf_results, "strategy_metrics", perf_iterations)


def plan_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def test_query_plans_never_scan_the_raw_trades(perf_dataset: GeneratedDatabase) -> None:
    """EXPLAIN of every query on the generated data: the aggregates answer the metrics (no node
    reads ops.trades or ops.signals), and the public feed is an index scan of trades_created_idx /
    trades_city_created_idx, its cursor an index condition."""
    with psycopg.connect(perf_dataset.url, autocommit=True) as conn:
        for name, case in CASES.items():
            query, index = case.sql, case.index
            plan = explain(conn, name, mode="json")[0]
            nodes = list(plan_nodes(plan[0]["Plan"]))
            raw = [n for n in nodes if n.get("Relation Name") in ("trades", "signals")]
            shown = json.dumps(plan)[:2000]
            if index is None:
                assert raw == [], f"reads raw rows:\n{query}\n{shown}"
            else:
                assert [(n["Node Type"], n.get("Index Name")) for n in raw] == [
                    ("Index Scan", index)
                ], shown
                if "after_time" in query:
                    assert "(created_at, id) <" in raw[0]["Index Cond"].replace("ROW(", "(")

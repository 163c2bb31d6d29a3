"""Issue 12's goals as `milkbot bench queries` judges them, on crafted benchmark records."""

from __future__ import annotations

from milkbot.cli.bench import _row_order, goal_lines
from milkbot.perf.query_bench import GUIDE, PROJECT, guide_of, per_account
from milkbot.perf.records import Dataset, Growth, Machine, QueryBenchmark, QueryFigures, Timing

MACHINE = Machine(cpu="Xeon", cores=2, memory_gib=8.0, os="Linux")
DATASET = Dataset(postgres="15.20", trades=10_000_000, accounts=300)


def timing(p95: float) -> Timing:
    return Timing(n=100, p50=p95 / 2, p95=p95, p99=p95, mean=p95 / 2, min=0.1, max=p95)


def figures(name: str, p95: float) -> QueryFigures:
    guide = guide_of(name)
    return QueryFigures(
        p50=p95 / 2, p95=p95, p99=p95, target_ms=guide.target_ms,
        critical_ms=guide.critical_ms, status="ok",
    )  # fmt: skip


def bench(p95: dict[str, float], floor: float, smaller: dict[str, float] | None) -> QueryBenchmark:
    return QueryBenchmark(
        machine=MACHINE,
        dataset=DATASET,
        fingerprint="f",
        accounts={"primary": "default", "typical": "paper_017"},
        queries={name: figures(name, v) for name, v in p95.items()},
        floor=timing(floor),
        growth=None
        if smaller is None
        else Growth(
            trades=100_000, queries={n: timing(v) for n, v in smaller.items()}, floor=timing(1)
        ),
    )


def test_an_accounts_query_has_its_querys_targets_and_the_comparison_its_own() -> None:
    assert guide_of("city_metrics@typical") == GUIDE["city_metrics"]
    assert guide_of("public_trades_deep@typical") == GUIDE["public_trades"]
    assert guide_of("comparison").goal_ms == 20 == PROJECT["comparison"].goal_ms
    assert per_account("health_status@typical") and not per_account("comparison")


def test_the_goals_are_the_floor_ratio_the_comparisons_20_ms_and_the_growth() -> None:
    run = bench(
        {"city_metrics": 5.0, "health_status@typical": 5.01, "comparison": 20.0},
        floor=1.0,
        smaller={"city_metrics": 4.0, "comparison": 13.0},
    )
    lines = dict(goal_lines(run))
    assert lines == {
        "city_metrics: P95 5.0x the floor (goal <= 5x)": True,
        "health_status@typical: P95 5.0x the floor (goal <= 5x)": False,
        "comparison: P95 20.00 ms (goal <= 20 ms)": True,
        "city_metrics: P95 growth 1.25x from 100,000 trades (goal <= 1.5x)": True,
        "comparison: P95 growth 1.54x from 100,000 trades (goal <= 1.5x)": False,
    }
    # Without a smaller dataset there is no growth to judge.
    assert len(goal_lines(bench({"comparison": 30.0}, floor=1.0, smaller=None))) == 1


def test_the_table_lists_each_accounts_queries_then_the_comparison() -> None:
    names = ["comparison", "equity_curve@typical", "city_metrics", "city_metrics@typical"]
    run = bench(dict.fromkeys(names, 1.0), floor=1.0, smaller=None)
    assert _row_order(run.queries) == [
        "city_metrics", "city_metrics@typical", "equity_curve@typical", "comparison",
    ]  # fmt: skip

"""The verdict: each of the guide's criteria passes at a good value and fails past its target;
unmeasured figures are shown as skipped without failing; goal figures never fail a run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from milkbot.perf.verdict import Criteria, Measured, evaluate, goals, passed, rolling_peak

GOOD = Measured(
    rps=31.0,
    capacity_rps=400.0,
    p50_ms=12.0,
    p95_ms=40.0,
    p99_ms=90.0,
    error_rate=0.0,
    requests=10_000,
    cpu_pct=35.0,
    mem_pct=40.0,
    db_connections=20,
    pool_capacity=30,
    ceiling_rps=1000.0,
)


def states(m: Measured, c: Criteria | None = None) -> dict[str, str]:
    return {ch.name: ch.state for ch in evaluate(m, c or Criteria())}


def test_a_good_run_passes_every_criterion() -> None:
    checks = evaluate(GOOD, Criteria())
    assert passed(checks)
    assert {ch.name: ch.state for ch in checks} == {
        "RPS (capacity)": "pass",
        "RPS (scenario)": "info",
        "P50": "pass",
        "P95": "pass",
        "P99": "pass",
        "error rate": "pass",
        "server CPU": "pass",
        "memory": "pass",
        "DB connections": "pass",
    }
    shown = {ch.name: (ch.shown, ch.target) for ch in checks}
    assert shown["DB connections"] == ("20 of 30 (67%)", "< 80% of pool")
    assert shown["P95"] == ("40 ms", "< 500 ms")
    assert shown["error rate"] == ("0.000%", "< 0.1%")


@pytest.mark.parametrize(
    ("change", "name", "state"),
    [
        ({"capacity_rps": 50.0}, "RPS (capacity)", "fail"),
        ({"capacity_rps": 19.0}, "RPS (capacity)", "critical"),
        ({"p50_ms": 200.0}, "P50", "fail"),
        ({"p95_ms": 500.0}, "P95", "fail"),
        ({"p99_ms": 1000.0}, "P99", "fail"),
        ({"error_rate": 0.001}, "error rate", "fail"),
        ({"error_rate": 0.02}, "error rate", "critical"),
        ({"cpu_pct": 70.0}, "server CPU", "fail"),
        ({"mem_pct": 80.0}, "memory", "fail"),
        ({"db_connections": 24}, "DB connections", "fail"),
    ],
)
def test_each_breach_fails_the_run(change: dict[str, float], name: str, state: str) -> None:
    bad = replace(GOOD, **change)  # type: ignore[arg-type]
    checks = evaluate(bad, Criteria())
    assert {ch.name: ch.state for ch in checks}[name] == state
    assert not passed(checks)


def test_just_inside_each_target_passes() -> None:
    edge = replace(
        GOOD,
        capacity_rps=50.1,
        p50_ms=199.0,
        p95_ms=499.0,
        p99_ms=999.0,
        error_rate=0.0009,
        cpu_pct=69.9,
        mem_pct=79.9,
        db_connections=23,
    )
    assert passed(evaluate(edge, Criteria()))


def test_a_scenario_target_replaces_the_guides_p95() -> None:
    slow = replace(GOOD, p95_ms=700.0)
    assert states(slow)["P95"] == "fail"
    assert states(slow, Criteria(p95_ms=1000.0))["P95"] == "pass"


def test_scenario_users_rps_is_context_not_a_gate() -> None:
    assert passed(evaluate(replace(GOOD, rps=3.0), Criteria()))


def test_unmeasured_figures_are_skipped_not_passed() -> None:
    blind = replace(GOOD, cpu_pct=None, mem_pct=None, db_connections=None, capacity_rps=None)
    checks = evaluate(blind, Criteria())
    by_name = {ch.name: ch for ch in checks}
    for name in ("server CPU", "memory", "DB connections", "RPS (capacity)"):
        assert by_name[name].state == "skip"
        assert by_name[name].shown == "n/a"
    assert passed(checks)


def test_a_run_without_requests_fails() -> None:
    empty = replace(GOOD, requests=0, p50_ms=None, p95_ms=None, p99_ms=None)
    assert not passed(evaluate(empty, Criteria()))


def test_goals_report_the_ratio_and_stress_figures_without_gating() -> None:
    stress = replace(GOOD, capacity_rps=400.0, ceiling_rps=1000.0, breaking_users=800)
    by_name = {g.name: g for g in goals(stress, 200)}
    assert by_name["mixed / bare ceiling"].shown == "40%"
    assert by_name["mixed / bare ceiling"].state == "fail"
    assert by_name["P95 at 200 users"].state == "pass"
    assert by_name["breaking point"].shown == "800 users"
    assert by_name["breaking point"].state == "fail"
    assert passed(evaluate(stress, Criteria()))  # goals are not criteria


def test_the_ceiling_ratio_prefers_server_cpu_per_request() -> None:
    costed = replace(
        GOOD, capacity_rps=300.0, ceiling_rps=600.0, ceiling_cost_ms=0.4, capacity_cost_ms=2.0
    )
    (ratio,) = goals(costed)
    assert (ratio.value, ratio.shown, ratio.state) == (pytest.approx(0.2), "20%", "fail")
    assert (
        ratio.note == "server CPU per request: bare 0.40 ms, mix 2.00 ms; measured throughput 50%"
    )
    (ratio,) = goals(replace(costed, ceiling_cost_ms=None))
    assert (ratio.shown, ratio.state, ratio.note) == ("50%", "pass", "throughput")
    (ratio,) = goals(replace(costed, ceiling_rps=None, ceiling_cost_ms=None))
    assert ratio.state == "skip"


def test_a_search_that_never_broke_reports_its_cap() -> None:
    capped = replace(GOOD, breaking_users=None, search_max_users=2000)
    by_name = {g.name: g for g in goals(capped, 200)}
    assert by_name["breaking point"].shown == "> 2,000 users (cap)"
    assert by_name["breaking point"].state == "pass"
    assert [g.name for g in goals(capped)] == ["mixed / bare ceiling"]


def test_rolling_peak_is_the_highest_window_average() -> None:
    assert rolling_peak([], 5) is None
    assert rolling_peak([10.0, 20.0], 5) == 15.0
    assert rolling_peak([0, 0, 90, 0, 0, 0, 30, 30, 30, 30, 30], 5) == 30.0
    assert rolling_peak([10, 80, 80, 80, 80, 80, 10], 5) == 80.0

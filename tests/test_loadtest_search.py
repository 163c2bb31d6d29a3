"""Window statistics over Locust's counters, and the stress test's breaking-point search driven
by a simulated server whose latency depends on the number of users."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from milkbot.perf.histograms import (
    AGGREGATED,
    Hold,
    RouteCounts,
    RunSnapshot,
    Snapshot,
    percentile,
    read_snapshot,
    summarize,
    window,
)
from milkbot.perf.scenarios import StressPlan
from milkbot.perf.search import BreakpointSearch


def test_percentile_is_nearest_rank() -> None:
    times = {10: 90, 20: 5, 300: 4, 900: 1}
    assert percentile(times, 0.5) == 10
    assert percentile(times, 0.90) == 10
    assert percentile(times, 0.95) == 20
    assert percentile(times, 0.99) == 300
    assert percentile(times, 1.0) == 900
    assert percentile({}, 0.5) is None


def test_window_subtracts_two_snapshots() -> None:
    before = {"a": RouteCounts(10, 1, {5: 8, 50: 2})}
    after = {"a": RouteCounts(25, 1, {5: 8, 50: 12, 700: 5}), "b": RouteCounts(3, 3, {9: 3})}
    win = window(after, before)
    assert win["a"] == RouteCounts(15, 0, {50: 10, 700: 5})
    assert win["b"] == after["b"]
    figs = summarize(win["a"], seconds=5)
    assert (figs.rps, figs.error_rate, figs.p50_ms, figs.p95_ms) == (3.0, 0.0, 50, 700)


def test_a_run_snapshot_reads_back_and_measures_the_hold(tmp_path: Path) -> None:
    final = {AGGREGATED: RouteCounts(10, 1, {5: 6, 50: 4})}
    run = RunSnapshot(phase="scenario", started=100.0, stopped=130.0, final=final)
    path = tmp_path / "snapshot.json"
    path.write_text(run.model_dump_json())
    assert RunSnapshot.model_validate_json(path.read_text()) == run
    whole = read_snapshot(path)
    assert (whole.seconds, whole.total.requests, whole.total.failures) == (30.0, 10, 1)

    held = {AGGREGATED: RouteCounts(4, 0, {5: 4})}
    with_hold = run.model_copy(update={"hold": Hold(stopped=110.0, counts=held)})
    path.write_text(with_hold.model_dump_json())
    hold = read_snapshot(path)
    assert (hold.seconds, hold.total.requests, hold.total.rps) == (10.0, 4, 0.4)

    path.write_text(run.model_copy(update={"final": {}}).model_dump_json())
    with pytest.raises(ValueError, match="no aggregated counters"):
        read_snapshot(path)


class SimulatedServer:
    """Cumulative counters of a server where each user sends one request per second per route
    weight; a route's latency jumps once the users pass its limit."""

    def __init__(self, limits: dict[str, tuple[int, float]]) -> None:
        self.limits = limits  # route -> (users it stands, share of requests)
        self.counts: dict[str, tuple[int, Counter[int]]] = {r: (0, Counter()) for r in limits}

    def advance(self, users: int) -> None:
        for route, (limit, share) in self.limits.items():
            n, times = self.counts[route]
            requests = round(users * share)
            times[20 if users < limit else 900] += requests
            self.counts[route] = (n + requests, times)

    def snapshot(self) -> Snapshot:
        snap: Snapshot = {}
        agg: Counter[int] = Counter()
        for route, (n, times) in self.counts.items():
            snap[route] = RouteCounts(n, 0, dict(times))
            agg.update(times)
        snap[AGGREGATED] = RouteCounts(sum(n for n, _ in self.counts.values()), 0, dict(agg))
        return snap


def drive(search: BreakpointSearch, server: SimulatedServer, limit_s: int = 10_000) -> int:
    """Tick once per simulated second until the search ends; the seconds it took."""
    users = 0
    for t in range(limit_s):
        server.advance(users)
        load = search.tick(float(t), server.snapshot)
        if load is None:
            return t
        users = load[0]
    raise AssertionError("the search did not end")


def test_search_finds_the_breaking_point_and_the_route_that_broke_first() -> None:
    # The feed (5% of requests) degrades from 500 users; everything from 700.
    server = SimulatedServer({"/api/v1/trades/public": (500, 0.05), "/": (700, 0.95)})
    plan = StressPlan(step_users=100, step_s=30, max_users=3000, max_search_s=3600)
    search = BreakpointSearch(plan, hold_users=200, spawn_rate=50, hold_s=60)
    drive(search, server)
    out = search.outcome().model_dump()
    assert out["breaking_point"]["users"] == 700
    assert out["breaking_point"]["p95_ms"] == 900
    assert out["breaking_point"]["rps"] > 0
    assert out["last_good"]["users"] == 600
    assert out["broke_first"]["route"] == "/api/v1/trades/public"
    assert out["broke_first"]["users"] == 500
    assert [st["users"] for st in out["stages"]] == [200, 300, 400, 500, 600, 700]
    assert out["stop_reason"] == "broke at 700 users"
    # The hold's counters are kept for the scenario's own figures.
    assert search.state.hold is not None and search.state.hold[0] == 60


def test_errors_break_a_stage_too() -> None:
    plan = StressPlan(step_users=100, step_s=20, error_limit=0.001)
    search = BreakpointSearch(plan, hold_users=200, spawn_rate=100, hold_s=20)
    counts = {"n": 0, "f": 0}

    def snap() -> Snapshot:
        return {AGGREGATED: RouteCounts(counts["n"], counts["f"], {10: counts["n"]})}

    users = 0
    for t in range(1000):
        counts["n"] += users
        counts["f"] += 1 if users >= 400 else 0  # 1 error a second: 0.25% at 400 users
        load = search.tick(float(t), snap)
        if load is None:
            break
        users = load[0]
    assert search.outcome().model_dump()["breaking_point"]["users"] == 400


def test_search_stops_at_the_user_cap_without_a_break() -> None:
    server = SimulatedServer({"/": (10**9, 1.0)})
    plan = StressPlan(step_users=250, step_s=20, max_users=1000, max_search_s=3600)
    search = BreakpointSearch(plan, hold_users=200, spawn_rate=100, hold_s=30)
    drive(search, server)
    out = search.outcome().model_dump()
    assert out["breaking_point"] is None
    assert [st["users"] for st in out["stages"]] == [200, 450, 700, 950, 1000]
    assert out["stop_reason"] == "no break up to the 1000-user cap"


def test_search_stops_at_the_time_cap() -> None:
    server = SimulatedServer({"/": (10**9, 1.0)})
    plan = StressPlan(step_users=10, step_s=30, max_users=100_000, max_search_s=120)
    search = BreakpointSearch(plan, hold_users=200, spawn_rate=100, hold_s=30)
    seconds = drive(search, server)
    assert search.outcome().model_dump()["stop_reason"] == "no break within the 120 s search cap"
    assert seconds <= 30 + 120 + 2


def test_a_stage_that_serves_nothing_is_broken() -> None:
    plan = StressPlan(step_users=100, step_s=20)
    search = BreakpointSearch(plan, hold_users=50, spawn_rate=50, hold_s=20)
    frozen = {AGGREGATED: RouteCounts(0, 0, {})}
    t = 0
    while search.tick(float(t), lambda: frozen) is not None:
        t += 1
    assert search.outcome().model_dump()["breaking_point"]["users"] == 50

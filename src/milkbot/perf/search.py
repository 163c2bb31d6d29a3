"""The stress test's breaking-point search, as a state machine the Locust shape drives.

Timeline: hold ``hold_users`` for ``hold_s`` seconds (the guide's 200 users for 15 minutes),
then add ``step_users`` users every ``step_s`` seconds. Each stage is judged on its own window
(from when its users have all started plus a few seconds, to its end): the stage *breaks* when
the window's P95 exceeds the limit, its error rate exceeds the limit, or it served nothing. The
first broken stage is the breaking point (its users and throughput); the route that broke first
is the first route seen over a limit in any window (the worst one when several cross together).
The search ends at the breaking point, at ``max_users`` or after ``max_search_s``: always.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from milkbot.perf.histograms import AGGREGATED, RouteCounts, Snapshot, summarize, window
from milkbot.perf.records import BreakingPoint, Figures, StressSearch, StressStage
from milkbot.perf.scenarios import StressPlan

# A route with fewer requests than this in a window is not judged on its own (noise).
MIN_ROUTE_REQUESTS = 20
# Seconds after the last user of a stage has started before its window opens.
SETTLE_S = 5.0


@dataclass
class SearchState:
    """Where the search is: the current stage's users and start, its window's first snapshot,
    the judged stages so far, and why it stopped (``None`` while running)."""

    users: int
    started: float
    stage_snap: Snapshot = field(default_factory=dict)
    window_start: tuple[float, Snapshot] | None = None
    stages: list[StressStage] = field(default_factory=list)
    first_break: tuple[str, StressStage] | None = None
    hold: tuple[float, Snapshot] | None = None
    stop_reason: str | None = None


class BreakpointSearch:
    """Drive with :meth:`tick` once a second: it returns ``(users, spawn_rate)`` for the
    shape, or ``None`` once the search has ended. ``read`` returns the run's cumulative
    snapshot; ``t`` is seconds since the test started."""

    def __init__(self, plan: StressPlan, hold_users: int, spawn_rate: float, hold_s: float) -> None:
        self.plan = plan
        self.spawn_rate = spawn_rate
        self.hold_s = hold_s
        self.state = SearchState(users=hold_users, started=0.0)

    def _stage_length(self) -> float:
        return self.hold_s if not self.state.stages else self.plan.step_s

    def _settle(self, added: int) -> float:
        return added / self.spawn_rate + SETTLE_S

    def tick(self, t: float, read: Callable[[], Snapshot]) -> tuple[int, float] | None:
        """Advance the search to time ``t`` (s) and return the load the shape should apply."""
        s = self.state
        if s.stop_reason is not None:
            return None
        added = s.users if not s.stages else self.plan.step_users
        if s.window_start is None and t >= s.started + self._settle(added):
            s.window_start = (t, read())
        if t < s.started + self._stage_length():
            return s.users, self.spawn_rate
        snap = read()
        if not s.stages:
            s.hold = (t, snap)
        stage = self._judge(t, snap)
        s.stages.append(stage)
        if stage.broken_routes and s.first_break is None:
            worst = max(stage.broken_routes.items(), key=lambda kv: _badness(kv[1], self.plan))
            s.first_break = (worst[0], stage)
        if stage.broke:
            s.stop_reason = f"broke at {stage.users} users"
        elif s.users >= self.plan.max_users:
            s.stop_reason = f"no break up to the {self.plan.max_users}-user cap"
        elif s.hold and t - s.hold[0] + self.plan.step_s > self.plan.max_search_s:
            s.stop_reason = f"no break within the {self.plan.max_search_s:.0f} s search cap"
        if s.stop_reason is not None:
            return None
        s.users = min(s.users + self.plan.step_users, self.plan.max_users)
        s.started = t
        s.stage_snap = snap
        s.window_start = None
        return s.users, self.spawn_rate

    def _judge(self, t: float, snap: Snapshot) -> StressStage:
        s = self.state
        start_t, start_snap = s.window_start or (s.started, s.stage_snap)
        seconds = max(t - start_t, 1e-9)
        counts = window(snap, start_snap)
        agg = summarize(counts.get(AGGREGATED, RouteCounts(0, 0, {})), seconds)
        broken = {
            name: fig
            for name, c in counts.items()
            if name != AGGREGATED
            and c.requests >= MIN_ROUTE_REQUESTS
            and _over(fig := summarize(c, seconds), self.plan)
        }
        return StressStage(
            **agg.model_dump(),
            users=s.users,
            seconds=round(seconds, 1),
            ended=round(t, 1),
            broke=agg.requests == 0 or _over(agg, self.plan),
            broken_routes=broken,
        )

    def outcome(self, wall0: float | None = None) -> StressSearch:
        """The search's outcome for the run's snapshot file; stage times count from ``wall0``
        (s since the epoch)."""
        s = self.state
        broke = next((st for st in s.stages if st.broke), None)
        first = s.first_break
        last_good = [st for st in s.stages if not st.broke]
        return StressSearch(
            hold_users=s.stages[0].users if s.stages else s.users,
            hold_s=self.hold_s,
            plan=self.plan,
            stages=s.stages,
            stop_reason=s.stop_reason,
            breaking_point=None if broke is None else _point(broke),
            last_good=None
            if not last_good
            else BreakingPoint(users=last_good[-1].users, rps=round(last_good[-1].rps, 1)),
            broke_first=None
            if first is None
            else BreakingPoint(
                route=first[0],
                users=first[1].users,
                p95_ms=first[1].broken_routes[first[0]].p95_ms,
                error_rate=first[1].broken_routes[first[0]].error_rate,
            ),
            wall0=wall0,
        )


def _over(fig: Figures, plan: StressPlan) -> bool:
    return fig.error_rate > plan.error_limit or (fig.p95_ms or 0.0) > plan.p95_limit_ms


def _badness(fig: Figures, plan: StressPlan) -> float:
    return max((fig.p95_ms or 0.0) / plan.p95_limit_ms, fig.error_rate / plan.error_limit)


def _point(stage: StressStage) -> BreakingPoint:
    return BreakingPoint(
        users=stage.users, rps=round(stage.rps, 1), p95_ms=stage.p95_ms, error_rate=stage.error_rate
    )

"""The one-screen summary of a load test: each figure beside its target, the phases without
think time, the breaking-point search (the per-route figures are in Locust's own report); in
colour on a terminal, as plain text in ``summary.txt`` and in the HTML report."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from milkbot.perf.records import (
    BreakingPoint,
    Criterion,
    LoadTestSummary,
    StressSearch,
    ThroughputPhase,
)

STATE_STYLE = {
    "pass": "green",
    "fail": "red",
    "critical": "bold red",
    "skip": "yellow",
    "info": "dim",
}
STATE_WORD = {"pass": "ok", "fail": "FAIL", "critical": "CRITICAL", "skip": "skipped", "info": ""}


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def criteria_table(rows: list[Criterion], title: str) -> Table:
    """A verdict's lines: figure, measured, target, state and note."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("target")
    table.add_column("")
    table.add_column("note")
    for r in rows:
        table.add_row(
            Text(r.name),
            Text(r.shown),
            Text(r.target),
            Text(STATE_WORD[r.state], style=STATE_STYLE[r.state]),
            Text(r.note, style="dim"),
        )
    return table


def _context(s: LoadTestSummary) -> Text:
    m, load, d = s.machine, s.load, s.dataset
    trades = "?" if d is None else f"{d.trades:,}"
    mix = ", ".join(f"{k}:{v}" for k, v in load.weights.items())
    return Text(
        f"{m.hostname}: {m.cores} CPUs ({m.cpu}), {m.memory_gib} GiB · "
        f"PostgreSQL {d.postgres if d else '?'} · {trades} trades · "
        f"{s.server.workers or '?'} worker(s), pool {s.server.pool_capacity or '?'}\n"
        f"{s.target} ({s.platform}) · {load.users} users ({mix}) at "
        f"{load.spawn_rate:g}/s · measured {s.window_s:.0f} s · "
        f"{s.total.requests:,} requests, {s.total.failures:,} failed",
        style="dim",
    )


def _cost(phase: ThroughputPhase) -> str:
    ms = phase.server_cpu_ms_per_request
    return "" if ms is None else f", server CPU {ms:.2f} ms/request"


def _throughput(s: LoadTestSummary) -> Text:
    cap, ceil = s.capacity, s.ceiling
    if cap:
        line = (
            f"capacity {cap.rps:,.1f} req/s (user mix, {cap.users} users, no think time, "
            f"P95 {_ms(cap.p95_ms)} ms{_cost(cap)})"
        )
    else:
        line = "capacity: not measured"
    if ceil:
        line += f" · ceiling {ceil.rps:,.1f} req/s on {s.ceiling_path}{_cost(ceil)}"
    if s.capacity_to_ceiling is not None:
        line += f" · ratio {s.capacity_to_ceiling:.0%}"
    return Text(line)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%"


def _stages(stress: StressSearch) -> Table:
    table = Table(title="Breaking-point search", box=box.SIMPLE_HEAD, title_justify="left")
    columns = ("users", "s", "req/s", "P50", "P95", "P99 ms", "errors", "server CPU", "Locust CPU")
    for col in columns:
        table.add_column(col, justify="right")
    table.add_column("routes over a limit")
    for st in stress.stages:
        table.add_row(
            f"{st.users:,}",
            f"{st.seconds:.0f}",
            f"{st.rps:,.1f}",
            _ms(st.p50_ms),
            _ms(st.p95_ms),
            _ms(st.p99_ms),
            f"{st.error_rate:.2%}",
            _pct(st.server_cpu_avg_pct),
            _pct(st.loadgen_cpu_avg_pct),
            ", ".join(st.broken_routes) or "-",
        )
    return table


def _breaking_point(stress: StressSearch) -> str:
    """The breaking point and the route that broke first, in words."""
    bp, first = stress.breaking_point, stress.broke_first
    if bp:
        text = f"breaking point: {bp.users:,} users at {bp.rps or 0:,.1f} req/s ({_limits(bp)})"
    else:
        text = f"breaking point: not reached ({stress.stop_reason})"
    if first:
        text += f"\nfirst to break: {first.route} at {first.users:,} users ({_limits(first)})"
    return text


def _limits(point: BreakingPoint) -> str:
    return f"P95 {_ms(point.p95_ms)} ms, errors {point.error_rate or 0:.2%}"


def render(s: LoadTestSummary) -> RenderableType:
    """One screen: context, the verdict table, goals, throughput without think time, the
    breaking-point search, failures and notes (per route: Locust's own report)."""
    head = Text.assemble(
        ("Load test ", "bold"),
        (s.scenario, "bold cyan"),
        ("  PASS" if s.passed else "  FAIL", "bold green" if s.passed else "bold red"),
        f"  ({s.description})",
    )
    parts: list[RenderableType] = [
        head,
        _context(s),
        criteria_table(s.checks, "Guide criteria"),
        criteria_table(s.goals, "Goal figures (informative, not gating)"),
        _throughput(s),
    ]
    if s.stress:
        parts.append(_stages(s.stress))
        parts.append(Text(_breaking_point(s.stress), style="bold"))
    for failure in s.top_failures[:3]:
        parts.append(
            Text(f"failure x{failure.count}: {failure.route}: {failure.error}", style="red")
        )
    for note in s.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


def plain_text(s: LoadTestSummary) -> str:
    """:func:`render` without colours, 110 columns wide."""
    buf = io.StringIO()
    Console(file=buf, width=110, color_system=None, force_terminal=False).print(render(s))
    return buf.getvalue()

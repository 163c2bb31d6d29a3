"""The one-screen summary of a load test: each figure beside its target, per-route figures,
the breaking point; in colour on a terminal, as plain text in ``summary.txt``."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

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


def _checks_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("target")
    table.add_column("")
    table.add_column("note")
    for r in rows:
        table.add_row(
            Text(r["name"]),
            Text(r["shown"]),
            Text(r["target"]),
            Text(STATE_WORD[r["state"]], style=STATE_STYLE[r["state"]]),
            Text(r["note"], style="dim"),
        )
    return table


def _context(s: dict[str, Any]) -> Text:
    m, load = s["machine"], s["load"]
    trades = "?" if s["data"]["trades"] is None else f"{s['data']['trades']:,}"
    mix = ", ".join(f"{k}:{v}" for k, v in load["weights"].items())
    return Text(
        f"{m['hostname']}: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB · "
        f"PostgreSQL {s['postgres_version'] or '?'} · {trades} trades · "
        f"{s['server']['workers']} worker(s), pool {s['server']['pool_capacity']}\n"
        f"{s['target']} ({s['platform']}) · {load['users']} users ({mix}) at "
        f"{load['spawn_rate']:g}/s · measured {s['window_s']:.0f} s · "
        f"{s['requests']:,} requests, {s['failures']:,} failed",
        style="dim",
    )


def _cost(phase: dict[str, Any]) -> str:
    ms = phase.get("server_cpu_ms_per_request")
    return "" if ms is None else f", server CPU {ms:.2f} ms/request"


def _throughput(s: dict[str, Any]) -> Text:
    cap, ceil = s["capacity"], s["ceiling"]
    if cap:
        line = (
            f"capacity {cap['rps']:,.1f} req/s (user mix, {cap['users']} users, no think time, "
            f"P95 {_ms(cap['p95_ms'])} ms{_cost(cap)})"
        )
    else:
        line = "capacity: not measured"
    if ceil:
        line += f" · ceiling {ceil['rps']:,.1f} req/s on {s['ceiling_path']}{_cost(ceil)}"
    if s["capacity_to_ceiling"] is not None:
        line += f" · ratio {s['capacity_to_ceiling']:.0%}"
    return Text(line)


def _routes(s: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("route")
    for col in ("requests", "fail", "req/s", "P50", "P95", "P99 ms"):
        table.add_column(col, justify="right")
    for name, r in s["routes"].items():
        table.add_row(
            Text(name),
            f"{r['requests']:,}",
            f"{r['failures']:,}",
            f"{r['rps']:.1f}",
            _ms(r["p50_ms"]),
            _ms(r["p95_ms"]),
            _ms(r["p99_ms"]),
        )
    return table


def _breaking_point(stress: dict[str, Any]) -> Text:
    bp, first = stress.get("breaking_point"), stress.get("broke_first")
    if bp:
        text = (
            f"breaking point: {bp['users']:,} users at {bp['rps']:,.1f} req/s "
            f"(P95 {_ms(bp['p95_ms'])} ms, errors {bp['error_rate']:.2%})"
        )
    else:
        text = f"breaking point: not reached ({stress['stop_reason']})"
    if first:
        text += (
            f"\nfirst to break: {first['route']} at {first['users']:,} users "
            f"(P95 {_ms(first['p95_ms'])} ms, errors {first['error_rate']:.2%})"
        )
    return Text(text, style="bold")


def render(s: dict[str, Any]) -> RenderableType:
    """One screen: context, the verdict table, goals, throughput without think time,
    per-route figures, the breaking point, failures and notes."""
    ok = s["verdict"] == "pass"
    head = Text.assemble(
        ("Load test ", "bold"),
        (s["scenario"], "bold cyan"),
        ("  PASS" if ok else "  FAIL", "bold green" if ok else "bold red"),
        f"  ({s['description']})",
    )
    parts: list[RenderableType] = [
        head,
        _context(s),
        _checks_table(s["checks"], "Guide criteria"),
        _checks_table(s["goals"], "Goal figures (informative, not gating)"),
        _throughput(s),
        _routes(s),
    ]
    if s.get("stress"):
        parts.append(_breaking_point(s["stress"]))
    for route, error, count in s["top_failures"][:3]:
        parts.append(Text(f"failure x{count}: {route}: {error}", style="red"))
    for note in s["notes"]:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


def plain_text(s: dict[str, Any]) -> str:
    """:func:`render` without colours, 110 columns wide."""
    buf = io.StringIO()
    Console(file=buf, width=110, color_system=None, force_terminal=False).print(render(s))
    return buf.getvalue()

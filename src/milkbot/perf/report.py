"""The load test's HTML report: one self-contained file (inline SVG charts, no script, no
network), readable offline and attachable to a release.

It holds what Locust's own HTML report (``scenario.html`` beside it, linked) does not: the
verdict against the guide's criteria, the goal figures, the phases without think time, the
breaking-point search, and charts over the scenario phase of response-time percentiles against
the P95 target, P95 per route, server and machine resources, and the database connections
against the pool. Requests per second, users, the per-route table and the failures are in
Locust's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from milkbot.perf.charts import PALETTE, Point, line_chart
from milkbot.perf.judge import LoadTestRun
from milkbot.perf.locust_output import HistoryPoint, read_history
from milkbot.perf.records import Criterion, LoadTestSummary, StressSearch

LOCUST_REPORT = "scenario.html"  # written by Locust (--html) for the scenario phase

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#1f2937;padding:0 12px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px}
.pass{color:#15803d;font-weight:600} .fail,.critical{color:#b91c1c;font-weight:600}
.skip{color:#a16207} .info,.muted{color:#6b7280}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
td,th{padding:3px 10px;border-bottom:1px solid #e5e7eb;text-align:right}
td:first-child,th:first-child,td.l,th.l{text-align:left}
svg{max-width:100%;height:auto;display:block;margin:8px 0}
"""


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}%"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = ()) -> str:
    """An HTML table of already escaped cells; the first column and those in ``left`` are
    left-aligned, the others (numbers) right-aligned."""

    def cls(i: int) -> str:
        return ' class="l"' if i in left else ""

    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _checks(rows: Sequence[Criterion]) -> str:
    cells = [
        (
            escape(r.name),
            escape(r.shown),
            escape(r.target),
            f'<span class="{r.state}">{r.state}</span>',
            f'<span class="muted">{escape(r.note)}</span>',
        )
        for r in rows
    ]
    return _table(("figure", "measured", "target", "state", "note"), cells, left=(2, 3, 4))


def _series(points: Sequence[HistoryPoint], t0: float, attr: str) -> list[Point]:
    return [(p.t - t0, getattr(p, attr)) for p in points]


def charts(run: LoadTestRun) -> list[str]:
    """The charts of the scenario phase (the stress test's hold end marked)."""
    main = run.phases["scenario"]
    t0 = main.started
    total, routes = read_history(run.out / "scenario_stats_history.csv")
    samples = [x for x in run.samples if t0 <= x.t]
    x_max = max([p.t - t0 for p in total] + [x.t - t0 for x in samples] + [1.0])
    marks = [(main.stopped - t0, "end of hold")] if main.search is not None else []
    target = run.scenario.p95_target_ms
    percentiles = [
        (q.upper(), color, _series(total, t0, q))
        for q, color in (("p50", PALETTE[2]), ("p95", PALETTE[3]), ("p99", PALETTE[1]))
    ]
    per_route = [
        (name, PALETTE[i % len(PALETTE)], _series(pts, t0, "p95"))
        for i, (name, pts) in enumerate(sorted(routes.items()))
    ]
    resources = [
        (label, PALETTE[c], [(x.t - t0, float(getattr(x, attr))) for x in samples])
        for label, c, attr in (
            ("server CPU", 0, "server_cpu"),
            ("web CPU", 5, "app_cpu"),
            ("database CPU", 3, "db_cpu"),
            ("Locust CPU", 7, "loadgen_cpu"),
            ("machine memory", 4, "machine_mem"),
        )
    ]
    connections = [
        (
            "connections",
            PALETTE[0],
            [
                (x.t - t0, None if x.db_connections is None else float(x.db_connections))
                for x in samples
            ],
        )
    ]
    pool = run.server.pool_capacity
    pool_line = [(0.8 * pool, f"80% of the pool ({pool})")] if pool else []
    return [
        line_chart(
            "Response time percentiles (last ~10 s; log scale)",
            percentiles,
            " ms",
            x_max=x_max,
            hlines=[(target, f"P95 target {target:g} ms")],
            vlines=marks,
            log=True,
        ),
        line_chart(
            "P95 per route (last ~10 s; log scale)",
            per_route,
            " ms",
            x_max=x_max,
            vlines=marks,
            log=True,
        ),
        line_chart(
            "CPU (% of the whole machine) and memory",
            resources,
            "%",
            x_max=x_max,
            hlines=[(70.0, "CPU target 70%")],
            vlines=marks,
        ),
        line_chart(
            "Database connections of the app",
            connections,
            "",
            x_max=x_max,
            hlines=pool_line,
            vlines=marks,
        ),
    ]


def _header(s: LoadTestSummary) -> str:
    m, d, load = s.machine, s.dataset, s.load
    data = (
        "PostgreSQL ? · ? trades"
        if d is None
        else (f"PostgreSQL {d.postgres} · {d.trades:,} trades ({d.database_mb} MB)")
    )
    lines = [
        escape(s.description),
        escape(
            f"{m.hostname}: {m.cores} CPUs ({m.cpu}), {m.memory_gib} GiB, {m.os} · {data} · "
            f"{s.server.workers or '?'} worker(s), pool {s.server.pool_capacity or '?'} · "
            f"commit {s.commit} · {s.finished_at.isoformat()}"
        ),
        escape(
            f"{s.target} ({s.platform}) · {load.users} users at {load.spawn_rate:g}/s · "
            f"measured {s.window_s:.0f} s · {s.total.requests:,} requests, "
            f"{s.total.failures:,} failed"
        ),
    ]
    return (
        f'<h1>Load test: {escape(s.scenario)} <span class="{s.verdict}">'
        f"{s.verdict.upper()}</span></h1>"
        f'<p class="muted">{"<br>".join(lines)}</p>'
    )


def _phases(s: LoadTestSummary) -> str:
    named = (("capacity (user mix)", s.capacity), (f"ceiling ({s.ceiling_path})", s.ceiling))
    rows = [
        (
            escape(name),
            f"{p.users}",
            f"{p.seconds:.0f}",
            f"{p.rps:,.1f}",
            _ms(p.p50_ms),
            _ms(p.p95_ms),
            f"{p.error_rate:.2%}",
            _pct(p.server_cpu_avg_pct),
            _pct(p.loadgen_cpu_avg_pct),
            "-" if p.server_cpu_ms_per_request is None else f"{p.server_cpu_ms_per_request:.2f}",
        )
        for name, p in named
        if p
    ]
    headers = (
        "phase",
        "users",
        "s",
        "req/s",
        "P50",
        "P95",
        "errors",
        "server CPU",
        "Locust CPU",
        "server CPU ms/request",
    )
    return (
        "<h2>Throughput without think time</h2>"
        + _table(headers, rows)
        + '<p class="muted">CPU: average share of the whole machine over the phase; server CPU '
        "per request compares the phases independently of how fast Locust could send.</p>"
    )


def _search(stress: StressSearch) -> str:
    bp, first = stress.breaking_point, stress.broke_first
    if bp:
        text = (
            f"Breaking point: <b>{bp.users:,} users</b> at {bp.rps or 0:,.1f} req/s "
            f"(P95 {_ms(bp.p95_ms)} ms, errors {bp.error_rate or 0:.2%})."
        )
    else:
        text = f"Breaking point not reached: {escape(stress.stop_reason or '')}."
    if first:
        text += (
            f" First route to break: <b>{escape(first.route or '')}</b> at {first.users:,} "
            f"users (P95 {_ms(first.p95_ms)} ms, errors {first.error_rate or 0:.2%})."
        )
    rows = [
        (
            f"{st.users:,}",
            f"{st.seconds:.0f}",
            f"{st.rps:,.1f}",
            _ms(st.p50_ms),
            _ms(st.p95_ms),
            _ms(st.p99_ms),
            f"{st.error_rate:.2%}",
            _pct(st.server_cpu_avg_pct),
            _pct(st.loadgen_cpu_avg_pct),
            escape(", ".join(st.broken_routes)) or "-",
        )
        for st in stress.stages
    ]
    headers = (
        "users",
        "window s",
        "req/s",
        "P50",
        "P95",
        "P99",
        "errors",
        "server CPU",
        "Locust CPU",
        "routes over a limit",
    )
    return f"<h2>Breaking-point search</h2><p>{text}</p>" + _table(headers, rows, left=(9,))


def render_report(summary: LoadTestSummary, run: LoadTestRun) -> str:
    """The report of a judged run as one HTML document."""
    s = summary
    parts = [
        _header(s),
        "<h2>Guide criteria</h2>" + _checks(s.checks),
        "<h2>Goal figures (informative, not gating)</h2>" + _checks(s.goals),
        _phases(s),
    ]
    if s.stress:
        parts.append(_search(s.stress))
    parts.append("<h2>Charts</h2>" + "\n".join(charts(run)))
    parts.append(
        f'<p>Requests per second, users, every route and the failures: <a href="{LOCUST_REPORT}">'
        "Locust's own report</a> of the scenario phase.</p>"
    )
    if s.notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in s.notes)
        parts.append(f"<h2>Notes</h2><ul>{items}</ul>")
    head = (
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Load test {escape(s.scenario)}</title><style>{CSS}</style>"
    )
    return (
        f'<!doctype html>\n<html lang="en"><head>{head}</head><body>\n'
        + "\n".join(parts)
        + "\n</body></html>\n"
    )

"""The load test's HTML report: one self-contained file (inline SVG charts, no script, no
network), readable offline and attachable to a release.

It holds the one-screen summary (:mod:`milkbot.perf.screen`: the verdict, the goal figures, the
phases without think time, the breaking-point search) and the charts Locust's own HTML report
(``scenario.html`` beside it, linked; requests per second, users, every route, the failures)
does not draw: response-time percentiles against the P95 target, P95 per route, server and
machine resources, and the database connections against the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from milkbot.perf.charts import PALETTE, Point, line_chart
from milkbot.perf.judge import LoadTestRun
from milkbot.perf.locust_output import HistoryPoint, read_history
from milkbot.perf.records import LoadTestSummary
from milkbot.perf.screen import plain_text

LOCUST_REPORT = "scenario.html"  # written by Locust (--html) for the scenario phase
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#1f2937;padding:0 12px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px}
.pass{color:#15803d} .fail{color:#b91c1c} pre{font-size:12px;overflow-x:auto}
svg{max-width:100%;height:auto;display:block;margin:8px 0}
"""


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


def render_report(summary: LoadTestSummary, run: LoadTestRun) -> str:
    """The report of a judged run as one HTML document."""
    s = summary
    parts = [
        f'<h1>Load test: {escape(s.scenario)} <span class="{s.verdict}">'
        f"{s.verdict.upper()}</span></h1>",
        f"<pre>{escape(plain_text(s))}</pre>",
        "<h2>Charts</h2>" + "\n".join(charts(run)),
        f'<p>Requests per second, users, every route and the failures: <a href="{LOCUST_REPORT}">'
        "Locust's own report</a> of the scenario phase.</p>",
    ]
    head = (
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Load test {escape(s.scenario)}</title><style>{CSS}</style>"
    )
    return (
        f'<!doctype html>\n<html lang="en"><head>{head}</head><body>\n'
        + "\n".join(parts)
        + "\n</body></html>\n"
    )

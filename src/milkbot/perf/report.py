"""The load test's HTML report: one self-contained file (inline SVG charts, no script, no
network), readable offline and attachable to a release.

It holds the one-screen summary (:mod:`milkbot.perf.screen`: the verdict, the goal figures, the
phases without think time, the breaking-point search) and the charts Locust's own HTML report
(``scenario.html`` beside it, linked; requests per second, users, every route, the failures)
does not draw: response-time percentiles against the P95 target, P95 per route, server and
machine resources, and the database connections against the pool (inline SVG line charts: no
script, no library, no network).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from html import escape

from milkbot.perf.histograms import HistoryPoint, read_history
from milkbot.perf.judge import LoadTestRun
from milkbot.perf.records import LoadTestSummary
from milkbot.perf.screen import plain_text

LOCUST_REPORT = "scenario.html"  # written by Locust (--html) for the scenario phase
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#1f2937;padding:0 12px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px}
.pass{color:#15803d} .fail{color:#b91c1c} pre{font-size:12px;overflow-x:auto}
svg{max-width:100%;height:auto;display:block;margin:8px 0}
"""


Point = tuple[float, float | None]
Series = tuple[str, str, Sequence[Point]]
"""(label, colour, points): x in seconds from the phase start, y ``None`` for a gap."""

PALETTE = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#4b5563",
    "#65a30d",
    "#ea580c",
)
WIDTH, HEIGHT = 900, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 200, 28, 30  # plot margins; the legend sits on the right
GRID, MUTED, ALERT = "#e5e7eb", "#6b7280", "#b91c1c"
MAX_POINTS = 600  # per series: about one per pixel of the plot


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (axis top)."""
    if value <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    return next(step * exp for step in (1.0, 2.0, 2.5, 5.0, 10.0) if value <= step * exp)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'
    )


def _text(x: float, y: float, label: str, anchor: str = "start", fill: str = MUTED) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" '
        f'fill="{fill}">{escape(label)}</text>'
    )


def thin(points: Sequence[Point], x_max: float, buckets: int = MAX_POINTS) -> list[Point]:
    """At most ``buckets`` points: the highest value of each slice of the x axis (a spike
    stays visible), ``None`` for a slice with no value."""
    if len(points) <= buckets:
        return list(points)
    slices: dict[int, list[Point]] = {}
    for x, y in points:
        slices.setdefault(min(int(x / x_max * buckets), buckets - 1), []).append((x, y))
    out: list[Point] = []
    for _, pts in sorted(slices.items()):
        values = [y for _, y in pts if y is not None]
        out.append((pts[-1][0], max(values) if values else None))
    return out


def _y_scale(values: Sequence[float], log: bool) -> tuple[Callable[[float], float], list[float]]:
    """A map from a value to a fraction of the plot's height, and the gridline values."""
    if log:
        top = math.ceil(math.log10(max([*values, 10.0])))
        ticks = [10.0**e for e in range(0, top + 1)]
        return (lambda y: math.log10(max(y, 1.0)) / top), ticks
    y_max = nice_max(max([*values, 0.0]))
    return (lambda y: y / y_max), [y_max * i / 4 for i in range(5)]


def line_chart(
    title: str,
    series: Sequence[Series],
    unit: str,
    *,
    x_max: float,
    hlines: Sequence[tuple[float, str]] = (),
    vlines: Sequence[tuple[float, str]] = (),
    log: bool = False,
) -> str:
    """An SVG line chart from 0 to ``x_max`` seconds, y from 0 to a round maximum (or, with
    ``log``, from 1 to a power of ten: latencies of 2 ms and 20 s on one chart), with dashed
    reference lines: ``hlines`` (value, label) such as a target, ``vlines`` (seconds, label)."""
    x_max = max(x_max, 1.0)
    series = [(label, color, thin(pts, x_max)) for label, color, pts in series]
    values = [y for _, _, pts in series for _, y in pts if y is not None]
    fraction, ticks = _y_scale([*values, *(h for h, _ in hlines)], log)
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (right - LEFT) * x / x_max

    def sy(y: float) -> float:
        return TOP + (bottom - TOP) * (1 - fraction(y))

    out = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">']
    out.append(f'<text x="{LEFT}" y="16" font-weight="600" font-size="13">{escape(title)}</text>')
    for y in ticks:
        out.append(_line(LEFT, sy(y), right, sy(y), GRID))
        out.append(_text(LEFT - 6, sy(y) + 4, f"{y:g}{unit}", "end"))
    for i in range(7):
        x = x_max * i / 6
        out.append(_text(sx(x), HEIGHT - 10, _clock(x), "middle"))
    for y, label in hlines:
        out.append(_line(LEFT, sy(y), right, sy(y), ALERT, ' stroke-dasharray="5 4"'))
        out.append(_text(right - 4, sy(y) - 4, label, "end", ALERT))
    for x, label in vlines:
        out.append(_line(sx(x), TOP, sx(x), bottom, MUTED, ' stroke-dasharray="3 3"'))
        out.append(_text(sx(x) + 4, TOP + 12, label))
    for i, (label, color, pts) in enumerate(series):
        segments: list[list[str]] = [[]]
        for px, py in pts:
            if py is None:
                segments.append([])
            else:
                segments[-1].append(f"{sx(px):.1f},{sy(py):.1f}")
        for seg in segments:
            if len(seg) > 1:
                out.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
                    f'points="{" ".join(seg)}"/>'
                )
            elif seg:
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
        ly = TOP + 14 * i + 6
        out.append(_line(right + 12, ly, right + 28, ly, color, ' stroke-width="3"'))
        out.append(_text(right + 33, ly + 4, label, fill="#1f2937"))
    out.append("</svg>")
    return "\n".join(out)


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

    def sampled(attr: str) -> list[Point]:
        return [(x.t - t0, None if (v := getattr(x, attr)) is None else float(v)) for x in samples]

    resources = [
        (label, PALETTE[c], sampled(attr))
        for label, c, attr in (
            ("server CPU", 0, "server_cpu"),
            ("web CPU", 5, "app_cpu"),
            ("database CPU", 3, "db_cpu"),
            ("Locust CPU", 7, "loadgen_cpu"),
            ("machine memory", 4, "machine_mem"),
        )
    ]
    connections = [("connections", PALETTE[0], sampled("db_connections"))]
    pool = run.server.pool_capacity
    pool_line = [(0.8 * pool, f"80% of the pool ({pool})")] if pool else []
    chart = functools.partial(line_chart, x_max=x_max, vlines=marks)
    return [
        chart(
            "Response time percentiles (last ~10 s; log scale)",
            percentiles,
            " ms",
            hlines=[(target, f"P95 target {target:g} ms")],
            log=True,
        ),
        chart("P95 per route (last ~10 s; log scale)", per_route, " ms", log=True),
        chart(
            "CPU (% of the whole machine) and memory",
            resources,
            "%",
            hlines=[(70.0, "CPU target 70%")],
        ),
        chart("Database connections of the app", connections, "", hlines=pool_line),
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

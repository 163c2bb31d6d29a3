"""The comparison page's chart: equity curves of several accounts overlaid, each normalised to
its starting bankroll (1.0 = the bankroll, 1.25 = up 25 %), drawn server-side as an inline SVG.

Inline SVG keeps the page's Content-Security-Policy as it is (no script, no inline style: the
colours are presentation attributes and CSS classes) and shows the chart without JavaScript.
With hundreds of accounts only a readable subset is drawn (:func:`pick_drawn`): the best and
worst by return and the selected account; the page says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

WIDTH = 860
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
# Intervals between the dates under the x axis.
DATE_TICKS = 4
# Lines drawn at most: best and worst EACH_END by return, and the selected account.
EACH_END = 5
# Distinct colours (Okabe-Ito, readable by colour-blind eyes, and a few more).
PALETTE = (
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
    "#d55e00", "#7f7f7f", "#a6761d", "#6a3d9a", "#1b9e77",
)  # fmt: skip
SELECTED_COLOUR = "#111827"


@dataclass(frozen=True, slots=True)
class Line:
    """One account's normalised equity: (settlement day, equity / starting bankroll)."""

    name: str
    label: str
    points: Sequence[tuple[date, float]]
    selected: bool = False


def pick_drawn(
    rows: Sequence[tuple[str, float | None]], selected: str | None, each_end: int = EACH_END
) -> list[str]:
    """Names to draw among ``rows`` (name, return): all of them when there are few, else the
    ``each_end`` best and worst by return plus ``selected``; best first."""
    ranked = sorted((r for r in rows if r[1] is not None), key=lambda r: (-(r[1] or 0.0), r[0]))
    names = [name for name, _ in ranked]
    if len(rows) <= 2 * each_end + 1:
        chosen = names + [name for name, ret in rows if ret is None]
    else:
        chosen = names[:each_end] + [n for n in names[-each_end:] if n not in names[:each_end]]
    if selected is not None and selected not in chosen and any(n == selected for n, _ in rows):
        chosen.append(selected)
    return chosen


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def _pct(ratio: float) -> str:
    change = round((ratio - 1) * 100, 6)  # the float noise of lo + n * step gone
    if change == 0:
        return "0%"
    digits = 0 if change.is_integer() else 1
    return f"{change:+.{digits}f}%"


def overlay_svg(lines: Sequence[Line], title: str) -> Markup:
    """An SVG of ``lines`` on shared axes: x the settlement days, y the change from the starting
    bankroll (gridlines in %; the 0 % line, the bankroll itself, drawn darker)."""
    points = [p for line in lines for p in line.points]
    if not points:
        return Markup('<p class="empty">No equity in this window.</p>')
    days = [p[0].toordinal() for p in points]
    lo_day, hi_day = min(days), max(days)
    ys = [p[1] for p in points] + [1.0]
    lo_y, hi_y = min(ys), max(ys)
    if hi_y - lo_y < 1e-6:
        lo_y, hi_y = lo_y - 0.01, hi_y + 0.01
    step = _nice_step(hi_y - lo_y)
    lo_y = math.floor(lo_y / step) * step
    hi_y = math.ceil(hi_y / step) * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: int) -> float:
        return LEFT + (day - lo_day) / max(hi_day - lo_day, 1) * plot_w

    def y(ratio: float) -> float:
        return TOP + (hi_y - ratio) / (hi_y - lo_y) * plot_h

    out = [
        Markup(
            '<svg class="overlay" viewBox="0 0 {} {}" role="img" aria-label="{}" '
            'xmlns="http://www.w3.org/2000/svg">'
        ).format(WIDTH, HEIGHT, title)
    ]
    n = 0
    while (tick := lo_y + n * step) <= hi_y + step / 1e6:
        cls = "base" if abs(tick - 1.0) < step / 1e6 else "grid"
        out.append(
            Markup(
                '<line class="{}" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>'
                '<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>'
            ).format(cls, LEFT, WIDTH - RIGHT, y(tick), y(tick), LEFT - 6, y(tick) + 4, _pct(tick))
        )
        n += 1
    # Dates under the axis: the first and last day, and evenly spaced ones between.
    base = HEIGHT - 8
    span = hi_day - lo_day
    for i in range(DATE_TICKS + 1 if span >= DATE_TICKS else 2):
        day = lo_day + round(span * i / (DATE_TICKS if span >= DATE_TICKS else 1))
        anchor = "start" if i == 0 else ("end" if day == hi_day else "middle")
        out.append(
            Markup('<text class="tick" x="{:.1f}" y="{}" text-anchor="{}">{}</text>').format(
                x(day), base, anchor, date.fromordinal(day).isoformat()
            )
        )
    colours = iter(PALETTE * (len(lines) // len(PALETTE) + 1))
    # The selected account last, so it is drawn on top of the others.
    for line in sorted(lines, key=lambda ln: ln.selected):
        colour = SELECTED_COLOUR if line.selected else next(colours)
        path = " ".join(f"{x(d.toordinal()):.1f},{y(r):.1f}" for d, r in line.points)
        cls = "curve selected" if line.selected else "curve"
        out.append(
            Markup(
                '<polyline class="{}" data-account="{}" stroke="{}" points="{}">'
                "<title>{}</title></polyline>"
            ).format(cls, line.name, colour, path, line.label)
        )
    out.append(Markup("</svg>"))
    return Markup("").join(out)


def legend(lines: Sequence[Line]) -> list[tuple[Line, str]]:
    """Each line with the colour :func:`overlay_svg` gives it (same order as ``lines``)."""
    colours = iter(PALETTE * (len(lines) // len(PALETTE) + 1))
    return [(ln, SELECTED_COLOUR if ln.selected else next(colours)) for ln in lines]

"""Equity, drawdown and risk-adjusted returns from a series of daily net P&L (integer micros).

The definitions follow empyrical (Quantopian's reference library, also used by quantstats):

- daily return ``r_d = pnl_d / equity_(d-1)``, the previous day's closing equity;
- Sharpe ``= mean(r) / std(r, ddof=1) * sqrt(365)`` (empyrical ``sharpe_ratio``, risk-free 0);
- Sortino ``= mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(365)`` (empyrical ``sortino_ratio``,
  required return 0, downside deviation over *all* days);
- max drawdown: the largest fall from the running high-water mark, which starts at the equity
  before the first day (empyrical ``max_drawdown`` prepends that starting value too).

365, not 252: the markets settle every calendar day. Every calendar day of the series counts,
a day without settled trades being a 0 return.

Amounts stay integer micros (:class:`Day`) while they are computed; :func:`to_points` and
:func:`summarise` turn them into the results' exact dollars at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import NamedTuple

from milkbot.analytics.results import DayPnl, EquityPoint, EquitySummary
from milkbot.money import to_dollars

PERIODS_PER_YEAR = 365
_ANNUAL = math.sqrt(PERIODS_PER_YEAR)


def sharpe_ratio(returns: Sequence[float]) -> float | None:
    """Annualised Sharpe ratio of daily returns (empyrical's definition, risk-free rate 0).

    ``None`` with fewer than two returns or when they do not vary.
    """
    n = len(returns)
    if n < 2:
        return None
    mean = math.fsum(returns) / n
    var = math.fsum((r - mean) ** 2 for r in returns) / (n - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * _ANNUAL


def sortino_ratio(returns: Sequence[float]) -> float | None:
    """Annualised Sortino ratio of daily returns (empyrical's definition, required return 0).

    ``None`` without returns or when no day lost money (the downside deviation is 0).
    """
    n = len(returns)
    if n == 0:
        return None
    downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / n)
    if downside == 0:
        return None
    return math.fsum(returns) / n / downside * _ANNUAL


class Day(NamedTuple):
    """Equity at the close of one day (micros), that day's net P&L, the high-water mark, the
    drawdown from it (micros) and the drawdown as a percent of the mark."""

    date: date
    equity: int
    pnl: int
    high: int
    down: int
    pct: float | None


def build_days(
    first_day: date, pnls: Sequence[int], opening: int, flows: Sequence[int] | None = None
) -> list[Day]:
    """Equity days from ``first_day``, one per entry of ``pnls`` (daily net P&L, micros),
    starting from ``opening`` (equity at the close of the day before, micros). ``flows`` (one
    per day, micros) are transfers: a deposit or withdrawal moves that day's equity and the
    high-water mark alike, so it is neither a gain nor a drawdown.

    The high-water mark starts at ``opening``; the drawdown percent is of the high-water mark
    (``None`` when the mark is not positive).
    """
    days: list[Day] = []
    equity = high = opening
    day = first_day
    one_day = timedelta(days=1)
    for i, pnl in enumerate(pnls):
        if flows is not None and flows[i]:
            equity += flows[i]
            high += flows[i]
        equity += pnl
        if equity > high:
            high = equity
        down = high - equity
        pct = down * 100.0 / high if high > 0 else None
        days.append(Day(day, equity, pnl, high, down, pct))
        day += one_day
    return days


def to_points(days: Sequence[Day]) -> list[EquityPoint]:
    """The results' points (exact dollars) of ``days``."""
    return [
        EquityPoint(
            d.date, to_dollars(d.equity), to_dollars(d.pnl), to_dollars(d.high),
            to_dollars(d.down), d.pct,
        )
        for d in days
    ]  # fmt: skip


def daily_returns(days: Sequence[Day]) -> list[float] | None:
    """``pnl_d / equity_(d-1)`` per day (the previous close plus the day's transfers: the
    equity the day's P&L was made on); ``None`` if an equity it divides by is not positive
    (returns are undefined once the account is bust)."""
    returns: list[float] = []
    for d in days:
        base = d.equity - d.pnl
        if base <= 0:
            return None
        returns.append(d.pnl / base)
    return returns


def _drawdown_extremes(points: Sequence[Day]) -> tuple[int, int] | None:
    """Indices (peak, trough) of the largest drawdown, by percent when defined else by amount;
    peak -1 means the opening equity. ``None`` when equity never fell below its mark."""
    trough = -1
    best: tuple[float, int] = (0.0, 0)
    for i, p in enumerate(points):
        key = (p.pct if p.pct is not None else -1.0, p.down)
        if p.down > 0 and key > best:
            best, trough = key, i
    if trough < 0:
        return None
    mark = points[trough].high
    peak = -1
    for i in range(trough - 1, -1, -1):
        if points[i].equity == mark:
            peak = i
            break
    return peak, trough


def summarise(first_day: date, points: Sequence[Day], opening: int) -> EquitySummary:
    """Summary of an equity curve: start/end equity, total return (% of the start), max
    drawdown (amount, and % of the high-water mark, with the peak's and trough's dates - the
    peak is the day before ``first_day`` when it is the opening equity), Sharpe and Sortino
    (module docstring), best and worst day (earliest on ties). ``opening`` and the days are
    micros; the summary's amounts are exact dollars."""
    end = points[-1].equity if points else opening
    max_down = max((p.down for p in points), default=0)
    pcts = [p.pct for p in points if p.pct is not None]
    max_pct = max(pcts) if pcts else (0.0 if opening > 0 and not points else None)
    peak_date = trough_date = None
    extremes = _drawdown_extremes(points)
    if extremes is not None:
        peak, trough = extremes
        peak_date = points[peak].date if peak >= 0 else first_day - timedelta(days=1)
        trough_date = points[trough].date
    returns = daily_returns(points)
    best = worst = None
    if points:
        b = max(points, key=lambda p: p.pnl)
        w = min(points, key=lambda p: p.pnl)
        best, worst = DayPnl(b.date, to_dollars(b.pnl)), DayPnl(w.date, to_dollars(w.pnl))
    return EquitySummary(
        start_equity_dollars=to_dollars(opening),
        end_equity_dollars=to_dollars(end),
        total_pnl_dollars=to_dollars(end - opening),
        total_return_pct=(end - opening) * 100.0 / opening if opening > 0 else None,
        max_drawdown_dollars=to_dollars(max_down),
        max_drawdown_pct=max_pct,
        peak_date=peak_date,
        trough_date=trough_date,
        sharpe=sharpe_ratio(returns) if returns is not None else None,
        sortino=sortino_ratio(returns) if returns is not None else None,
        best_day=best,
        worst_day=worst,
        days=len(points),
    )


def max_drawdown(pnls: Sequence[int]) -> int:
    """Largest fall of the running sum of ``pnls`` from its high-water mark, which
    starts at 0 (the cumulative P&L before the first day)."""
    total = high = worst = 0
    for pnl in pnls:
        total += pnl
        if total > high:
            high = total
        if high - total > worst:
            worst = high - total
    return worst


def downsample(points: Sequence[Day], max_points: int) -> list[Day]:
    """At most ``max_points`` (>= 2) points that keep the shape: the first and last, the max
    drawdown's peak and trough, and each bucket's lowest and highest equity, in date order."""
    n = len(points)
    if n <= max_points:
        return list(points)
    # First and last, then the max drawdown's trough and peak, as far as max_points allows.
    musts = [0, n - 1]
    extremes = _drawdown_extremes(points)
    if extremes is not None:
        musts += [i for i in (extremes[1], extremes[0]) if i >= 0]
    keep: set[int] = set()
    for i in musts:
        if len(keep) < max_points:
            keep.add(i)
    buckets = (max_points - len(keep)) // 2
    if buckets:
        size = (n - 2) / buckets
        for b in range(buckets):
            chunk = range(1 + int(b * size), min(1 + int((b + 1) * size), n - 1))
            if chunk:
                keep.add(min(chunk, key=lambda i: points[i].equity))
                keep.add(max(chunk, key=lambda i: points[i].equity))
    return [points[i] for i in sorted(keep)]

"""Equity, drawdown and risk-adjusted returns from a series of daily net P&L (cents).

The definitions follow empyrical (Quantopian's reference library, also used by quantstats):

- daily return ``r_d = pnl_d / equity_(d-1)``, the previous day's closing equity;
- Sharpe ``= mean(r) / std(r, ddof=1) * sqrt(365)`` (empyrical ``sharpe_ratio``, risk-free 0);
- Sortino ``= mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(365)`` (empyrical ``sortino_ratio``,
  required return 0, downside deviation over *all* days);
- max drawdown: the largest fall from the running high-water mark, which starts at the equity
  before the first day (empyrical ``max_drawdown`` prepends that starting value too).

365, not 252: the markets settle every calendar day. Every calendar day of the series counts,
a day without settled trades being a 0 return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from milkbot.analytics.results import DayPnl, EquityPoint, EquitySummary

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


def build_points(first_day: date, pnls: Sequence[int], opening_cents: int) -> list[EquityPoint]:
    """Equity points for consecutive days from ``first_day``, one per entry of ``pnls`` (daily
    net P&L, cents), starting from ``opening_cents`` (equity at the close of the day before).

    The high-water mark starts at ``opening_cents``; drawdown_pct is the drawdown as a percent of
    the high-water mark (``None`` when the mark is not positive).
    """
    points: list[EquityPoint] = []
    equity = high = opening_cents
    day = first_day
    one_day = timedelta(days=1)
    for pnl in pnls:
        equity += pnl
        if equity > high:
            high = equity
        down = high - equity
        pct = down * 100.0 / high if high > 0 else None
        points.append(EquityPoint(day, equity, pnl, high, down, pct))
        day += one_day
    return points


def daily_returns(points: Sequence[EquityPoint], opening_cents: int) -> list[float] | None:
    """``pnl_d / equity_(d-1)`` per point; ``None`` if an equity it divides by is not positive
    (returns are undefined once the account is bust)."""
    returns: list[float] = []
    previous = opening_cents
    for p in points:
        if previous <= 0:
            return None
        returns.append(p.daily_pnl_cents / previous)
        previous = p.equity_cents
    return returns


def _drawdown_extremes(points: Sequence[EquityPoint]) -> tuple[int, int] | None:
    """Indices (peak, trough) of the largest drawdown, by percent when defined else by cents;
    peak -1 means the opening equity. ``None`` when equity never fell below its mark."""
    trough = -1
    best: tuple[float, int] = (0.0, 0)
    for i, p in enumerate(points):
        key = (p.drawdown_pct if p.drawdown_pct is not None else -1.0, p.drawdown_cents)
        if p.drawdown_cents > 0 and key > best:
            best, trough = key, i
    if trough < 0:
        return None
    mark = points[trough].high_water_cents
    peak = -1
    for i in range(trough - 1, -1, -1):
        if points[i].equity_cents == mark:
            peak = i
            break
    return peak, trough


def summarise(first_day: date, points: Sequence[EquityPoint], opening_cents: int) -> EquitySummary:
    """Summary of an equity curve: start/end equity (cents), total return (% of the start),
    max drawdown (cents, and % of the high-water mark, with the peak's and trough's dates - the
    peak is the day before ``first_day`` when it is the opening equity), Sharpe and Sortino
    (module docstring), best and worst day (earliest on ties)."""
    end = points[-1].equity_cents if points else opening_cents
    max_down = max((p.drawdown_cents for p in points), default=0)
    pcts = [p.drawdown_pct for p in points if p.drawdown_pct is not None]
    max_pct = max(pcts) if pcts else (0.0 if opening_cents > 0 and not points else None)
    peak_date = trough_date = None
    extremes = _drawdown_extremes(points)
    if extremes is not None:
        peak, trough = extremes
        peak_date = points[peak].date if peak >= 0 else first_day - timedelta(days=1)
        trough_date = points[trough].date
    returns = daily_returns(points, opening_cents)
    best = worst = None
    if points:
        b = max(points, key=lambda p: p.daily_pnl_cents)
        w = min(points, key=lambda p: p.daily_pnl_cents)
        best, worst = DayPnl(b.date, b.daily_pnl_cents), DayPnl(w.date, w.daily_pnl_cents)
    return EquitySummary(
        start_equity_cents=opening_cents,
        end_equity_cents=end,
        total_pnl_cents=end - opening_cents,
        total_return_pct=(end - opening_cents) * 100.0 / opening_cents
        if opening_cents > 0
        else None,
        max_drawdown_cents=max_down,
        max_drawdown_pct=max_pct,
        peak_date=peak_date,
        trough_date=trough_date,
        sharpe=sharpe_ratio(returns) if returns is not None else None,
        sortino=sortino_ratio(returns) if returns is not None else None,
        best_day=best,
        worst_day=worst,
        days=len(points),
    )


def max_drawdown_cents(pnls: Sequence[int]) -> int:
    """Largest fall (cents) of the running sum of ``pnls`` from its high-water mark, which
    starts at 0 (the cumulative P&L before the first day)."""
    total = high = worst = 0
    for pnl in pnls:
        total += pnl
        if total > high:
            high = total
        if high - total > worst:
            worst = high - total
    return worst


def downsample(points: Sequence[EquityPoint], max_points: int) -> list[EquityPoint]:
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
                keep.add(min(chunk, key=lambda i: points[i].equity_cents))
                keep.add(max(chunk, key=lambda i: points[i].equity_cents))
    return [points[i] for i in sorted(keep)]

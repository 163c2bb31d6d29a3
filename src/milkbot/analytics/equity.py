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

import numpy as np
import numpy.typing as npt

from milkbot.analytics.results import DayPnl, EquityPoint, EquitySummary
from milkbot.money import to_dollars

PERIODS_PER_YEAR = 365
_ANNUAL = math.sqrt(PERIODS_PER_YEAR)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


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


def drawdown_extremes(equity: Ints, high: Ints, down: Ints, pct: Floats) -> tuple[int, int] | None:
    """Indices (peak, trough) of the largest drawdown, by percent when defined (``pct`` NaN
    where not) else by amount, the first such day on ties; peak -1 means the opening equity.
    ``None`` when equity never fell below its mark."""
    score = np.where(np.isnan(pct), -1.0, pct)
    # (score, down) must beat (0.0, 0): a drawdown whose percent is undefined never counts.
    candidates = (down > 0) & (score >= 0)
    if not candidates.any():
        return None
    best = candidates & (score == score[candidates].max())
    best &= down == down[best].max()
    trough = int(np.flatnonzero(best)[0])
    marks = np.flatnonzero(equity[:trough] == high[trough])
    return (int(marks[-1]) if marks.size else -1), trough


def _arrays(points: Sequence[Day]) -> tuple[Ints, Ints, Ints, Floats]:
    equity = np.fromiter((p.equity for p in points), np.int64, len(points))
    high = np.fromiter((p.high for p in points), np.int64, len(points))
    down = np.fromiter((p.down for p in points), np.int64, len(points))
    pct = np.fromiter((np.nan if p.pct is None else p.pct for p in points), np.float64, len(points))
    return equity, high, down, pct


def _drawdown_extremes(points: Sequence[Day]) -> tuple[int, int] | None:
    """:func:`drawdown_extremes` of ``points``, in one pass over them (a report's curve is a
    few dozen days, too few for numpy's arrays to pay for themselves)."""
    trough = -1
    best: tuple[float, int] = (0.0, 0)
    for i, p in enumerate(points):
        # A drawdown whose percent is undefined never counts; the first of equals wins.
        if p.down > 0 and p.pct is not None and (p.pct, p.down) > best:
            trough, best = i, (p.pct, p.down)
    if trough < 0:
        return None
    mark = points[trough].high
    for i in range(trough - 1, -1, -1):
        if points[i].equity == mark:
            return i, trough
    return -1, trough


class Risk(NamedTuple):
    """An equity curve's max drawdown (micros, and % of the high-water mark), Sharpe and
    Sortino (see :func:`summarise`)."""

    max_drawdown: int
    max_drawdown_pct: float | None
    sharpe: float | None
    sortino: float | None


def risk(points: Sequence[Day], opening: int) -> Risk:
    """The risk figures of :func:`summarise` alone, without building the summary (the
    comparison computes them for hundreds of accounts a call)."""
    max_down = max((p.down for p in points), default=0)
    pcts = [p.pct for p in points if p.pct is not None]
    max_pct = max(pcts) if pcts else (0.0 if opening > 0 and not points else None)
    returns = daily_returns(points)
    if returns is None:
        return Risk(max_down, max_pct, None, None)
    return Risk(max_down, max_pct, sharpe_ratio(returns), sortino_ratio(returns))


def summarise(first_day: date, points: Sequence[Day], opening: int) -> EquitySummary:
    """Summary of an equity curve: start/end equity, total return (% of the start), max
    drawdown (amount, and % of the high-water mark, with the peak's and trough's dates - the
    peak is the day before ``first_day`` when it is the opening equity), Sharpe and Sortino
    (module docstring), best and worst day (earliest on ties). ``opening`` and the days are
    micros; the summary's amounts are exact dollars."""
    end = points[-1].equity if points else opening
    figures = risk(points, opening)
    peak_date = trough_date = None
    extremes = _drawdown_extremes(points)
    if extremes is not None:
        peak, trough = extremes
        peak_date = points[peak].date if peak >= 0 else first_day - timedelta(days=1)
        trough_date = points[trough].date
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
        max_drawdown_dollars=to_dollars(figures.max_drawdown),
        max_drawdown_pct=figures.max_drawdown_pct,
        peak_date=peak_date,
        trough_date=trough_date,
        sharpe=figures.sharpe,
        sortino=figures.sortino,
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
    drawdown's peak and trough, and each bucket's lowest and highest equity, in date order
    (see :func:`keep_indices`)."""
    if len(points) <= max_points:
        return list(points)
    return [points[i] for i in keep_indices(*_arrays(points), max_points)]


def keep_indices(equity: Ints, high: Ints, down: Ints, pct: Floats, max_points: int) -> list[int]:
    """The indices :func:`downsample` keeps of a curve given as arrays (``pct`` NaN where
    undefined), in order: all of them when there are at most ``max_points`` (>= 2); else the
    first and last, then the max drawdown's trough and peak as far as ``max_points`` allows,
    then, in (max_points - those) // 2 buckets of the days between the first and the last,
    each bucket's lowest and highest equity (the first such day on ties)."""
    n = len(equity)
    if n <= max_points:
        return list(range(n))
    musts = [0, n - 1]
    extremes = drawdown_extremes(equity, high, down, pct)
    if extremes is not None:
        musts += [i for i in (extremes[1], extremes[0]) if i >= 0]
    keep: set[int] = set()
    for i in musts:
        if len(keep) < max_points:
            keep.add(i)
    buckets = (max_points - len(keep)) // 2
    if buckets:
        size = (n - 2) / buckets
        # Bucket b is days bounds[b] .. bounds[b + 1] - 1 (the last one ending before n - 1):
        # contiguous, some possibly empty. In `inner` (the days from 1 on), each non-empty
        # bucket starts at its bound - 1.
        bounds = 1 + (np.arange(buckets + 1) * size).astype(np.int64)
        bounds[-1] = min(int(bounds[-1]), n - 1)
        starts = bounds[:-1][bounds[:-1] < bounds[1:]] - 1
        inner = equity[1 : bounds[-1]]
        bucket = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(inner))))
        for reduce in (np.minimum, np.maximum):
            extreme = reduce.reduceat(inner, starts)
            hits = np.flatnonzero(inner == extreme[bucket])
            _, first = np.unique(bucket[hits], return_index=True)
            keep.update((hits[first] + 1).tolist())
    return sorted(keep)


def even_indices(n: int, max_points: int) -> Ints:
    """Indices of ``n`` days to draw with at most ``max_points`` (>= 2) points, ascending:
    every day when there are that few, else ``max_points`` evenly spaced ones, the first and
    the last included (the same for every curve over those days, so they share one axis)."""
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    spaced: Ints = np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.int64))
    return spaced


class Curves(NamedTuple):
    """Many accounts' equity curves over the same days, as (accounts x days) arrays (micros;
    ``pct`` NaN where the high-water mark is not positive, ``valid`` False on the days before
    an account's curve starts), and each one's :class:`Risk` figures."""

    equity: Ints
    high: Ints
    down: Ints
    pct: Floats
    valid: npt.NDArray[np.bool_]
    risks: list[Risk]


def many_curves(opening: Ints, pnls: Ints, flows: Ints, first: Ints) -> Curves:
    """:func:`build_days` and :func:`risk` for many accounts at once, with numpy.

    Row i is an account: ``opening[i]`` its equity before the window's first day, ``pnls[i]``
    and ``flows[i]`` its net P&L and transfers per day (transfers before ``first[i]`` already
    in the opening), ``first[i]`` the index of its curve's first day (the number of days for
    an account with none). Same arithmetic as the single-account functions: equity and mark
    move with transfers, returns are on the equity the day's P&L was made on."""
    n_accounts, n_days = pnls.shape
    valid = np.arange(n_days)[None, :] >= first[:, None]
    flow_sums = np.cumsum(flows, axis=1)
    own = opening[:, None] + np.cumsum(pnls, axis=1)  # equity less transfers
    marks = np.maximum.accumulate(np.concatenate([opening[:, None], own], axis=1), axis=1)[:, 1:]
    down = marks - own
    equity = own + flow_sums
    high = marks + flow_sums
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(high > 0, down * 100.0 / high, np.nan)
        base = equity - pnls
        returns = np.where(valid, pnls / base, 0.0)
        count = valid.sum(axis=1)
        mean = returns.sum(axis=1) / count
        var = np.where(valid, (returns - mean[:, None]) ** 2, 0.0).sum(axis=1) / (count - 1)
        downside = np.sqrt((np.minimum(returns, 0.0) ** 2).sum(axis=1) / count)
    max_down = np.where(valid, down, 0).max(axis=1, initial=0)
    defined = valid & ~np.isnan(pct)
    max_pct = np.where(defined, pct, -np.inf).max(axis=1, initial=-np.inf)
    has_pct = defined.sum(axis=1) > 0
    bust = (valid & (base <= 0)).sum(axis=1) > 0
    risks: list[Risk] = []
    for i in range(n_accounts):
        n = int(count[i])
        worst: float | None = float(max_pct[i]) if has_pct[i] else None
        if worst is None and n == 0 and opening[i] > 0:
            worst = 0.0
        sharpe = sortino = None
        if not bust[i]:
            if n >= 2 and var[i] > 0:
                sharpe = float(mean[i] / math.sqrt(var[i]) * _ANNUAL)
            if n and downside[i]:
                sortino = float(mean[i] / downside[i] * _ANNUAL)
        risks.append(Risk(int(max_down[i]), worst, sharpe, sortino))
    return Curves(equity, high, down, pct, valid, risks)

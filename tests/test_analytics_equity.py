"""Equity arithmetic against empyrical's definitions, re-implemented here with numpy:
Sharpe = mean(r) / std(r, ddof=1) * sqrt(365), Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) *
sqrt(365), max drawdown = -min((v - cummax(v)) / cummax(v)) with the starting value prepended.
Also transfers (they move equity and the high-water mark alike), the window rules and the
downsampling that keeps the extremes. Amounts are integer micros (the summary's exact
dollars are compared as micros)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from milkbot.analytics import AnalyticsInputError, Window
from milkbot.analytics.equity import (
    build_days,
    downsample,
    drawdown_extremes,
    many_curves,
    max_drawdown,
    risk,
    sharpe_ratio,
    sortino_ratio,
    summarise,
    to_points,
)
from milkbot.money import to_dollars

DAY0 = date(2025, 1, 1)


def reference(pnl: list[int], opening: int) -> dict[str, float | None]:
    values = np.cumsum([opening, *pnl]).astype(float)
    r = np.diff(values) / values[:-1]
    peak = np.maximum.accumulate(values)
    std = np.std(r, ddof=1) if len(r) > 1 else 0.0
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2)) if len(r) else 0.0
    return {
        "sharpe": float(np.mean(r) / std * np.sqrt(365)) if std else None,
        "sortino": float(np.mean(r) / downside * np.sqrt(365)) if downside else None,
        "max_dd_pct": float(-np.min((values - peak) / peak) * 100),
        "max_dd_cents": float(np.max(peak - values)),
        "return_pct": float((values[-1] / values[0] - 1) * 100),
    }


@pytest.mark.parametrize("seed", range(12))
def test_summary_matches_the_reference_definitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    pnl = [int(x) for x in rng.normal(30, 900, n).round()]
    pnl[int(rng.integers(0, n))] = 0  # quiet days are 0 returns
    opening = int(rng.integers(50_000, 200_000))
    points = build_days(DAY0, pnl, opening)
    s = summarise(DAY0, points, opening)
    ref = reference(pnl, opening)
    assert math.isclose(s.sharpe or 0, ref["sharpe"] or 0, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(s.sortino or 0, ref["sortino"] or 0, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(s.max_drawdown_pct or 0, ref["max_dd_pct"], rel_tol=1e-9, abs_tol=1e-9)
    assert s.max_drawdown_dollars == to_dollars(int(ref["max_dd_cents"]))
    assert math.isclose(s.total_return_pct or 0, ref["return_pct"], rel_tol=1e-9, abs_tol=1e-9)
    assert s.end_equity_dollars == to_dollars(opening + sum(pnl))
    assert s.best_day is not None and s.best_day.pnl_dollars == to_dollars(max(pnl))
    assert s.best_day.date == DAY0 + timedelta(days=pnl.index(max(pnl)))
    assert s.worst_day is not None and s.worst_day.date == DAY0 + timedelta(
        days=pnl.index(min(pnl))
    )


def test_drawdown_points_and_peak_trough_dates() -> None:
    pnl = [100, 50, -300, 20, 400, -100]
    points = build_days(DAY0, pnl, 1_000)
    assert [p.equity for p in points] == [1100, 1150, 850, 870, 1270, 1170]
    assert [p.high for p in points] == [1100, 1150, 1150, 1150, 1270, 1270]
    assert [p.down for p in points] == [0, 0, 300, 280, 0, 100]
    assert points[2].pct == pytest.approx(300 / 1150 * 100, rel=1e-12)
    shown = to_points(points)
    assert [p.equity_dollars for p in shown][:2] == [Decimal("0.0011"), Decimal("0.00115")]
    assert shown[2].drawdown_dollars == Decimal("0.0003") and shown[2].drawdown_pct == points[2].pct
    s = summarise(DAY0, points, 1_000)
    assert (s.peak_date, s.trough_date) == (DAY0 + timedelta(days=1), DAY0 + timedelta(days=2))
    assert s.max_drawdown_dollars == Decimal("0.0003")


def test_transfers_move_equity_and_the_mark_alike() -> None:
    """A deposit is not a gain nor a withdrawal a drawdown; the day's return is on the equity
    after the day's transfer."""
    days = build_days(DAY0, [100, -50, 30], 1_000, [0, 500, -200])
    assert [d.equity for d in days] == [1100, 1550, 1380]
    assert [d.high for d in days] == [1100, 1600, 1400]
    assert [d.down for d in days] == [0, 50, 20]
    s = summarise(DAY0, days, 1_000)
    assert s.total_pnl_dollars == to_dollars(380)  # end - start, transfers included
    assert s.max_drawdown_dollars == to_dollars(50)
    assert s.max_drawdown_pct == pytest.approx(50 / 1600 * 100, rel=1e-12)
    returns = np.array([100 / 1000, -50 / 1600, 30 / 1350])
    want = float(np.mean(returns) / np.std(returns, ddof=1) * np.sqrt(365))
    assert s.sharpe == pytest.approx(want, rel=1e-12)


def test_a_first_day_loss_is_a_drawdown_from_the_opening_equity() -> None:
    s = summarise(DAY0, build_days(DAY0, [-50, 10], 1_000), 1_000)
    assert (s.peak_date, s.trough_date) == (DAY0 - timedelta(days=1), DAY0)
    assert s.max_drawdown_pct == pytest.approx(5.0)


def test_undefined_ratios_are_none_not_nan() -> None:
    flat = summarise(DAY0, build_days(DAY0, [0, 0, 0], 1_000), 1_000)
    assert flat.sharpe is None and flat.sortino is None and flat.max_drawdown_dollars == 0
    assert flat.peak_date is None and flat.trough_date is None
    winning = summarise(DAY0, build_days(DAY0, [5, 10, 1], 1_000), 1_000)
    assert winning.sortino is None and winning.sharpe is not None
    one_day = summarise(DAY0, build_days(DAY0, [5], 1_000), 1_000)
    assert one_day.sharpe is None and one_day.sortino is None
    bust = summarise(DAY0, build_days(DAY0, [-1_500, 100], 1_000), 1_000)
    assert bust.sharpe is None and bust.sortino is None  # a return on negative equity is undefined
    empty = summarise(DAY0, [], 1_000)
    assert (empty.start_equity_dollars, empty.end_equity_dollars, empty.days) == (
        Decimal("0.001"),
        Decimal("0.001"),
        0,
    )
    assert sharpe_ratio([]) is None and sortino_ratio([]) is None


def test_strategy_drawdown_starts_from_zero() -> None:
    assert max_drawdown([]) == 0
    assert max_drawdown([-5, 3]) == 5
    assert max_drawdown([10, -4, 8, -20, 1]) == 20


@pytest.mark.parametrize("max_points", [2, 3, 4, 5, 10, 99, 500])
def test_downsampling_keeps_ends_and_extremes(max_points: int) -> None:
    rng = np.random.default_rng(7)
    pnl = [int(x) for x in rng.normal(0, 1_000, 1_000).round()]
    points = build_days(DAY0, pnl, 100_000)
    thin = downsample(points, max_points)
    assert 2 <= len(thin) <= max_points
    assert thin[0] == points[0] and thin[-1] == points[-1]
    assert [p.date for p in thin] == sorted({p.date for p in thin})
    s = summarise(DAY0, points, 100_000)
    if max_points >= 4:
        dates = {p.date for p in thin}
        assert s.trough_date in dates and s.peak_date in dates
    if max_points >= 10:
        equity = [p.equity for p in thin]
        assert max(equity) == max(p.equity for p in points)
        assert min(equity) == min(p.equity for p in points)
    assert downsample(points[:7], 10) == points[:7]


def test_windows() -> None:
    w = Window.last(30, end=date(2026, 3, 31))
    assert (w.start, w.end, w.days) == (date(2026, 3, 2), date(2026, 3, 31), 30)
    assert Window.resolve(today=date(2026, 3, 31)) == w
    assert Window.resolve(None, date(2026, 3, 2), date(2026, 3, 31)) == w
    assert Window.resolve(7, to_date=date(2026, 3, 31)).start == date(2026, 3, 25)
    assert Window.resolve(from_date=date(2026, 3, 30), today=date(2026, 3, 31)).days == 2
    for kwargs, field in [
        ({"days": 0}, "days"),
        ({"days": 3651}, "days"),
        ({"days": 7, "from_date": date(2026, 1, 1)}, "days"),
        ({"from_date": date(2026, 3, 2), "to_date": date(2026, 3, 1)}, "from_date"),
        ({"from_date": date(2000, 1, 1), "to_date": date(2026, 3, 1)}, "to_date"),
    ]:
        with pytest.raises(AnalyticsInputError) as err:
            Window.resolve(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field and isinstance(err.value, ValueError)


def _downsample_by_loops(points: list, max_points: int) -> list:
    """The downsampling rule written with plain loops (the code before numpy), as a reference."""
    n = len(points)
    if n <= max_points:
        return list(points)
    trough, best = -1, (0.0, 0)
    for i, p in enumerate(points):
        key = (p.pct if p.pct is not None else -1.0, p.down)
        if p.down > 0 and key > best:
            best, trough = key, i
    musts = [0, n - 1]
    if trough >= 0:
        peak = next(
            (i for i in range(trough - 1, -1, -1) if points[i].equity == points[trough].high), -1
        )
        musts += [i for i in (trough, peak) if i >= 0]
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


@pytest.mark.parametrize("seed", range(40))
def test_downsampling_equals_the_loop_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 900))
    # Coarse steps make ties (equal equity on several days) common.
    pnl = [int(x) * 1_000 for x in rng.integers(-3, 4, n)]
    flows = [int(x) * 500 if rng.random() < 0.05 else 0 for x in rng.integers(-5, 6, n)]
    points = build_days(DAY0, pnl, int(rng.integers(1, 30_000)), flows)
    for max_points in (2, 3, 4, 5, 7, 10, 61, n - 1, n):
        if max_points >= 2:
            assert downsample(points, max_points) == _downsample_by_loops(points, max_points)


@pytest.mark.parametrize("seed", range(10))
def test_many_curves_equal_one_curve_at_a_time(seed: int) -> None:
    """The comparison's numpy path gives each account what build_days and risk give it alone:
    curves that start late, transfers, busts, flat and empty accounts."""
    rng = np.random.default_rng(seed)
    n_accounts, n_days = 12, int(rng.integers(1, 120))
    openings = rng.integers(1, 50_000, n_accounts)
    openings[0] = 0  # no equity at all: drawdown percent and returns undefined
    pnls = rng.integers(-2_000, 2_100, (n_accounts, n_days))
    pnls[1] = 0  # a flat account
    flows = np.where(rng.random((n_accounts, n_days)) < 0.05, rng.integers(-900, 2_000), 0)
    first = rng.integers(0, n_days + 1, n_accounts)
    first[2] = n_days  # no days in the window
    pnls[np.arange(n_days)[None, :] < first[:, None]] = 0
    flows[np.arange(n_days)[None, :] < first[:, None]] = 0
    curves = many_curves(openings, pnls, flows, first)
    for i in range(n_accounts):
        start = int(first[i])
        days = build_days(
            DAY0, pnls[i, start:].tolist(), int(openings[i]), flows[i, start:].tolist()
        )
        assert curves.equity[i, start:].tolist() == [d.equity for d in days]
        assert curves.down[i, start:].tolist() == [d.down for d in days]
        want = risk(days, int(openings[i]))
        got = curves.risks[i]
        assert got.max_drawdown == want.max_drawdown
        for a, b in zip(got[1:], want[1:], strict=True):
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9), (i, got, want)


@pytest.mark.parametrize("seed", range(30))
def test_summary_drawdown_dates_equal_the_array_rule(seed: int) -> None:
    """The summary finds the max drawdown's peak and trough in one loop over its days; the
    downsampling finds them with numpy (drawdown_extremes). Both give the same days: coarse
    steps for ties, transfers, and openings at or below zero (percent undefined)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    pnl = [int(x) * 1_000 for x in rng.integers(-3, 4, n)]
    flows = [int(x) * 500 if rng.random() < 0.05 else 0 for x in rng.integers(-5, 6, n)]
    opening = int(rng.integers(-5_000, 30_000)) if seed % 3 else 0
    points = build_days(DAY0, pnl, opening, flows)
    arrays = (
        np.array([p.equity for p in points], dtype=np.int64),
        np.array([p.high for p in points], dtype=np.int64),
        np.array([p.down for p in points], dtype=np.int64),
        np.array([np.nan if p.pct is None else p.pct for p in points]),
    )
    want = drawdown_extremes(*arrays)
    summary = summarise(DAY0, points, opening)
    if want is None:
        assert (summary.peak_date, summary.trough_date) == (None, None)
    else:
        peak, trough = want
        assert summary.trough_date == points[trough].date
        assert summary.peak_date == (points[peak].date if peak >= 0 else DAY0 - timedelta(days=1))

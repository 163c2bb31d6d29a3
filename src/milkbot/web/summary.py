"""Documents composed from several analytics results: the overview in one call (equity, the
window's P&L, win rate and drawdown, health, a sparkline, the cities and the latest public
trades) and the calibration chart's bins with their Brier score.

Every figure of the summary belongs to one of two spans, and the document says which: the
requested ``window`` (the last N settlement days), or ``all_time_window`` (the first settlement
day with a trade to today) for equity, total P&L and return, the all-time drawdown and the
sparkline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from milkbot.analytics import (
    Analytics,
    CalibrationBin,
    CityMetricsReport,
    EquityCurve,
    HealthReport,
    PublicTradePage,
    StrategyMetricsReport,
    Window,
)
from milkbot.analytics.window import MAX_DAYS

SPARKLINE_POINTS = 120
LATEST_TRADES = 8
# A calibration bin with fewer settled signals than this is drawn hollow and grey and flagged
# ``small``: its observed frequency is mostly noise (one signal more or less moves it by
# several points). The API and the strategies page both read it from here.
MIN_BIN_SIGNALS = 30


@dataclass(frozen=True, slots=True)
class SummaryParts:
    """The analytics results the overview is made of (each cached on its own)."""

    all_time: EquityCurve
    window_equity: EquityCurve
    cities: CityMetricsReport
    health: HealthReport
    feed: PublicTradePage

    def sources(self) -> tuple[object, ...]:
        """The results themselves: the response cache keys the encoded document by them."""
        return (self.all_time, self.window_equity, self.cities, self.health, self.feed)


async def read_summary_parts(analytics: Analytics, days: int) -> SummaryParts:
    """The results behind the overview of the last ``days`` settlement days, read concurrently:
    the all-time equity curve (thinned for the sparkline; its summary covers every day), the
    window's equity curve (for the window's drawdown), the window's cities, health and the
    latest public trades."""
    window = Window.last(days)
    all_time, window_equity, cities, health, feed = await asyncio.gather(
        analytics.equity_curve(days=MAX_DAYS, max_points=SPARKLINE_POINTS),
        # Two points are enough: only the summary (computed on every day) is used.
        analytics.equity_curve(from_date=window.start, to_date=window.end, max_points=2),
        analytics.city_metrics(from_date=window.start, to_date=window.end),
        analytics.health(),
        analytics.public_trades(limit=LATEST_TRADES),
    )
    return SummaryParts(all_time, window_equity, cities, health, feed)


def build_summary(parts: SummaryParts) -> dict[str, Any]:
    """The ``/api/v1/summary`` document (see ``SummaryOut``): money in cents, each figure over
    ``window`` or ``all_time_window`` as its description says."""
    all_time, rows = parts.all_time, parts.cities.cities
    wins = sum(c.wins for c in rows)
    losses = sum(c.losses for c in rows)
    ever = all_time.summary
    in_window = parts.window_equity.summary
    start = all_time.points[0].date if all_time.points else None
    return {
        "as_of": parts.cities.as_of.isoformat(),
        "window": parts.cities.window.to_dict(),
        "all_time_window": Window(start, all_time.window.end).to_dict() if start else None,
        "equity_cents": ever.end_equity_cents,
        "starting_bankroll_cents": all_time.starting_bankroll_cents,
        "total_pnl_cents": ever.end_equity_cents - all_time.starting_bankroll_cents,
        "total_return_pct": _return_pct(ever.end_equity_cents, all_time.starting_bankroll_cents),
        "all_time_max_drawdown_pct": ever.max_drawdown_pct,
        "max_drawdown_pct": in_window.max_drawdown_pct,
        "max_drawdown_cents": in_window.max_drawdown_cents,
        "net_pnl_cents": sum(c.net_pnl_cents for c in rows),
        "trades": sum(c.trades for c in rows),
        "wins": wins,
        "losses": losses,
        "win_rate": wins / (wins + losses) if wins + losses else None,
        "open_exposure_cents": sum(c.open_exposure_cents for c in rows),
        "health": parts.health.status,
        "sparkline": [
            {"date": p.date.isoformat(), "equity_cents": p.equity_cents} for p in all_time.points
        ],
        "cities": [c.to_dict() for c in rows],
        "latest_trades": [t.to_dict() for t in parts.feed.trades],
        "delay_minutes": parts.feed.delay_minutes,
    }


def _return_pct(end_cents: int, start_cents: int) -> float | None:
    return (end_cents - start_cents) * 100.0 / start_cents if start_cents > 0 else None


def combined_brier(report: StrategyMetricsReport, strategy: str | None) -> tuple[float | None, int]:
    """Brier score and settled-signal count of one strategy, or of all signals together (the
    per-strategy scores weighted by their settled signals, which is exact: each is a mean)."""
    rows = [s for s in report.strategies if strategy is None or s.strategy == strategy]
    n = sum(s.settled_signals for s in rows)
    if n == 0:
        return None, 0
    total = sum((s.brier_score or 0.0) * s.settled_signals for s in rows)
    return total / n, n


def build_calibration(
    window: Window,
    strategy: str | None,
    bins: Sequence[CalibrationBin],
    report: StrategyMetricsReport,
) -> dict[str, Any]:
    """The ``/api/v1/calibration`` document (see ``CalibrationOut``): the bins with their signal
    counts, each flagged ``small`` below ``min_signals`` (MIN_BIN_SIGNALS), and the Brier score
    of ``strategy`` (or of every signal) over the window."""
    brier, settled = combined_brier(report, strategy)
    return {
        "window": window.to_dict(),
        "strategy": strategy,
        "brier_score": brier,
        "settled_signals": settled,
        "min_signals": MIN_BIN_SIGNALS,
        "bins": [{**b.to_dict(), "small": b.n < MIN_BIN_SIGNALS} for b in bins],
    }

"""The overview in one call: equity, the window's P&L and win rate, health, a sparkline, the
cities and the latest public trades, composed from the analytics service's cached results."""

from __future__ import annotations

import asyncio
from typing import Any

from milkbot.analytics import (
    Analytics,
    CityMetricsReport,
    EquityCurve,
    HealthReport,
    PublicTradePage,
    StrategyMetricsReport,
)
from milkbot.analytics.window import MAX_DAYS

SPARKLINE_POINTS = 120
LATEST_TRADES = 8

Parts = tuple[EquityCurve, CityMetricsReport, HealthReport, PublicTradePage]


async def read_summary_parts(analytics: Analytics, days: int) -> Parts:
    """The four analytics results the overview is made of, read concurrently (each cached)."""
    equity, cities, health, feed = await asyncio.gather(
        analytics.equity_curve(days=MAX_DAYS, max_points=SPARKLINE_POINTS),
        analytics.city_metrics(days=days),
        analytics.health(),
        analytics.public_trades(limit=LATEST_TRADES),
    )
    return equity, cities, health, feed


def build_summary(parts: Parts) -> dict[str, Any]:
    """The ``/api/v1/summary`` document (see ``SummaryOut``): money in cents."""
    equity, cities, health, feed = parts
    rows = cities.cities
    wins = sum(c.wins for c in rows)
    losses = sum(c.losses for c in rows)
    summary = equity.summary
    return {
        "as_of": cities.as_of.isoformat(),
        "window": cities.window.to_dict(),
        "equity_cents": summary.end_equity_cents,
        "starting_bankroll_cents": equity.starting_bankroll_cents,
        "total_pnl_cents": summary.end_equity_cents - equity.starting_bankroll_cents,
        "total_return_pct": _return_pct(summary.end_equity_cents, equity.starting_bankroll_cents),
        "max_drawdown_pct": summary.max_drawdown_pct,
        "net_pnl_cents": sum(c.net_pnl_cents for c in rows),
        "trades": sum(c.trades for c in rows),
        "wins": wins,
        "losses": losses,
        "win_rate": wins / (wins + losses) if wins + losses else None,
        "open_exposure_cents": sum(c.open_exposure_cents for c in rows),
        "health": health.status,
        "sparkline": [
            {"date": p.date.isoformat(), "equity_cents": p.equity_cents} for p in equity.points
        ],
        "cities": [c.to_dict() for c in rows],
        "latest_trades": [t.to_dict() for t in feed.trades],
        "delay_minutes": feed.delay_minutes,
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

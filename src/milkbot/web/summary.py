"""Documents composed from several analytics results: the overview in one call (equity, the
window's P&L, win rate and drawdown, health, a sparkline, the cities and the latest public
trades) and the calibration chart's bins with their Brier score.

Every figure of the summary belongs to one of two spans, and the document says which: the
requested ``window`` (the last N settlement days), or ``all_time_window`` (the first settlement
day with a trade to today) for equity, total P&L and return, the all-time drawdown and the
sparkline.

Each document is a frozen dataclass, the one definition of its shape: the API's response model
(:mod:`milkbot.web.schemas`) and the load test's checks derive from it, and the page and the
API serve its ``to_dict()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from milkbot.analytics.results import (
    AccountRef,
    CalibrationBin,
    CityMetrics,
    CityMetricsReport,
    EquityCurve,
    HealthReport,
    PublicTrade,
    PublicTradePage,
    Result,
    StrategyMetricsReport,
)
from milkbot.analytics.window import MAX_DAYS, Window
from milkbot.money import parse_dollars, to_dollars
from milkbot.vocabulary import HealthStatus

if TYPE_CHECKING:  # the service loads the pool; the load test imports this module's shapes
    from milkbot.analytics.service import Analytics

SPARKLINE_POINTS = 120
LATEST_TRADES = 8
# A calibration bin with fewer settled signals than this is drawn hollow and grey and flagged
# ``small``: its observed frequency is mostly noise (one signal more or less moves it by
# several points). The API and the strategies page both read it from here.
MIN_BIN_SIGNALS = 30

# The two spans a summary figure can cover; every figure's description names one of them.
_W = "Over window: "
_ALL = "Over all_time_window: "


@dataclass(frozen=True, slots=True)
class SparkPoint(Result):
    """Equity at the close of a settlement day."""

    date: date
    equity_dollars: Annotated[
        Decimal, Field(description="Exact dollars, a decimal string in JSON.")
    ]


@dataclass(frozen=True, slots=True)
class Summary(Result):
    """``GET /api/v1/summary``: everything the overview page shows, in one call. Each figure
    covers either ``window`` (the requested last N days) or ``all_time_window`` (since the
    first settlement day with a trade), as its description says."""

    as_of: datetime
    account: Annotated[AccountRef, Field(description="The account every figure describes.")]
    window: Annotated[
        Window, Field(description="The requested settlement days (days=N, default 30).")
    ]
    all_time_window: Annotated[
        Window | None,
        Field(description="The first settlement day with a trade to today; null before any trade."),
    ]
    equity_dollars: Annotated[
        Decimal,
        Field(description=_ALL + "equity now: bankroll plus transfers plus all realised net P&L."),
    ]
    starting_bankroll_dollars: Annotated[
        Decimal, Field(description="The account's bankroll before its first trade.")
    ]
    total_pnl_dollars: Annotated[
        Decimal, Field(description=_ALL + "realised net P&L since the first trade.")
    ]
    total_return_pct: Annotated[
        float | None, Field(description=_ALL + "total_pnl as % of the bankroll.")
    ]
    all_time_max_drawdown_pct: Annotated[
        float | None,
        Field(description=_ALL + "largest fall of equity from its high-water mark, % of the mark."),
    ]
    max_drawdown_pct: Annotated[
        float | None,
        Field(
            description=_W + "largest fall of equity from its high-water mark (which starts at "
            "the equity before the window), % of the mark."
        ),
    ]
    max_drawdown_dollars: Annotated[Decimal, Field(description=_W + "the same fall in dollars.")]
    net_pnl_dollars: Annotated[
        Decimal, Field(description=_W + "net P&L of the trades settling in it.")
    ]
    trades: Annotated[int, Field(description=_W + "trades whose market settles in it.")]
    wins: Annotated[int, Field(description=_W + "realised trades that made money.")]
    losses: Annotated[int, Field(description=_W + "realised trades that lost money.")]
    win_rate: Annotated[float | None, Field(description=_W + "wins / (wins + losses).")]
    open_exposure_dollars: Annotated[
        Decimal, Field(description=_W + "cost of contracts still held in its unsettled markets.")
    ]
    health: Annotated[HealthStatus, Field(description="Now: the worst component's status.")]
    sparkline: Annotated[list[SparkPoint], Field(description=_ALL + "equity per day, thinned.")]
    cities: Annotated[list[CityMetrics], Field(description=_W + "one row per city.")]
    latest_trades: Annotated[
        list[PublicTrade], Field(description="Now: the account's newest public trades.")
    ]
    delay_minutes: int


@dataclass(frozen=True, slots=True)
class FlaggedBin(CalibrationBin):
    """Signals whose model probability fell in ``[lower, upper)`` on settled markets."""

    small: Annotated[
        bool,
        Field(
            description="n is below min_signals: too few signals for observed_freq to mean much."
        ),
    ]


@dataclass(frozen=True, slots=True)
class Calibration(Result):
    """``GET /api/v1/calibration``: predicted probability against observed frequency."""

    window: Window
    strategy: str | None
    brier_score: Annotated[
        float | None,
        Field(
            description="Mean squared error of the probabilities (the strategy's, or all signals')."
        ),
    ]
    settled_signals: int
    min_signals: Annotated[
        int,
        Field(description="Signals a bin needs to be judged; bins with fewer are flagged small."),
    ]
    bins: list[FlaggedBin]


@dataclass(frozen=True, slots=True)
class SummaryParts:
    """The analytics results the overview is made of (each cached on its own)."""

    all_time: EquityCurve
    window_equity: EquityCurve
    cities: CityMetricsReport
    health: HealthReport  # as the reader may see it (the public's: see public_health)
    feed: PublicTradePage
    health_source: HealthReport  # the service's report it was made from

    def sources(self) -> tuple[object, ...]:
        """The results themselves: the response cache keys the encoded document by them."""
        return (self.all_time, self.window_equity, self.cities, self.health_source, self.feed)


async def read_summary_parts(
    analytics: Analytics, days: int, account: str | None = None, *, operator: bool = False
) -> SummaryParts:
    """The results behind ``account``'s overview (default: the primary account) of the last
    ``days`` settlement days, read concurrently:
    the all-time equity curve (thinned for the sparkline; its summary covers every day), the
    window's equity curve (for the window's drawdown), the window's cities, health and the
    latest public trades. Health is the public's (:func:`public_health`) unless ``operator``."""
    window = Window.last(days)
    # The feed's None means every account; every other part's, the primary one.
    account = analytics.account_name(account)
    all_time, window_equity, cities, health, feed = await asyncio.gather(
        analytics.equity_curve(days=MAX_DAYS, max_points=SPARKLINE_POINTS, account=account),
        # Two points are enough: only the summary (computed on every day) is used.
        analytics.equity_curve(
            from_date=window.start, to_date=window.end, max_points=2, account=account
        ),
        analytics.city_metrics(from_date=window.start, to_date=window.end, account=account),
        analytics.health(account=account),
        analytics.public_trades(limit=LATEST_TRADES, account=account),
    )
    # Here, not at the top: the load tests import this module's shapes without the database.
    from milkbot.analytics.health import public_health

    shown = health if operator else public_health(health)
    return SummaryParts(all_time, window_equity, cities, shown, feed, health)


def build_summary(parts: SummaryParts) -> Summary:
    """The ``/api/v1/summary`` document: money in exact dollars, each figure over ``window``
    or ``all_time_window`` as its description says."""
    all_time, rows = parts.all_time, parts.cities.cities
    wins = sum(c.wins for c in rows)
    losses = sum(c.losses for c in rows)
    ever = all_time.summary
    in_window = parts.window_equity.summary
    start = all_time.points[0].date if all_time.points else None
    return Summary(
        as_of=parts.cities.as_of,
        account=parts.cities.account,
        window=parts.cities.window,
        all_time_window=Window(start, all_time.window.end) if start else None,
        equity_dollars=ever.end_equity_dollars,
        starting_bankroll_dollars=all_time.starting_bankroll_dollars,
        total_pnl_dollars=ever.total_pnl_dollars,
        total_return_pct=ever.total_return_pct,
        all_time_max_drawdown_pct=ever.max_drawdown_pct,
        max_drawdown_pct=in_window.max_drawdown_pct,
        max_drawdown_dollars=in_window.max_drawdown_dollars,
        net_pnl_dollars=sum_dollars(c.net_pnl_dollars for c in rows),
        trades=sum(c.trades for c in rows),
        wins=wins,
        losses=losses,
        win_rate=wins / (wins + losses) if wins + losses else None,
        open_exposure_dollars=sum_dollars(c.open_exposure_dollars for c in rows),
        health=parts.health.status,
        sparkline=[SparkPoint(p.date, p.equity_dollars) for p in all_time.points],
        cities=rows,
        latest_trades=parts.feed.trades,
        delay_minutes=parts.feed.delay_minutes,
    )


def sum_dollars(amounts: Iterable[Decimal]) -> Decimal:
    """The exact sum of dollar amounts, written as every amount is (cents always, sub-cent
    digits only where the sum has them: "4.00", not the "4.0000" of "1.0012" + "2.9988")."""
    return to_dollars(sum(parse_dollars(a) for a in amounts))


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
) -> Calibration:
    """The ``/api/v1/calibration`` document: the bins with their signal counts, each flagged
    ``small`` below ``min_signals`` (MIN_BIN_SIGNALS), and the Brier score of ``strategy`` (or
    of every signal) over the window."""
    brier, settled = combined_brier(report, strategy)
    flagged = [FlaggedBin(**asdict(b), small=b.n < MIN_BIN_SIGNALS) for b in bins]
    return Calibration(window, strategy, brier, settled, MIN_BIN_SIGNALS, flagged)

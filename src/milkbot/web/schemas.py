"""The JSON the API returns, as pydantic models: they document the contract in OpenAPI.

Routes return pre-encoded bytes (the analytics results' ``to_dict()`` through orjson), so these
models never run on the hot path; a test validates real responses against them with
``extra="forbid"``, so the documentation cannot drift from what is served. Money is integer
cents, ratios 0..1 unless the name ends in ``_pct``, dates ISO ``YYYY-MM-DD`` settlement days,
times ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["healthy", "degraded", "unhealthy"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowOut(_Out):
    """Settlement days ``start``..``end`` (both included)."""

    start: date
    end: date
    days: int


class CityMetricsOut(_Out):
    """One city over the window (see the analytics' CityMetrics)."""

    city: str = Field(description="City code, e.g. NYC.")
    trades: int
    contracts: int
    realized_trades: int
    gross_pnl_cents: int
    fees_cents: int
    net_pnl_cents: int
    wins: int
    losses: int
    win_rate: float | None
    avg_net_pnl_cents: float | None
    realized_cost_cents: int
    roi: float | None
    open_exposure_cents: int


class CityMetricsReportOut(_Out):
    """``GET /api/v1/metrics/cities``."""

    as_of: datetime
    window: WindowOut
    strategy: str | None
    cities: list[CityMetricsOut]


class StrategyMetricsOut(_Out):
    """One strategy over the window (see the analytics' StrategyMetrics)."""

    strategy: str
    signals: int
    trades: int
    realized_trades: int
    net_pnl_cents: int
    wins: int
    losses: int
    win_rate: float | None
    avg_edge: float | None
    realized_edge: float | None
    profit_factor: float | None
    expectancy_cents: float | None
    max_drawdown_cents: int
    sharpe: float | None
    brier_score: float | None
    settled_signals: int


class StrategyMetricsReportOut(_Out):
    """``GET /api/v1/metrics/strategies``."""

    as_of: datetime
    window: WindowOut
    strategies: list[StrategyMetricsOut]


class EquityPointOut(_Out):
    """Equity at the close of one settlement day and its drawdown from the high-water mark."""

    date: date
    equity_cents: int
    daily_pnl_cents: int
    high_water_cents: int
    drawdown_cents: int
    drawdown_pct: float | None


class DayPnlOut(_Out):
    """One settlement day's net P&L."""

    date: date
    pnl_cents: int


class EquitySummaryOut(_Out):
    """Summary over every day of the window (never thinned by ``max_points``)."""

    start_equity_cents: int
    end_equity_cents: int
    total_pnl_cents: int
    total_return_pct: float | None
    max_drawdown_cents: int
    max_drawdown_pct: float | None
    peak_date: date | None
    trough_date: date | None
    sharpe: float | None
    sortino: float | None
    best_day: DayPnlOut | None
    worst_day: DayPnlOut | None
    days: int


class EquityCurveOut(_Out):
    """``GET /api/v1/equity``."""

    as_of: datetime
    window: WindowOut
    starting_bankroll_cents: int
    points: list[EquityPointOut]
    summary: EquitySummaryOut


class PublicTradeOut(_Out):
    """A trade as the public sees it: time rounded down to the minute, no ids or strategy."""

    time: datetime
    city: str
    ticker: str
    side: Literal["yes", "no"]
    action: Literal["buy", "sell"]
    quantity: int
    price_cents: int


class PublicTradePageOut(_Out):
    """``GET /api/v1/trades/public``: newest first; pass ``next_cursor`` for the next page."""

    delay_minutes: int
    trades: list[PublicTradeOut]
    next_cursor: str | None


class ComponentStatusOut(_Out):
    """One component: status, age of its latest sign of life in seconds, and why."""

    name: str
    status: Status
    age_seconds: float | None
    message: str


class HealthReportOut(_Out):
    """``GET /api/v1/health``: the overall status is the worst component's."""

    status: Status
    checked_at: datetime
    components: list[ComponentStatusOut]


class LoadBalancerHealthOut(_Out):
    """``GET /health``: 200 when healthy or degraded, 503 when unhealthy."""

    status: Status
    components: dict[str, Status]


class PingOut(_Out):
    """``GET /api/v1/ping``: always ``{"status": "ok"}`` while the web process runs."""

    status: Literal["ok"]


class CalibrationBinOut(_Out):
    """Signals whose model probability fell in ``[lower, upper)`` on settled markets."""

    bucket: int
    lower: float
    upper: float
    n: int = Field(description="Settled signals in the bin.")
    mean_prob: float | None
    observed_freq: float | None
    small: bool = Field(
        description="n is below min_signals: too few signals for observed_freq to mean much."
    )


class CalibrationOut(_Out):
    """``GET /api/v1/calibration``: predicted probability against observed frequency."""

    window: WindowOut
    strategy: str | None
    brier_score: float | None = Field(
        description="Mean squared error of the probabilities (the strategy's, or all signals')."
    )
    settled_signals: int
    min_signals: int = Field(
        description="Signals a bin needs to be judged; bins with fewer are flagged small."
    )
    bins: list[CalibrationBinOut]


class SparkPointOut(_Out):
    """Equity at the close of a settlement day."""

    date: date
    equity_cents: int


# The two spans a summary figure can cover; every figure's description names one of them.
_W = "Over window: "
_ALL = "Over all_time_window: "


class SummaryOut(_Out):
    """``GET /api/v1/summary``: everything the overview page shows, in one call. Each figure
    covers either ``window`` (the requested last N days) or ``all_time_window`` (since the
    first settlement day with a trade), as its description says."""

    as_of: datetime
    window: WindowOut = Field(description="The requested settlement days (days=N, default 30).")
    all_time_window: WindowOut | None = Field(
        description="The first settlement day with a trade to today; null before any trade."
    )
    equity_cents: int = Field(description=_ALL + "equity now: bankroll plus all realised net P&L.")
    starting_bankroll_cents: int = Field(description="The bankroll before the first trade.")
    total_pnl_cents: int = Field(description=_ALL + "realised net P&L since the first trade.")
    total_return_pct: float | None = Field(description=_ALL + "total_pnl as % of the bankroll.")
    all_time_max_drawdown_pct: float | None = Field(
        description=_ALL + "largest fall of equity from its high-water mark, % of the mark."
    )
    max_drawdown_pct: float | None = Field(
        description=_W + "largest fall of equity from its high-water mark (which starts at the "
        "equity before the window), % of the mark."
    )
    max_drawdown_cents: int = Field(description=_W + "the same fall in cents.")
    net_pnl_cents: int = Field(description=_W + "net P&L of the trades settling in it.")
    trades: int = Field(description=_W + "trades whose market settles in it.")
    wins: int = Field(description=_W + "realised trades that made money.")
    losses: int = Field(description=_W + "realised trades that lost money.")
    win_rate: float | None = Field(description=_W + "wins / (wins + losses).")
    open_exposure_cents: int = Field(
        description=_W + "cost of contracts still held in its unsettled markets."
    )
    health: Status = Field(description="Now: the worst component's status.")
    sparkline: list[SparkPointOut] = Field(description=_ALL + "equity per day, thinned.")
    cities: list[CityMetricsOut] = Field(description=_W + "one row per city.")
    latest_trades: list[PublicTradeOut] = Field(description="Now: the newest public trades.")
    delay_minutes: int

"""What the analytics queries return: frozen dataclasses, JSON-ready through ``to_dict()``.

Money is integer cents; ratios are floats (0..1 unless the name ends in ``_pct``, which is a
percentage) and ``None`` when undefined (no settled trades, no losses, fewer than two days...),
never NaN or infinity. Dates are settlement days; times are UTC.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field

from milkbot.analytics.window import Window
from milkbot.vocabulary import Action, HealthStatus, Side


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Window):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class Result:
    """Mixin for a frozen dataclass: ``to_dict()`` turns it into JSON types (ISO strings for
    dates). Field descriptions (``Annotated[int, Field(description=...)]``) document the field
    in the API's response models, which :mod:`milkbot.web.schemas` derives from these types."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This result as a dict of JSON types (str, int, float, None, list, dict)."""
        plain = _plain(self)
        assert isinstance(plain, dict)
        return plain


@dataclass(frozen=True, slots=True)
class CityMetrics(Result):
    """One city over a window. Counts cover every trade whose market settles in the window;
    gross/fees/net, wins/losses and ROI cover realised trades (sells, and buys whose market has
    settled); open exposure is the cost of contracts still held in unsettled markets."""

    city: Annotated[str, Field(description="City code, e.g. NYC.")]
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


@dataclass(frozen=True, slots=True)
class CityMetricsReport(Result):
    """City metrics for a window (optionally one strategy's trades only)."""

    as_of: datetime
    window: Window
    strategy: str | None
    cities: list[CityMetrics]


@dataclass(frozen=True, slots=True)
class EquityPoint(Result):
    """Equity at the close of one settlement day (cents) and its drawdown from the window's
    high-water mark (cents, and percent of the high-water mark)."""

    date: date
    equity_cents: int
    daily_pnl_cents: int
    high_water_cents: int
    drawdown_cents: int
    drawdown_pct: float | None


@dataclass(frozen=True, slots=True)
class DayPnl(Result):
    """One settlement day's net P&L in cents."""

    date: date
    pnl_cents: int


@dataclass(frozen=True, slots=True)
class EquitySummary(Result):
    """Summary of an equity curve; see :func:`milkbot.analytics.equity.summarise`."""

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
    best_day: DayPnl | None
    worst_day: DayPnl | None
    days: int


@dataclass(frozen=True, slots=True)
class EquityCurve(Result):
    """Equity per settlement day over a window (possibly downsampled) and its summary (always
    computed on every day)."""

    as_of: datetime
    window: Window
    starting_bankroll_cents: int
    points: list[EquityPoint]
    summary: EquitySummary


@dataclass(frozen=True, slots=True)
class PublicTrade(Result):
    """A trade as the public sees it: no ids, no strategy, time rounded down to the minute."""

    time: datetime
    city: str
    ticker: str
    side: Side
    action: Action
    quantity: int
    price_cents: int


@dataclass(frozen=True, slots=True)
class PublicTradePage(Result):
    """One page of the public feed, newest first; ``next_cursor`` fetches the next (older)
    page, ``None`` on the last one."""

    delay_minutes: int
    trades: list[PublicTrade]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ComponentStatus(Result):
    """Health of one component: status, age of its latest sign of life (s) and why."""

    name: str
    status: HealthStatus
    age_seconds: float | None
    message: str


@dataclass(frozen=True, slots=True)
class HealthReport(Result):
    """Every component's health and the overall status (the worst of them)."""

    status: HealthStatus
    checked_at: datetime
    components: list[ComponentStatus]


@dataclass(frozen=True, slots=True)
class StrategyMetrics(Result):
    """One strategy over a window; see :func:`milkbot.analytics.queries.read_strategy_metrics`
    for the definitions."""

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


@dataclass(frozen=True, slots=True)
class StrategyMetricsReport(Result):
    """Strategy metrics for a window, one entry per known strategy."""

    as_of: datetime
    window: Window
    strategies: list[StrategyMetrics]


@dataclass(frozen=True, slots=True)
class CalibrationBin(Result):
    """Signals on settled markets whose model probability fell in ``[bucket/10, (bucket+1)/10)``
    (bucket 9 includes 1.0): how many, their mean probability and how often YES happened."""

    bucket: int
    lower: float
    upper: float
    n: Annotated[int, Field(description="Settled signals in the bin.")]
    mean_prob: float | None
    observed_freq: float | None

"""What the analytics queries return: frozen dataclasses, JSON-ready through ``to_dict()``.

Money is exact: ``Decimal`` dollars in fields named ``*_dollars`` (``milkbot.money.to_dollars``
of the integer micros the SQL sums: cents always, sub-cent digits only where they exist), sent
in JSON as strings ("12.34", "0.0012"). Contract counts are ``Decimal`` with two decimals in
fields named ``contracts`` (strings in JSON too, "10.00"). An average of money (per trade) is
rounded half-even to the micro, $0.000001. Ratios are floats (0..1 unless the name ends in
``_pct``, which is a percentage) and ``None`` when undefined (no settled trades, no losses, fewer
than two days...), never NaN or infinity. Dates are settlement days; times are UTC. Every report
names the account it describes (:class:`AccountRef`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from milkbot.analytics.window import Window
from milkbot.vocabulary import Action, HealthStatus, Side

Dollars = Annotated[Decimal, Field(description="Exact dollars, a decimal string in JSON.")]
Contracts = Annotated[
    Decimal, Field(description="Contracts, a decimal string with two decimals in JSON.")
]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
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
    dates, decimal strings for ``Decimal``). Field descriptions (``Annotated[int,
    Field(description=...)]``) document the field in the API's response models, which
    :mod:`milkbot.web.schemas` derives from these types."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This result as a dict of JSON types (str, int, float, None, list, dict)."""
        plain = _plain(self)
        assert isinstance(plain, dict)
        return plain


@dataclass(frozen=True, slots=True)
class AccountRef(Result):
    """The account a report describes, as pages show it beside its figures."""

    name: Annotated[str, Field(description="The account's name, e.g. default (URL parameter).")]
    display_name: str
    mode: Annotated[str, Field(description="live, demo, shadow or replay.")]


@dataclass(frozen=True, slots=True)
class AccountSummary(Result):
    """A public account: who it is, where its orders go, its bankroll and its strategies."""

    name: str
    display_name: str
    mode: Annotated[str, Field(description="live, demo, shadow or replay.")]
    environment: Annotated[str, Field(description="production, demo or simulated.")]
    starting_bankroll_dollars: Dollars
    strategies: Annotated[list[str], Field(description="Names of the strategies it runs.")]
    description: str
    primary: Annotated[
        bool, Field(description="The configured primary account (the default of every query).")
    ]


@dataclass(frozen=True, slots=True)
class CityMetrics(Result):
    """One city over a window. Counts cover every trade whose market settles in the window;
    gross/fees/net, wins/losses and ROI cover realised trades (sells, and buys whose market has
    settled); open exposure is the cost of contracts still held in unsettled markets."""

    city: Annotated[str, Field(description="City code, e.g. NYC.")]
    trades: int
    contracts: Contracts
    realized_trades: int
    gross_pnl_dollars: Dollars
    fees_dollars: Dollars
    net_pnl_dollars: Dollars
    wins: int
    losses: int
    win_rate: float | None
    avg_net_pnl_dollars: Annotated[
        Decimal | None, Field(description="Net P&L per realised trade, to the micro.")
    ]
    realized_cost_dollars: Dollars
    roi: float | None
    open_exposure_dollars: Dollars


@dataclass(frozen=True, slots=True)
class CityMetricsReport(Result):
    """City metrics of one account for a window (optionally one strategy's trades only)."""

    as_of: datetime
    account: AccountRef
    window: Window
    strategy: str | None
    cities: list[CityMetrics]


@dataclass(frozen=True, slots=True)
class EquityPoint(Result):
    """Equity at the close of one settlement day and its drawdown from the window's
    high-water mark (dollars, and percent of the high-water mark)."""

    date: date
    equity_dollars: Dollars
    daily_pnl_dollars: Dollars
    high_water_dollars: Dollars
    drawdown_dollars: Dollars
    drawdown_pct: float | None


@dataclass(frozen=True, slots=True)
class DayPnl(Result):
    """One settlement day's net P&L."""

    date: date
    pnl_dollars: Dollars


@dataclass(frozen=True, slots=True)
class EquitySummary(Result):
    """Summary of an equity curve; see :func:`milkbot.analytics.equity.summarise`."""

    start_equity_dollars: Dollars
    end_equity_dollars: Dollars
    total_pnl_dollars: Dollars
    total_return_pct: float | None
    max_drawdown_dollars: Dollars
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
    """One account's equity per settlement day over a window (possibly downsampled) and its
    summary (always computed on every day). Equity is the starting bankroll, plus transfers
    up to the day, plus the cumulative net realised P&L."""

    as_of: datetime
    account: AccountRef
    window: Window
    starting_bankroll_dollars: Dollars
    transfers_dollars: Annotated[
        Decimal, Field(description="Deposits less withdrawals up to the window's end.")
    ]
    points: list[EquityPoint]
    summary: EquitySummary


@dataclass(frozen=True, slots=True)
class PublicTrade(Result):
    """A trade as the public sees it: no ids, no strategy, time rounded down to the minute."""

    time: datetime
    account: Annotated[str, Field(description="The name of the (public) account that traded.")]
    city: str
    ticker: str
    side: Side
    action: Action
    contracts: Contracts
    price_dollars: Dollars


@dataclass(frozen=True, slots=True)
class PublicTradePage(Result):
    """One page of the public feed (every public account's trades, or one account's), newest
    first; ``next_cursor`` fetches the next (older) page, ``None`` on the last one."""

    delay_minutes: int
    account: Annotated[
        AccountRef | None, Field(description="The account asked for; null for every account.")
    ]
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
    """One account's components' health (the database's, its trader's and market data's
    heartbeats, the pre-aggregates' freshness) and the overall status (the worst of them).
    ``account`` is null only when the database could not be asked."""

    status: HealthStatus
    checked_at: datetime
    account: AccountRef | None
    components: list[ComponentStatus]


@dataclass(frozen=True, slots=True)
class StrategyMetrics(Result):
    """One strategy of an account over a window; see
    :func:`milkbot.analytics.queries.read_strategy_metrics` for the definitions."""

    strategy: str
    signals: int
    trades: int
    realized_trades: int
    net_pnl_dollars: Dollars
    wins: int
    losses: int
    win_rate: float | None
    avg_edge: float | None
    realized_edge: float | None
    profit_factor: float | None
    expectancy_dollars: Annotated[
        Decimal | None, Field(description="Net P&L per realised trade, to the micro.")
    ]
    max_drawdown_dollars: Dollars
    sharpe: float | None
    brier_score: float | None
    settled_signals: int


@dataclass(frozen=True, slots=True)
class StrategyMetricsReport(Result):
    """Strategy metrics of one account for a window, one entry per known strategy."""

    as_of: datetime
    account: AccountRef
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


@dataclass(frozen=True, slots=True)
class AccountComparison(Result):
    """One account in the comparison over a window. Equity and open risk are at the window's
    end; the ratios and drawdown are those of its equity curve over the window."""

    account: AccountRef
    environment: str
    starting_bankroll_dollars: Dollars
    equity_dollars: Annotated[
        Decimal,
        Field(description="Starting bankroll + transfers + net realised P&L, at the window's end."),
    ]
    net_pnl_dollars: Annotated[Decimal, Field(description="Net realised P&L over the window.")]
    return_on_bankroll: Annotated[
        float, Field(description="net_pnl over the window / starting bankroll.")
    ]
    max_drawdown_pct: Annotated[
        float | None, Field(description="Largest fall of equity from its high-water mark, % of it.")
    ]
    max_drawdown_dollars: Dollars
    sharpe: float | None
    sortino: float | None
    win_rate: float | None
    fees_dollars: Annotated[
        Decimal, Field(description="Fees of the trades realised in the window.")
    ]
    trades: Annotated[int, Field(description="Trades whose market settles in the window.")]
    open_risk_dollars: Annotated[
        Decimal, Field(description="Cost of the contracts it holds in unsettled markets, now.")
    ]
    curve: Annotated[
        list[float | None],
        Field(
            description="Equity at the close of each of the report's curve_days divided by the "
            "starting bankroll (1.0 = the bankroll); null on the days before the account's first "
            "settlement day."
        ),
    ]

    def to_dict(self) -> dict[str, Any]:
        """This row as JSON types (the generic conversion, spelled out: the comparison
        converts hundreds of rows per call)."""
        ref = self.account
        return {
            "account": {"name": ref.name, "display_name": ref.display_name, "mode": ref.mode},
            "environment": self.environment,
            "starting_bankroll_dollars": str(self.starting_bankroll_dollars),
            "equity_dollars": str(self.equity_dollars),
            "net_pnl_dollars": str(self.net_pnl_dollars),
            "return_on_bankroll": self.return_on_bankroll,
            "max_drawdown_pct": self.max_drawdown_pct,
            "max_drawdown_dollars": str(self.max_drawdown_dollars),
            "sharpe": self.sharpe,
            "sortino": self.sortino,
            "win_rate": self.win_rate,
            "fees_dollars": str(self.fees_dollars),
            "trades": self.trades,
            "open_risk_dollars": str(self.open_risk_dollars),
            "curve": list(self.curve),
        }


@dataclass(frozen=True, slots=True)
class ComparisonReport(Result):
    """Every public account (or those of one mode) side by side over a window, sorted. Totals
    are given only for what adds up across accounts - fees and trades - never equity."""

    as_of: datetime
    window: Window
    mode: Annotated[str | None, Field(description="The mode compared; null for every mode.")]
    sort: Annotated[str, Field(description="The field the accounts are sorted by.")]
    descending: bool
    curve_days: Annotated[
        list[date],
        Field(
            description="The settlement days of every account's curve: the window's days, "
            "evenly thinned (the first and last kept) when there are more than the curves' "
            "points."
        ),
    ]
    accounts: list[AccountComparison]
    total_fees_dollars: Dollars
    total_trades: int

    def to_dict(self) -> dict[str, Any]:
        """This report as JSON types, row by row through :meth:`AccountComparison.to_dict`."""
        return {
            "as_of": self.as_of.isoformat(),
            "window": self.window.to_dict(),
            "mode": self.mode,
            "sort": self.sort,
            "descending": self.descending,
            "curve_days": [d.isoformat() for d in self.curve_days],
            "accounts": [row.to_dict() for row in self.accounts],
            "total_fees_dollars": str(self.total_fees_dollars),
            "total_trades": self.total_trades,
        }

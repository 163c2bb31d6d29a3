"""City metrics, equity curve, strategy metrics and calibration: SQL over the pre-aggregates.

Every query reads only pre-aggregates kept exact by triggers - ``analytics.pnl_daily``,
``pnl_by_day`` and ``signal_daily`` (migration 0002) and their roll-ups ``pnl_city_day``,
``pnl_strategy_day`` and ``signal_strategy_day`` (migration 0003) - plus the small reference
tables, through their primary keys or indexes, so its cost grows with the window's days, not
with the number of trades. Money is integer cents.

Accounting (the write path's, see ``milkbot.store.writes``): a trade is *realised* once its
P&L is known - a sell at once, a buy when its market settles. Trade and contract counts cover
every trade whose market settles in the window; gross P&L, fees, net P&L (gross - fees), wins
(net > 0) and losses (net < 0) cover realised trades; open exposure is price x open contracts
of buys whose market has not settled.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Final

from psycopg import AsyncConnection

from milkbot.analytics.equity import build_points, downsample, max_drawdown_cents, sharpe_ratio
from milkbot.analytics.equity import summarise as summarise_equity
from milkbot.analytics.results import (
    CalibrationBin,
    CityMetrics,
    CityMetricsReport,
    EquityCurve,
    StrategyMetrics,
    StrategyMetricsReport,
)
from milkbot.analytics.window import AnalyticsInputError, Window

MAX_POINTS_LIMIT = 10_000

STRATEGY_ID_SQL: Final = "SELECT id FROM ops.strategies WHERE name = %s"
STRATEGY_NAMES_SQL: Final = "SELECT name FROM ops.strategies ORDER BY name"

# Sum the window's rows first, then attach every known city (one without trades gets zeros).
# All strategies: the per-day-and-city roll-up (migration 0003); one strategy: pnl_daily.
_CITY_TOTALS = """
SELECT c.code,
       coalesce(a.trades, 0), coalesce(a.contracts, 0), coalesce(a.realized_trades, 0),
       coalesce(a.gross, 0), coalesce(a.fees, 0), coalesce(a.net, 0), coalesce(a.wins, 0),
       coalesce(a.losses, 0), coalesce(a.realized_cost, 0), coalesce(a.open_exposure, 0)
FROM ops.cities c
LEFT JOIN (
    SELECT p.city_code,
           sum(p.trades)::bigint AS trades,
           sum(p.contracts)::bigint AS contracts,
           sum(p.realized_trades)::bigint AS realized_trades,
           sum(p.gross_pnl_cents)::bigint AS gross,
           sum(p.fees_cents)::bigint AS fees,
           sum(p.net_pnl_cents)::bigint AS net,
           sum(p.wins)::bigint AS wins,
           sum(p.losses)::bigint AS losses,
           sum(p.realized_cost_cents)::bigint AS realized_cost,
           sum(p.open_exposure_cents)::bigint AS open_exposure
    FROM {source} p
    WHERE p.event_date BETWEEN %(start)s AND %(end)s{strategy}
    GROUP BY p.city_code
) a ON a.city_code = c.code
ORDER BY c.code
"""

CITY_METRICS_SQL: Final = _CITY_TOTALS.replace("{source}", "analytics.pnl_city_day").replace(
    "{strategy}", ""
)
CITY_METRICS_BY_STRATEGY_SQL: Final = _CITY_TOTALS.replace(
    "{source}", "analytics.pnl_daily"
).replace("{strategy}", " AND p.strategy_id = %(strategy_id)s")

# The first settlement day with any trade and the cumulative net P&L of the days before the
# window (repeated on every row), then each day of the window that has a row (at least one
# row, with NULLs, when none has); the days between are filled with 0 P&L in Python.
EQUITY_SQL: Final = """
SELECT m.first_day, m.before, p.event_date, p.net_pnl_cents
FROM (
    SELECT (SELECT min(event_date) FROM analytics.pnl_by_day) AS first_day,
           (SELECT coalesce(sum(net_pnl_cents), 0)::bigint
            FROM analytics.pnl_by_day WHERE event_date < %(start)s) AS before
) m
LEFT JOIN analytics.pnl_by_day p ON p.event_date BETWEEN %(start)s AND %(end)s
ORDER BY p.event_date
"""

# Per strategy: its first settlement day ever, its signals in the window, the window's totals
# and its net P&L per day (days without rows are filled with 0 in Python), from the
# per-day-and-strategy roll-ups of migration 0003 (30 rows per strategy for 30 days).
STRATEGY_METRICS_SQL: Final = """
SELECT s.name,
       (SELECT min(f.event_date) FROM analytics.pnl_strategy_day f WHERE f.strategy_id = s.id),
       sig.signals, sig.settled_n, sig.sq_err_sum,
       agg.trades, agg.realized_trades, agg.net, agg.wins, agg.losses,
       agg.gross_profit, agg.gross_loss, agg.edge_sum, agg.edge_n,
       agg.settled_edge, agg.settled_edge_n, agg.days, agg.nets
FROM ops.strategies s
CROSS JOIN LATERAL (
    SELECT coalesce(sum(g.signals), 0)::bigint AS signals,
           coalesce(sum(g.settled_n), 0)::bigint AS settled_n,
           coalesce(sum(g.sq_err_sum), 0)::float8 AS sq_err_sum
    FROM analytics.signal_strategy_day g
    WHERE g.strategy_id = s.id AND g.event_date BETWEEN %(start)s AND %(end)s
) sig
CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.trades), 0)::bigint AS trades,
           coalesce(sum(p.realized_trades), 0)::bigint AS realized_trades,
           coalesce(sum(p.net_pnl_cents), 0)::bigint AS net,
           coalesce(sum(p.wins), 0)::bigint AS wins,
           coalesce(sum(p.losses), 0)::bigint AS losses,
           coalesce(sum(p.gross_profit_cents), 0)::bigint AS gross_profit,
           coalesce(sum(p.gross_loss_cents), 0)::bigint AS gross_loss,
           coalesce(sum(p.edge_sum), 0)::float8 AS edge_sum,
           coalesce(sum(p.edge_n), 0)::bigint AS edge_n,
           coalesce(sum(p.settled_edge_cents), 0)::bigint AS settled_edge,
           coalesce(sum(p.settled_edge_n), 0)::bigint AS settled_edge_n,
           coalesce(array_agg(p.event_date ORDER BY p.event_date), '{}') AS days,
           coalesce(array_agg(p.net_pnl_cents ORDER BY p.event_date), '{}') AS nets
    FROM analytics.pnl_strategy_day p
    WHERE p.strategy_id = s.id AND p.event_date BETWEEN %(start)s AND %(end)s
) agg
ORDER BY s.name
"""

_CALIBRATION_COLUMNS = """
SELECT b.bucket,
       coalesce(sum(g.settled_n), 0)::bigint,
       coalesce(sum(g.prob_sum), 0)::float8,
       coalesce(sum(g.outcome_sum), 0)::bigint
FROM generate_series(0, 9) AS b(bucket)
LEFT JOIN analytics.signal_daily g
  ON g.bucket = b.bucket AND g.event_date BETWEEN %(start)s AND %(end)s"""

CALIBRATION_SQL: Final = _CALIBRATION_COLUMNS + "\nGROUP BY b.bucket\nORDER BY b.bucket"
CALIBRATION_BY_STRATEGY_SQL: Final = (
    _CALIBRATION_COLUMNS
    + " AND g.strategy_id = %(strategy_id)s\nGROUP BY b.bucket\nORDER BY b.bucket"
)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _now() -> datetime:
    return datetime.now(UTC)


async def resolve_strategy(conn: AsyncConnection[Any], name: str) -> int:
    """The id of strategy ``name``; an unknown name raises AnalyticsInputError('strategy')."""
    cur = await conn.execute(STRATEGY_ID_SQL, [name])
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute(STRATEGY_NAMES_SQL)
        known = ", ".join(r[0] for r in await cur.fetchall())
        raise AnalyticsInputError("strategy", f"unknown strategy {name!r}; known: {known}")
    return int(row[0])


async def read_city_metrics(
    conn: AsyncConnection[Any], window: Window, strategy: str | None = None
) -> CityMetricsReport:
    """Per city (every known city, by code), the trades whose market settles in ``window``.

    Counts (trades, contracts) cover every trade; gross P&L, fees, net P&L (cents), wins,
    losses, win rate (wins / (wins + losses)) and average net P&L per realised trade (cents)
    cover realised trades; ROI is net P&L / ``realized_cost_cents``, the cost of the contracts
    bought by realised buys (price x quantity, cents); open exposure is the cost (cents) of
    contracts still held in unsettled markets. ``strategy`` limits it to one strategy's trades.
    """
    params: dict[str, object] = {"start": window.start, "end": window.end}
    query = CITY_METRICS_SQL
    if strategy is not None:
        params["strategy_id"] = await resolve_strategy(conn, strategy)
        query = CITY_METRICS_BY_STRATEGY_SQL
    cur = await conn.execute(query, params)
    cities = [
        CityMetrics(
            city=code,
            trades=trades,
            contracts=contracts,
            realized_trades=realized,
            gross_pnl_cents=gross,
            fees_cents=fees,
            net_pnl_cents=net,
            wins=wins,
            losses=losses,
            win_rate=_ratio(wins, wins + losses),
            avg_net_pnl_cents=_ratio(net, realized),
            realized_cost_cents=cost,
            roi=_ratio(net, cost),
            open_exposure_cents=exposure,
        )
        for code, trades, contracts, realized, gross, fees, net, wins, losses, cost, exposure in (
            await cur.fetchall()
        )
    ]
    return CityMetricsReport(as_of=_now(), window=window, strategy=strategy, cities=cities)


async def read_equity_curve(
    conn: AsyncConnection[Any],
    window: Window,
    starting_bankroll_cents: int,
    max_points: int | None = None,
) -> EquityCurve:
    """Equity (cents) at the close of each settlement day of ``window``: the starting bankroll
    plus the cumulative net realised P&L of every settlement day up to it, since inception.

    One point per calendar day from the later of the window start and the first settlement day
    with a trade, to the window end; a day without realised trades is a point with 0 P&L. The
    points' daily P&L therefore sums to the cities' and the strategies' net P&L over the window.
    The summary (see :mod:`milkbot.analytics.equity`) always covers every day; ``max_points``
    (2..10000) only thins the returned points, keeping the first, last and extreme ones.
    """
    if max_points is not None and not 2 <= max_points <= MAX_POINTS_LIMIT:
        raise AnalyticsInputError("max_points", f"must be from 2 to {MAX_POINTS_LIMIT}")
    if starting_bankroll_cents <= 0:
        raise AnalyticsInputError("starting_bankroll_cents", "must be a positive number of cents")
    cur = await conn.execute(EQUITY_SQL, {"start": window.start, "end": window.end})
    rows = await cur.fetchall()
    inception, before = rows[0][0], rows[0][1]
    opening = starting_bankroll_cents + before
    first_day = window.start if inception is None else max(window.start, inception)
    days = [day for _, _, day, _ in rows if day is not None]
    nets = [net for _, _, day, net in rows if day is not None]
    pnls = _daily_series(first_day, window.end, days, nets) if inception is not None else []
    points = build_points(first_day, pnls, opening)
    summary = summarise_equity(first_day, points, opening)
    if max_points is not None:
        points = downsample(points, max_points)
    return EquityCurve(
        as_of=_now(),
        window=window,
        starting_bankroll_cents=starting_bankroll_cents,
        points=points,
        summary=summary,
    )


def _daily_series(first: date, end: date, days: list[date], nets: list[int]) -> list[int]:
    """Net P&L per calendar day ``first..end`` from sparse (day, net) pairs."""
    series = [0] * ((end - first).days + 1) if first <= end else []
    for day, net in zip(days, nets, strict=True):
        series[(day - first).days] = net
    return series


async def read_strategy_metrics(
    conn: AsyncConnection[Any], window: Window
) -> StrategyMetricsReport:
    """Per strategy (every known strategy, by name), over the settlement days of ``window``.

    - signals: signals generated for markets settling in the window (all decisions);
    - trades, net P&L (cents), wins, losses, win rate: as for city metrics;
    - avg_edge: mean of model probability - price (dollars) over the trades that carry a model
      probability (0002's aggregate: buys, and the few sales that record one);
      realized_edge: mean of payout - price (dollars) over settled buys (both per trade, not
      per contract);
    - profit_factor: sum of winning trades' net / sum of losing trades' |net|;
    - expectancy_cents: net P&L per realised trade (cents);
    - max_drawdown_cents: largest fall of the cumulative daily net P&L from its running peak
      (which starts at 0 at the window start);
    - sharpe: mean / std (ddof=1) of daily net P&L x sqrt(365) - the Sharpe ratio of daily
      returns on a fixed capital, empyrical's definition - over every calendar day from the
      later of the window start and the strategy's first settlement day;
    - brier_score: mean squared error of the signals' model probabilities against the outcome
      (1 if the market settled YES) over signals on settled markets.
    """
    cur = await conn.execute(STRATEGY_METRICS_SQL, {"start": window.start, "end": window.end})
    strategies: list[StrategyMetrics] = []
    for row in await cur.fetchall():
        (
            name,
            first_day,
            signals,
            settled_n,
            sq_err,
            trades,
            realized,
            net,
            wins,
            losses,
            profit,
            loss,
            edge_sum,
            edge_n,
            settled_edge,
            settled_edge_n,
            days,
            nets,
        ) = row
        series: list[int] = []
        if first_day is not None:
            series = _daily_series(max(window.start, first_day), window.end, days, nets)
        strategies.append(
            StrategyMetrics(
                strategy=name,
                signals=signals,
                trades=trades,
                realized_trades=realized,
                net_pnl_cents=net,
                wins=wins,
                losses=losses,
                win_rate=_ratio(wins, wins + losses),
                avg_edge=_ratio(edge_sum, edge_n),
                realized_edge=_ratio(settled_edge / 100, settled_edge_n),
                profit_factor=_ratio(profit, loss),
                expectancy_cents=_ratio(net, realized),
                max_drawdown_cents=max_drawdown_cents(series),
                sharpe=sharpe_ratio(series),
                brier_score=_ratio(sq_err, settled_n),
                settled_signals=settled_n,
            )
        )
    return StrategyMetricsReport(as_of=_now(), window=window, strategies=strategies)


async def read_calibration(
    conn: AsyncConnection[Any], window: Window, strategy: str | None = None
) -> list[CalibrationBin]:
    """Calibration of the model over signals on markets settled in ``window``: for each
    probability decile, the number of signals, their mean probability and the fraction whose
    market settled YES (``None`` for an empty decile). Ten bins, always."""
    params: dict[str, object] = {"start": window.start, "end": window.end}
    query = CALIBRATION_SQL
    if strategy is not None:
        params["strategy_id"] = await resolve_strategy(conn, strategy)
        query = CALIBRATION_BY_STRATEGY_SQL
    cur = await conn.execute(query, params)
    return [
        CalibrationBin(
            bucket=bucket,
            lower=bucket / 10,
            upper=(bucket + 1) / 10,
            n=n,
            mean_prob=_ratio(prob_sum, n),
            observed_freq=_ratio(outcomes, n),
        )
        for bucket, n, prob_sum, outcomes in await cur.fetchall()
    ]

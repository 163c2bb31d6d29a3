"""City metrics, equity curve, strategy metrics and calibration of one account, the accounts
and their comparison: SQL over the pre-aggregates.

Every query reads only pre-aggregates kept exact by triggers - ``analytics.pnl_daily``,
``pnl_by_day`` and ``signal_daily`` (migration 0002) and their roll-ups ``pnl_city_day``,
``pnl_strategy_day``, ``signal_strategy_day`` (0003) and ``account_totals`` (0007), every one
keyed by account first (0006) - plus the small reference tables and ``ops.account_transfers``,
through their keys, so its cost grows with the window's days (and the comparison's with the
number of accounts), not with the number of trades. The SQL sums integer micros (money) and
hundredths of a contract; the results carry exact ``Decimal`` dollars and contracts.

An account is named; :func:`resolve_account` finds it among the *public* accounts, and any
other name - unknown, or a private account - raises :class:`UnknownAccountError`, the same for
both so a private account's existence does not leak.

Accounting (the write path's, see ``milkbot.store.writes``): a trade is *realised* once its
P&L is known - a sell at once, a buy when its market settles. Trade and contract counts cover
every trade whose market settles in the window; gross P&L, fees, net P&L (gross - fees), wins
(net > 0) and losses (net < 0) cover realised trades; open exposure is price x open contracts
of buys whose market has not settled. Equity is the starting bankroll, plus transfers up to the
day (by their UTC date), plus the cumulative net realised P&L of every settlement day up to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any, Final

import numpy as np
from psycopg import AsyncConnection

from milkbot.analytics.equity import (
    Day,
    build_days,
    downsample,
    even_indices,
    many_curves,
    max_drawdown,
    sharpe_ratio,
    to_points,
)
from milkbot.analytics.equity import summarise as summarise_equity
from milkbot.analytics.results import (
    AccountComparison,
    AccountRef,
    AccountSummary,
    CalibrationBin,
    CityMetrics,
    CityMetricsReport,
    ComparisonReport,
    EquityCurve,
    StrategyMetrics,
    StrategyMetricsReport,
)
from milkbot.analytics.window import AnalyticsInputError, UnknownAccountError, Window
from milkbot.money import mean_micros, to_count, to_dollars

MAX_POINTS_LIMIT = 10_000
# The comparison's curves: at most this many points per account by default.
COMPARISON_POINTS = 60
MODES: Final = ("live", "demo", "shadow", "replay")
# What the comparison can be sorted by (AccountComparison's fields, and the account's name).
COMPARISON_SORTS: Final = (
    "name",
    "equity",
    "net_pnl",
    "return_on_bankroll",
    "max_drawdown_pct",
    "sharpe",
    "sortino",
    "win_rate",
    "fees",
    "trades",
    "open_risk",
)

ACCOUNT_SQL: Final = """
SELECT id, name, display_name, mode, starting_bankroll_micros, public_delay_minutes
FROM ops.accounts WHERE name = %s AND is_public
"""
# The id of the account the query reads (resolved first: :func:`resolve_account`, or the
# service's :class:`~milkbot.analytics.directory.AccountDirectory`).
ACCOUNT_ID: Final = "%(account_id)s"

ACCOUNTS_SQL: Final = """
SELECT a.name, a.display_name, a.mode, a.environment, a.starting_bankroll_micros, a.description,
       ARRAY(SELECT s.name FROM ops.account_strategies x
             JOIN ops.strategies s ON s.id = x.strategy_id
             WHERE x.account_id = a.id ORDER BY s.name)
FROM ops.accounts a
WHERE a.is_public
ORDER BY a.name
"""

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
           sum(p.contracts_centi)::bigint AS contracts,
           sum(p.realized_trades)::bigint AS realized_trades,
           sum(p.gross_pnl_micros)::bigint AS gross,
           sum(p.fees_micros)::bigint AS fees,
           sum(p.net_pnl_micros)::bigint AS net,
           sum(p.wins)::bigint AS wins,
           sum(p.losses)::bigint AS losses,
           sum(p.realized_cost_micros)::bigint AS realized_cost,
           sum(p.open_exposure_micros)::bigint AS open_exposure
    FROM {source} p
    WHERE p.account_id = {account}
      AND p.event_date BETWEEN %(start)s AND %(end)s{strategy}
    GROUP BY p.city_code
) a ON a.city_code = c.code
ORDER BY c.code
"""

_CITY_TOTALS = _CITY_TOTALS.replace("{account}", ACCOUNT_ID)
CITY_METRICS_SQL: Final = _CITY_TOTALS.replace("{source}", "analytics.pnl_city_day").replace(
    "{strategy}", ""
)
CITY_METRICS_BY_STRATEGY_SQL: Final = _CITY_TOTALS.replace(
    "{source}", "analytics.pnl_daily"
).replace("{strategy}", " AND p.strategy_id = %(strategy_id)s")

# The account's first settlement day, the cumulative net P&L of the days before the window
# (its running total, less the days from the window's start on: a handful of rows, however
# old the account) and its transfers up to the window's end (before the window, and per UTC
# day within it), repeated on every row; then each day of the window that has a row (at least
# one row, with NULLs, when none has). The days between are filled with 0 P&L in Python.
EQUITY_SQL: Final = """
SELECT m.first_day, m.before, m.transfers_before, m.transfer_days, m.transfer_amounts,
       p.event_date, p.net_pnl_micros
FROM (
    SELECT (SELECT min(event_date) FROM analytics.pnl_by_day
            WHERE account_id = {account}) AS first_day,
           (SELECT coalesce(sum(t.net_pnl_micros), 0)::bigint FROM analytics.account_totals t
            WHERE t.account_id = {account})
           - (SELECT coalesce(sum(net_pnl_micros), 0)::bigint FROM analytics.pnl_by_day
              WHERE account_id = {account} AND event_date >= %(start)s) AS before,
           f.transfers_before, f.transfer_days, f.transfer_amounts
    FROM (
        SELECT coalesce(sum(x.amount) FILTER (WHERE x.day < %(start)s), 0)::bigint
                   AS transfers_before,
               coalesce(array_agg(x.day ORDER BY x.day) FILTER (WHERE x.day >= %(start)s), '{}')
                   AS transfer_days,
               coalesce(array_agg(x.amount ORDER BY x.day) FILTER (WHERE x.day >= %(start)s),
                        '{}') AS transfer_amounts
        FROM (
            SELECT (transferred_at AT TIME ZONE 'UTC')::date AS day,
                   sum(amount_micros)::bigint AS amount
            FROM ops.account_transfers
            WHERE account_id = {account} AND transferred_at < %(end_ts)s
            GROUP BY 1
        ) x
    ) f
) m
LEFT JOIN analytics.pnl_by_day p
  ON p.account_id = {account} AND p.event_date BETWEEN %(start)s AND %(end)s
ORDER BY p.event_date
""".replace("{account}", ACCOUNT_ID)

# Per strategy the account runs or has traded: its first settlement day ever, its signals in
# the window, the window's totals and its net P&L per day (days without rows are filled with 0
# in Python), from the per-day-and-strategy roll-ups of migration 0003 (30 rows per strategy
# for 30 days).
STRATEGY_METRICS_SQL: Final = """
SELECT s.name, f.first_day,
       sig.signals, sig.settled_n, sig.sq_err_sum,
       agg.trades, agg.realized_trades, agg.net, agg.wins, agg.losses,
       agg.gross_profit, agg.gross_loss, agg.edge_sum, agg.edge_n,
       agg.settled_edge, agg.settled_edge_n, agg.days, agg.nets
FROM ops.strategies s
CROSS JOIN LATERAL (
    SELECT min(f.event_date) AS first_day FROM analytics.pnl_strategy_day f
    WHERE f.account_id = {account} AND f.strategy_id = s.id
) f
CROSS JOIN LATERAL (
    SELECT coalesce(sum(g.signals), 0)::bigint AS signals,
           coalesce(sum(g.settled_n), 0)::bigint AS settled_n,
           coalesce(sum(g.sq_err_sum), 0)::float8 AS sq_err_sum
    FROM analytics.signal_strategy_day g
    WHERE g.account_id = {account} AND g.strategy_id = s.id
      AND g.event_date BETWEEN %(start)s AND %(end)s
) sig
CROSS JOIN LATERAL (
    SELECT coalesce(sum(p.trades), 0)::bigint AS trades,
           coalesce(sum(p.realized_trades), 0)::bigint AS realized_trades,
           coalesce(sum(p.net_pnl_micros), 0)::bigint AS net,
           coalesce(sum(p.wins), 0)::bigint AS wins,
           coalesce(sum(p.losses), 0)::bigint AS losses,
           coalesce(sum(p.gross_profit_micros), 0)::bigint AS gross_profit,
           coalesce(sum(p.gross_loss_micros), 0)::bigint AS gross_loss,
           coalesce(sum(p.edge_sum), 0)::float8 AS edge_sum,
           coalesce(sum(p.edge_n), 0)::bigint AS edge_n,
           coalesce(sum(p.settled_edge_micros), 0)::bigint AS settled_edge,
           coalesce(sum(p.settled_edge_n), 0)::bigint AS settled_edge_n,
           coalesce(array_agg(p.event_date ORDER BY p.event_date), '{}') AS days,
           coalesce(array_agg(p.net_pnl_micros ORDER BY p.event_date), '{}') AS nets
    FROM analytics.pnl_strategy_day p
    WHERE p.account_id = {account} AND p.strategy_id = s.id
      AND p.event_date BETWEEN %(start)s AND %(end)s
) agg
WHERE f.first_day IS NOT NULL
   OR EXISTS (SELECT 1 FROM ops.account_strategies x
              WHERE x.account_id = {account} AND x.strategy_id = s.id)
ORDER BY s.name
""".replace("{account}", ACCOUNT_ID)

_CALIBRATION_COLUMNS = """
SELECT b.bucket,
       coalesce(sum(g.settled_n), 0)::bigint,
       coalesce(sum(g.prob_sum), 0)::float8,
       coalesce(sum(g.outcome_sum), 0)::bigint
FROM generate_series(0, 9) AS b(bucket)
LEFT JOIN analytics.signal_daily g
  ON g.account_id = {account} AND g.bucket = b.bucket
 AND g.event_date BETWEEN %(start)s AND %(end)s"""

_CALIBRATION_COLUMNS = _CALIBRATION_COLUMNS.replace("{account}", ACCOUNT_ID)
CALIBRATION_SQL: Final = _CALIBRATION_COLUMNS + "\nGROUP BY b.bucket\nORDER BY b.bucket"
CALIBRATION_BY_STRATEGY_SQL: Final = (
    _CALIBRATION_COLUMNS
    + " AND g.strategy_id = %(strategy_id)s\nGROUP BY b.bucket\nORDER BY b.bucket"
)

# Per public account (of one mode, or all): who it is; its running totals (0007); its first
# settlement day (as days after the window's start; the window's start itself when it has a
# row that day, which is all the curve needs to know of an earlier one); the window's sums,
# its net P&L per day with a row (as days after the window's start) and the net of the days
# after the window (to take off the total); its transfers up to the window's end (the days
# in the window as days after its start). The window's days of every account are read in one
# pass over the index pnl_by_day_window_idx (0008: event_date first, the summed columns
# included, so no heap fetches), with no FILTER to test per row; an account without a row on
# the window's first day costs one probe of pnl_by_day's primary key for its first day. Rows,
# then, are the window's days x accounts active in them, whatever the history before.
COMPARISON_SQL: Final = """
WITH w AS (
    SELECT p.account_id,
           sum(p.trades)::bigint AS trades,
           sum(p.fees_micros)::bigint AS fees,
           sum(p.wins)::bigint AS wins,
           sum(p.losses)::bigint AS losses,
           sum(p.net_pnl_micros)::bigint AS net,
           min(p.event_date) AS first_day,
           array_agg(p.event_date - %(start)s) AS days,
           array_agg(p.net_pnl_micros) AS nets
    FROM analytics.pnl_by_day p
    WHERE p.event_date BETWEEN %(start)s AND %(end)s
    GROUP BY p.account_id
), l AS (
    SELECT p.account_id, sum(p.net_pnl_micros)::bigint AS later
    FROM analytics.pnl_by_day p
    WHERE p.event_date > %(end)s
    GROUP BY p.account_id
), x AS (
    SELECT y.account_id,
           coalesce(sum(y.amount) FILTER (WHERE y.day < %(start)s), 0)::bigint AS before,
           array_agg(y.day - %(start)s ORDER BY y.day) FILTER (WHERE y.day >= %(start)s)
               AS days,
           array_agg(y.amount ORDER BY y.day) FILTER (WHERE y.day >= %(start)s) AS amounts
    FROM (
        SELECT z.account_id, (z.transferred_at AT TIME ZONE 'UTC')::date AS day,
               sum(z.amount_micros)::bigint AS amount
        FROM ops.account_transfers z
        WHERE z.transferred_at < %(end_ts)s
        GROUP BY 1, 2
    ) y
    GROUP BY y.account_id
)
SELECT a.name, a.display_name, a.mode, a.environment, a.starting_bankroll_micros,
       coalesce(t.net_pnl_micros, 0), coalesce(t.open_exposure_micros, 0),
       CASE WHEN w.first_day = %(start)s THEN %(start)s
            ELSE (SELECT min(f.event_date) FROM analytics.pnl_by_day f WHERE f.account_id = a.id)
       END - %(start)s,
       coalesce(l.later, 0), coalesce(w.trades, 0), coalesce(w.fees, 0),
       coalesce(w.wins, 0), coalesce(w.losses, 0), coalesce(w.net, 0),
       coalesce(w.days, '{}'), coalesce(w.nets, '{}'),
       coalesce(x.before, 0), coalesce(x.days, '{}'), coalesce(x.amounts, '{}')
FROM ops.accounts a
LEFT JOIN analytics.account_totals t ON t.account_id = a.id
LEFT JOIN w ON w.account_id = a.id
LEFT JOIN l ON l.account_id = a.id
LEFT JOIN x ON x.account_id = a.id
WHERE a.is_public AND (%(mode)s::text IS NULL OR a.mode = %(mode)s::text)
ORDER BY a.name
"""


@dataclass(frozen=True, slots=True)
class Account:
    """A public account as the queries need it: its id, how reports name it, its bankroll and
    the minutes before the public sees its trades."""

    id: int
    ref: AccountRef
    starting_bankroll_micros: int
    public_delay_minutes: int


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _mean_dollars(total_micros: int, n: int) -> Decimal | None:
    """``total_micros / n`` (``n`` >= 0) in dollars, rounded half-even to the micro; None when
    n is 0."""
    return to_dollars(mean_micros(total_micros, n)) if n else None


def _contracts(centi: int) -> Decimal:
    return to_count(centi)


def _now() -> datetime:
    return datetime.now(UTC)


def _end_ts(window: Window) -> datetime:
    """The first instant after the window's last day (UTC): transfers before it count."""
    return datetime.combine(window.end + timedelta(days=1), time(), UTC)


async def resolve_account(conn: AsyncConnection[Any], name: str) -> Account:
    """The public account ``name``; any other name (unknown, or a private account's) raises
    UnknownAccountError."""
    if not isinstance(name, str):
        raise UnknownAccountError(repr(name))
    cur = await conn.execute(ACCOUNT_SQL, [name])
    row = await cur.fetchone()
    if row is None:
        raise UnknownAccountError(name)
    return account_from_row(row)


def account_from_row(row: Any) -> Account:
    """The :class:`Account` of a row of ACCOUNT_SQL's columns."""
    account_id, name, display_name, mode, bankroll, delay = row
    return Account(account_id, AccountRef(name, display_name, mode), bankroll, delay)


async def _read_for_account(
    conn: AsyncConnection[Any], account: str | Account, query: str, params: dict[str, object]
) -> tuple[Account, list[Any]]:
    """Run ``query`` (which names its account through ACCOUNT_ID) for ``account``: resolved
    already, or a name that :func:`resolve_account` finds first (any name but a public
    account's raises UnknownAccountError)."""
    if not isinstance(account, Account):
        account = await resolve_account(conn, account)
    cur = await conn.execute(query, {**params, "account_id": account.id})
    return account, await cur.fetchall()


async def read_accounts(conn: AsyncConnection[Any], primary: str) -> list[AccountSummary]:
    """Every public account, by name; ``primary`` names the one flagged as the default."""
    cur = await conn.execute(ACCOUNTS_SQL)
    return [
        AccountSummary(
            name=name,
            display_name=display_name,
            mode=mode,
            environment=environment,
            starting_bankroll_dollars=to_dollars(bankroll),
            strategies=list(strategies),
            description=description,
            primary=name == primary,
        )
        for name, display_name, mode, environment, bankroll, description, strategies in (
            await cur.fetchall()
        )
    ]


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
    conn: AsyncConnection[Any],
    window: Window,
    strategy: str | None = None,
    *,
    account: str | Account,
) -> CityMetricsReport:
    """Per city (every known city, by code), the trades of ``account`` whose market settles in
    ``window``.

    Counts (trades, contracts) cover every trade; gross P&L, fees, net P&L, wins, losses, win
    rate (wins / (wins + losses)) and average net P&L per realised trade cover realised trades;
    ROI is net P&L / ``realized_cost_dollars``, the cost of the contracts bought by realised
    buys (price x quantity); open exposure is the cost of contracts still held in unsettled
    markets. ``strategy`` limits it to one strategy's trades.
    """
    params: dict[str, object] = {"start": window.start, "end": window.end}
    query = CITY_METRICS_SQL
    if strategy is not None:
        params["strategy_id"] = await resolve_strategy(conn, strategy)
        query = CITY_METRICS_BY_STRATEGY_SQL
    found, rows = await _read_for_account(conn, account, query, params)
    cities = [
        CityMetrics(
            city=code,
            trades=trades,
            contracts=_contracts(contracts),
            realized_trades=realized,
            gross_pnl_dollars=to_dollars(gross),
            fees_dollars=to_dollars(fees),
            net_pnl_dollars=to_dollars(net),
            wins=wins,
            losses=losses,
            win_rate=_ratio(wins, wins + losses),
            avg_net_pnl_dollars=_mean_dollars(net, realized),
            realized_cost_dollars=to_dollars(cost),
            roi=_ratio(net, cost),
            open_exposure_dollars=to_dollars(exposure),
        )
        for code, trades, contracts, realized, gross, fees, net, wins, losses, cost, exposure in rows
    ]
    return CityMetricsReport(
        as_of=_now(), account=found.ref, window=window, strategy=strategy, cities=cities
    )


def _equity_days(
    window: Window,
    inception: date | None,
    opening: int,
    days: Sequence[date],
    nets: Sequence[int],
    flow_days: Sequence[date],
    flows: Sequence[int],
) -> tuple[date, int, list[Day]]:
    """The curve's first day, the equity it opens from and its days (micros).

    The curve runs from the later of the window's start and the account's first settlement day
    to the window's end (no days before the first trade). ``opening`` is the equity before the
    window's start; transfers on the window's days before the curve starts add to it, those on
    the curve's days move that day's equity (``flow_days``/``flows``: per UTC day, in order).
    """
    first_day = window.start if inception is None else max(window.start, inception)
    early = sum(f for d, f in zip(flow_days, flows, strict=True) if d < first_day)
    if inception is None:
        return first_day, opening + early, []
    pnls = _daily_series(first_day, window.end, days, nets)
    flow_series = _daily_series(first_day, window.end, flow_days, flows, clip=True)
    return first_day, opening + early, build_days(first_day, pnls, opening + early, flow_series)


async def read_equity_curve(
    conn: AsyncConnection[Any],
    window: Window,
    max_points: int | None = None,
    *,
    account: str | Account,
) -> EquityCurve:
    """Equity of ``account`` at the close of each settlement day of ``window``: its starting
    bankroll, plus its transfers up to the day (by UTC date), plus the cumulative net realised
    P&L of every settlement day up to it, since inception.

    One point per calendar day from the later of the window start and the first settlement day
    with a trade, to the window end; a day without realised trades is a point with 0 P&L. The
    points' daily P&L therefore sums to the cities' and the strategies' net P&L over the window.
    A transfer moves equity and the high-water mark alike (it is not a gain or a drawdown) and
    is not a return. The summary (see :mod:`milkbot.analytics.equity`) always covers every day;
    ``max_points`` (2..10000) only thins the returned points, keeping the first, last and
    extreme ones.
    """
    if max_points is not None and not 2 <= max_points <= MAX_POINTS_LIMIT:
        raise AnalyticsInputError("max_points", f"must be from 2 to {MAX_POINTS_LIMIT}")
    found, rows = await _read_for_account(
        conn,
        account,
        EQUITY_SQL,
        {"start": window.start, "end": window.end, "end_ts": _end_ts(window)},
    )
    inception, before, transfers_before, flow_days, flows = rows[0][:5]
    bankroll = found.starting_bankroll_micros
    opening = bankroll + transfers_before + before
    days = [row[5] for row in rows if row[5] is not None]
    nets = [row[6] for row in rows if row[5] is not None]
    first_day, opening, equity = _equity_days(
        window, inception, opening, days, nets, flow_days, flows
    )
    summary = summarise_equity(first_day, equity, opening)
    if max_points is not None:
        equity = downsample(equity, max_points)
    return EquityCurve(
        as_of=_now(),
        account=found.ref,
        window=window,
        starting_bankroll_dollars=to_dollars(bankroll),
        transfers_dollars=to_dollars(transfers_before + sum(flows)),
        points=to_points(equity),
        summary=summary,
    )


def _daily_series(
    first: date, end: date, days: Sequence[date], values: Sequence[int], *, clip: bool = False
) -> list[int]:
    """Values per calendar day ``first..end`` from sparse (day, value) pairs; with ``clip``,
    pairs outside the span are left out (else every pair must lie in it)."""
    series = [0] * ((end - first).days + 1) if first <= end else []
    for day, value in zip(days, values, strict=True):
        if clip and not first <= day <= end:
            continue
        series[(day - first).days] = value
    return series


async def read_strategy_metrics(
    conn: AsyncConnection[Any], window: Window, *, account: str | Account
) -> StrategyMetricsReport:
    """Per strategy of ``account`` (those it runs, and any other it has traded, by name), over
    the settlement days of ``window``.

    - signals: signals generated for markets settling in the window (all decisions);
    - trades, net P&L, wins, losses, win rate: as for city metrics;
    - avg_edge: mean of model probability - price (dollars) over the trades that carry a model
      probability (0002's aggregate: buys, and the few sales that record one);
      realized_edge: mean of payout - price (dollars) over settled buys (both per trade, not
      per contract);
    - profit_factor: sum of winning trades' net / sum of losing trades' |net|;
    - expectancy_dollars: net P&L per realised trade (to the micro);
    - max_drawdown_dollars: largest fall of the cumulative daily net P&L from its running peak
      (which starts at 0 at the window start);
    - sharpe: mean / std (ddof=1) of daily net P&L x sqrt(365) - the Sharpe ratio of daily
      returns on a fixed capital, empyrical's definition - over every calendar day from the
      later of the window start and the strategy's first settlement day;
    - brier_score: mean squared error of the signals' model probabilities against the outcome
      (1 if the market settled YES) over signals on settled markets.
    """
    found, rows = await _read_for_account(
        conn, account, STRATEGY_METRICS_SQL, {"start": window.start, "end": window.end}
    )
    strategies: list[StrategyMetrics] = []
    for row in rows:
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
                net_pnl_dollars=to_dollars(net),
                wins=wins,
                losses=losses,
                win_rate=_ratio(wins, wins + losses),
                avg_edge=_ratio(edge_sum, edge_n),
                realized_edge=_ratio(settled_edge / 1_000_000, settled_edge_n),
                profit_factor=_ratio(profit, loss),
                expectancy_dollars=_mean_dollars(net, realized),
                max_drawdown_dollars=to_dollars(max_drawdown(series)),
                sharpe=sharpe_ratio(series),
                brier_score=_ratio(sq_err, settled_n),
                settled_signals=settled_n,
            )
        )
    return StrategyMetricsReport(
        as_of=_now(), account=found.ref, window=window, strategies=strategies
    )


async def read_calibration(
    conn: AsyncConnection[Any],
    window: Window,
    strategy: str | None = None,
    *,
    account: str | Account,
) -> list[CalibrationBin]:
    """Calibration of the model over ``account``'s signals on markets settled in ``window``:
    for each probability decile, the number of signals, their mean probability and the
    fraction whose market settled YES (``None`` for an empty decile). Ten bins, always."""
    params: dict[str, object] = {"start": window.start, "end": window.end}
    query = CALIBRATION_SQL
    if strategy is not None:
        params["strategy_id"] = await resolve_strategy(conn, strategy)
        query = CALIBRATION_BY_STRATEGY_SQL
    _, rows = await _read_for_account(conn, account, query, params)
    return [
        CalibrationBin(
            bucket=bucket,
            lower=bucket / 10,
            upper=(bucket + 1) / 10,
            n=n,
            mean_prob=_ratio(prob_sum, n),
            observed_freq=_ratio(outcomes, n),
        )
        for bucket, n, prob_sum, outcomes in rows
    ]


def check_comparison(mode: str | None, sort: str, max_points: int) -> None:
    """Refuse a mode, sort field or point count the comparison does not know, naming it."""
    if mode is not None and mode not in MODES:
        raise AnalyticsInputError("mode", f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    if sort not in COMPARISON_SORTS:
        raise AnalyticsInputError(
            "sort", f"cannot sort by {sort!r}; known: {', '.join(COMPARISON_SORTS)}"
        )
    if isinstance(max_points, bool) or not 2 <= max_points <= MAX_POINTS_LIMIT:
        raise AnalyticsInputError("max_points", f"must be from 2 to {MAX_POINTS_LIMIT}")


# The attribute of AccountComparison each COMPARISON_SORTS name sorts by ("name": the account's).
_SORT_FIELDS: Final = {
    "equity": "equity_dollars",
    "net_pnl": "net_pnl_dollars",
    "return_on_bankroll": "return_on_bankroll",
    "max_drawdown_pct": "max_drawdown_pct",
    "sharpe": "sharpe",
    "sortino": "sortino",
    "win_rate": "win_rate",
    "fees": "fees_dollars",
    "trades": "trades",
    "open_risk": "open_risk_dollars",
}


def _sort_key(row: AccountComparison, sort: str) -> Any:
    if sort == "name":
        return row.account.name
    return getattr(row, _SORT_FIELDS[sort])


def sort_comparison(
    rows: Sequence[AccountComparison], sort: str, descending: bool
) -> list[AccountComparison]:
    """``rows`` by ``sort`` (a COMPARISON_SORTS name), ties by account name; an undefined
    value (None) sorts last either way."""
    by_name = sorted(rows, key=lambda r: r.account.name)
    keyed = [(_sort_key(r, sort), r) for r in by_name]
    defined = [(k, r) for k, r in keyed if k is not None]
    undefined = [r for k, r in keyed if k is None]
    ordered = sorted(defined, key=lambda kr: kr[0], reverse=descending)
    return [r for _, r in ordered] + undefined


async def read_comparison(
    conn: AsyncConnection[Any],
    window: Window,
    *,
    mode: str | None = None,
    sort: str = "return_on_bankroll",
    descending: bool = True,
    max_points: int = COMPARISON_POINTS,
) -> ComparisonReport:
    """Every public account (of ``mode``, or all) over ``window``, sorted by ``sort``.

    Per account: equity at the window's end (starting bankroll + transfers + net realised P&L
    up to that day), net P&L over the window and its return on the starting bankroll, the
    max drawdown, Sharpe and Sortino of its equity curve over the window (as
    :func:`read_equity_curve` computes them), win rate, fees and trades over the window, open
    risk (the cost of the contracts it holds in unsettled markets, now) and its curve - equity
    / starting bankroll per day, thinned to ``max_points`` (2..10000). Totals: fees and trades
    only (equity of different accounts is never summed).
    """
    check_comparison(mode, sort, max_points)
    # Binary results: hundreds of rows of integer arrays load faster than from their text.
    cur = conn.cursor(binary=True)
    await cur.execute(
        COMPARISON_SQL,
        {"start": window.start, "end": window.end, "end_ts": _end_ts(window), "mode": mode},
    )
    found = await cur.fetchall()
    n_days = window.days
    n = len(found)
    # Every account's days in (accounts x days) arrays, computed at once (equity.many_curves).
    pnls = np.zeros((n, n_days), np.int64)
    flows = np.zeros((n, n_days), np.int64)
    opening = np.zeros(n, np.int64)
    first = np.full(n, n_days, np.int64)
    bankrolls = np.ones(n, np.int64)
    # The window's net P&L per day, every account's at once (row index i once per day of i).
    lengths = [len(row[14]) for row in found]
    pnls[
        np.repeat(np.arange(n), lengths),
        np.fromiter(chain.from_iterable(row[14] for row in found), np.int64, sum(lengths)),
    ] = np.fromiter(chain.from_iterable(row[15] for row in found), np.int64, sum(lengths))
    for i, row in enumerate(found):
        bankroll, total_net, _, inception, later = row[4:9]
        window_net = row[13]
        transfers_before, flow_days, amounts = row[16:19]
        bankrolls[i] = bankroll
        if inception is not None:
            first[i] = min(max(inception, 0), n_days)
        early = transfers_before
        for k, amount in zip(flow_days, amounts, strict=True):
            if k < first[i]:
                early += amount
            else:
                flows[i, k] += amount
        opening[i] = bankroll + early + total_net - later - window_net
    curves = many_curves(opening, pnls, flows, first)
    # The curves: the same days for every account, as ratios to its bankroll; the days before
    # an account's first are null (cut per row: numpy's NaN is no JSON).
    kept = even_indices(n_days, max_points)
    ratios = (curves.equity[:, kept] / bankrolls[:, None]).tolist()
    blanks = np.searchsorted(kept, first).tolist()
    rows: list[AccountComparison] = []
    total_fees = total_trades = 0
    for i, row in enumerate(found):
        name, display_name, account_mode, environment, bankroll, total_net, open_risk = row[:7]
        later, trades, fees, wins, losses, window_net = row[8:14]
        transfers_before, amounts = row[16], row[18]
        figures = curves.risks[i]
        total_fees += fees
        total_trades += trades
        blank = blanks[i]
        curve: list[float | None] = ratios[i]
        if blank:
            curve[:blank] = [None] * blank
        rows.append(
            AccountComparison(
                account=AccountRef(name, display_name, account_mode),
                environment=environment,
                starting_bankroll_dollars=to_dollars(bankroll),
                equity_dollars=to_dollars(
                    bankroll + transfers_before + sum(amounts) + total_net - later
                ),
                net_pnl_dollars=to_dollars(window_net),
                return_on_bankroll=window_net / bankroll,
                max_drawdown_pct=figures.max_drawdown_pct,
                max_drawdown_dollars=to_dollars(figures.max_drawdown),
                sharpe=figures.sharpe,
                sortino=figures.sortino,
                win_rate=_ratio(wins, wins + losses),
                fees_dollars=to_dollars(fees),
                trades=trades,
                open_risk_dollars=to_dollars(open_risk),
                curve=curve,
            )
        )
    start = window.start
    return ComparisonReport(
        as_of=_now(),
        window=window,
        mode=mode,
        sort=sort,
        descending=descending,
        curve_days=[start + timedelta(days=k) for k in kept.tolist()],
        accounts=sort_comparison(rows, sort, descending),
        total_fees_dollars=to_dollars(total_fees),
        total_trades=total_trades,
    )

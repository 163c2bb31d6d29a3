"""Every analytics figure recomputed from the raw rows (ops.trades, ops.signals, ops.markets,
ops.account_transfers) by a separate path written here - plain SQL over one account's trades in
micros and hundredths of a contract, exact fractions for averages, numpy for the ratios - and
compared: money and contracts exactly, averages of money within half a micro, ratios within
1e-9. Every check is per account; the multi-account cases check that two accounts' rows never
mix, that private and unknown accounts are refused alike, and the comparison of accounts.

The risk ratios follow empyrical's definitions (Quantopian's reference library, re-implemented
here with numpy, not imported): Sharpe = mean(r) / std(r, ddof=1) * sqrt(365); Sortino =
mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(365); max drawdown = min((v - cummax(v)) / cummax(v))
over the value series with the starting value prepended. A transfer moves the value and its
high-water mark alike, so the drawdown here is computed from the cumulative P&L.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import psycopg
import pytest

from milkbot.analytics import (
    AnalyticsInputError,
    CityMetricsReport,
    ComparisonReport,
    EquityCurve,
    StrategyMetricsReport,
    UnknownAccountError,
    Window,
    read_calibration,
    read_city_metrics,
    read_comparison,
    read_equity_curve,
    read_strategy_metrics,
)
from milkbot.analytics.results import Result
from milkbot.generator import generate_dataset
from milkbot.store.accounts import create_account, record_transfer
from milkbot.store.models import AccountIn, SettlementIn, SignalIn, TradeIn, TransferIn
from milkbot.store.settlement import settle_event
from milkbot.store.writes import record_signal, record_trade
from tests.helpers import add_event, roomy_limits

BANKROLL = 992_100_000  # micros: the default account's $992.10
MICROS = 1_000_000
TOL = 1e-9
HALF_MICRO = Fraction(1, 2 * MICROS)  # dollars


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


def dollars(micros: int) -> Decimal:
    return Decimal(micros) / MICROS


def account_id(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("SELECT id FROM ops.accounts WHERE name = %s", [name]).fetchone()
    assert row is not None
    return int(row[0])


# --- the independent path ------------------------------------------------------------------

REF_CITY_SQL = """
SELECT c.code,
       count(t.id),
       coalesce(sum(t.quantity_centi), 0),
       count(t.id) FILTER (WHERE t.realized_pnl_micros IS NOT NULL),
       coalesce(sum(t.realized_pnl_micros), 0),
       coalesce(sum(t.fee_micros) FILTER (WHERE t.realized_pnl_micros IS NOT NULL), 0),
       coalesce(sum(t.realized_pnl_micros - t.fee_micros), 0),
       count(t.id) FILTER (WHERE t.realized_pnl_micros - t.fee_micros > 0),
       count(t.id) FILTER (WHERE t.realized_pnl_micros - t.fee_micros < 0),
       coalesce(sum(t.price_micros::numeric * t.quantity_centi / 100)
                FILTER (WHERE t.realized_pnl_micros IS NOT NULL AND t.action = 'buy'), 0),
       coalesce(sum(t.price_micros::numeric * t.open_qty_centi / 100)
                FILTER (WHERE t.realized_pnl_micros IS NULL AND t.action = 'buy'), 0)
FROM ops.cities c
LEFT JOIN ops.trades t ON t.city_code = c.code AND t.account_id = %(account)s
     AND t.event_date BETWEEN %(start)s AND %(end)s
     AND (%(strategy)s::text IS NULL
          OR t.strategy_id = (SELECT id FROM ops.strategies WHERE name = %(strategy)s::text))
GROUP BY c.code ORDER BY c.code
"""


def ref_city(
    conn: psycopg.Connection, w: Window, account: int, strategy: str | None = None
) -> list[dict[str, Any]]:
    rows = conn.execute(
        REF_CITY_SQL, {"start": w.start, "end": w.end, "strategy": strategy, "account": account}
    )
    out = []
    for code, n, qty, realized, gross, fees, net, wins, losses, cost, exposure in rows:
        net, cost = int(net), int(cost)
        assert cost == Decimal(cost) and exposure == int(exposure)  # exact micros
        out.append(
            {
                "city": code,
                "trades": n,
                "contracts": Decimal(int(qty)) / 100,
                "realized_trades": realized,
                "gross_pnl_dollars": dollars(int(gross)),
                "fees_dollars": dollars(int(fees)),
                "net_pnl_dollars": dollars(net),
                "wins": wins,
                "losses": losses,
                "realized_cost_dollars": dollars(cost),
                "open_exposure_dollars": dollars(int(exposure)),
                "win_rate": wins / (wins + losses) if wins + losses else None,
                "avg_net_pnl_dollars": Fraction(net, realized * MICROS) if realized else None,
                "roi": net / cost if cost else None,
            }
        )
    return out


def daily_net(
    conn: psycopg.Connection, account: int, strategy_id: int | None = None
) -> dict[date, int]:
    rows = conn.execute(
        "SELECT event_date, coalesce(sum(realized_pnl_micros - fee_micros), 0) FROM ops.trades"
        " WHERE account_id = %(a)s AND (%(s)s::int IS NULL OR strategy_id = %(s)s::int)"
        " GROUP BY event_date",
        {"s": strategy_id, "a": account},
    )
    return {d: int(v) for d, v in rows}


def first_trade_day(
    conn: psycopg.Connection, account: int, strategy_id: int | None = None
) -> date | None:
    row = conn.execute(
        "SELECT min(event_date) FROM ops.trades"
        " WHERE account_id = %(a)s AND (%(s)s::int IS NULL OR strategy_id = %(s)s::int)",
        {"s": strategy_id, "a": account},
    ).fetchone()
    return row[0] if row else None


def transfers_by_day(conn: psycopg.Connection, account: int) -> dict[date, int]:
    rows = conn.execute(
        "SELECT transferred_at, amount_micros FROM ops.account_transfers WHERE account_id = %s",
        [account],
    ).fetchall()
    out: dict[date, int] = {}
    for at_, amount in rows:
        day = at_.astimezone(UTC).date()
        out[day] = out.get(day, 0) + int(amount)
    return out


def calendar(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def np_sharpe(r: np.ndarray) -> float | None:
    if len(r) < 2 or np.std(r, ddof=1) == 0:
        return None
    return float(np.mean(r) / np.std(r, ddof=1) * np.sqrt(365))


def np_sortino(r: np.ndarray) -> float | None:
    if len(r) == 0:
        return None
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    return None if downside == 0 else float(np.mean(r) / downside * np.sqrt(365))


def np_max_drawdown(values: np.ndarray) -> float:
    """empyrical.max_drawdown on a value series (start value first), as a positive fraction."""
    peak = np.maximum.accumulate(values)
    return float(-np.min((values - peak) / peak))


@dataclass
class RefEquity:
    days: list[date]
    pnl: list[int]
    equity: list[int]
    opening: int
    end: int
    sharpe: float | None
    sortino: float | None
    max_dd_pct: float | None
    max_dd: int
    transfers: int


def ref_equity(conn: psycopg.Connection, w: Window, account: int) -> RefEquity:
    row = conn.execute(
        "SELECT starting_bankroll_micros FROM ops.accounts WHERE id = %s", [account]
    ).fetchone()
    assert row is not None
    bankroll = int(row[0])
    net = daily_net(conn, account)
    flows = transfers_by_day(conn, account)
    first = first_trade_day(conn, account)
    start = max(w.start, first) if first else w.start
    opening = (
        bankroll
        + sum(v for d, v in net.items() if d < w.start)
        + sum(v for d, v in flows.items() if d < start)
    )
    days = calendar(start, w.end) if first else []
    pnl = [net.get(d, 0) for d in days]
    flow = [flows.get(d, 0) for d in days]
    equity = [int(v) for v in np.cumsum([opening, *(np.array(pnl) + np.array(flow))])]
    bases = np.array(equity[:-1], dtype=float) + np.array(flow, dtype=float)
    returns = np.array(pnl, dtype=float) / bases if len(days) else np.array([])
    cum = np.cumsum([0, *pnl])
    down = np.maximum.accumulate(cum) - cum
    highs = np.array(equity) + down
    pcts = down[1:] * 100.0 / highs[1:]
    if not any(flow):  # without transfers, empyrical's own definition must agree
        values = np.array(equity, dtype=float)
        assert len(days) == 0 or close(float(np.max(pcts)), np_max_drawdown(values) * 100)
    return RefEquity(
        days,
        pnl,
        equity[1:],
        opening,
        equity[-1],
        np_sharpe(returns),
        np_sortino(returns),
        float(np.max(pcts)) if len(days) else 0.0,
        int(np.max(down)),
        sum(v for d, v in flows.items() if d <= w.end),
    )


REF_STRATEGY_SQL = """
SELECT s.id, s.name,
       (SELECT count(*) FROM ops.signals g
        WHERE g.account_id = %(account)s AND g.strategy_id = s.id
          AND g.event_date BETWEEN %(start)s AND %(end)s),
       (SELECT count(*) FROM ops.signals g JOIN ops.markets m ON m.id = g.market_id
        WHERE g.account_id = %(account)s AND g.strategy_id = s.id
          AND g.event_date BETWEEN %(start)s AND %(end)s AND m.result IS NOT NULL),
       (SELECT avg((g.model_prob - (m.result = 'yes')::int) ^ 2)
        FROM ops.signals g JOIN ops.markets m ON m.id = g.market_id
        WHERE g.account_id = %(account)s AND g.strategy_id = s.id
          AND g.event_date BETWEEN %(start)s AND %(end)s AND m.result IS NOT NULL),
       count(t.id),
       count(t.id) FILTER (WHERE t.realized_pnl_micros IS NOT NULL),
       coalesce(sum(t.realized_pnl_micros - t.fee_micros), 0),
       count(t.id) FILTER (WHERE t.realized_pnl_micros - t.fee_micros > 0),
       count(t.id) FILTER (WHERE t.realized_pnl_micros - t.fee_micros < 0),
       coalesce(sum(t.realized_pnl_micros - t.fee_micros)
                FILTER (WHERE t.realized_pnl_micros - t.fee_micros > 0), 0),
       coalesce(sum(t.fee_micros - t.realized_pnl_micros)
                FILTER (WHERE t.realized_pnl_micros - t.fee_micros < 0), 0),
       avg(t.model_prob - t.price_micros / 1000000.0),
       avg((t.payout_micros - t.price_micros) / 1000000.0)
FROM ops.strategies s
LEFT JOIN ops.trades t ON t.strategy_id = s.id AND t.account_id = %(account)s
     AND t.event_date BETWEEN %(start)s AND %(end)s
WHERE EXISTS (SELECT 1 FROM ops.trades x WHERE x.account_id = %(account)s AND x.strategy_id = s.id)
   OR EXISTS (SELECT 1 FROM ops.account_strategies x
              WHERE x.account_id = %(account)s AND x.strategy_id = s.id)
GROUP BY s.id, s.name ORDER BY s.name
"""


def ref_strategies(conn: psycopg.Connection, w: Window, account: int) -> list[dict[str, Any]]:
    out = []
    params = {"start": w.start, "end": w.end, "account": account}
    for row in conn.execute(REF_STRATEGY_SQL, params).fetchall():
        (
            sid,
            name,
            signals,
            settled,
            brier,
            n,
            realized,
            net,
            wins,
            losses,
            profit,
            loss,
            edge,
            real_edge,
        ) = row
        net = int(net)
        first = first_trade_day(conn, account, sid)
        per_day = daily_net(conn, account, sid)
        series = [per_day.get(d, 0) for d in calendar(max(w.start, first), w.end)] if first else []
        cum = np.cumsum([0, *series])
        out.append(
            {
                "strategy": name,
                "signals": signals,
                "settled_signals": settled,
                "brier_score": float(brier) if brier is not None else None,
                "trades": n,
                "realized_trades": realized,
                "net_pnl_dollars": dollars(net),
                "wins": wins,
                "losses": losses,
                "win_rate": wins / (wins + losses) if wins + losses else None,
                "profit_factor": int(profit) / int(loss) if loss else None,
                "expectancy_dollars": Fraction(net, realized * MICROS) if realized else None,
                "avg_edge": float(edge) if edge is not None else None,
                "realized_edge": float(real_edge) if real_edge is not None else None,
                "max_drawdown_dollars": dollars(int(np.max(np.maximum.accumulate(cum) - cum))),
                "sharpe": np_sharpe(np.array(series, dtype=float)),
            }
        )
    return out


def ref_calibration(
    conn: psycopg.Connection, w: Window, account: int, strategy: str | None = None
) -> list[tuple[int, int, Any, Any]]:
    rows = conn.execute(
        """
        SELECT least(floor(g.model_prob * 10), 9)::int AS b, count(*), avg(g.model_prob),
               avg((m.result = 'yes')::int)
        FROM ops.signals g JOIN ops.markets m ON m.id = g.market_id
        JOIN ops.strategies s ON s.id = g.strategy_id
        WHERE m.result IS NOT NULL AND g.event_date BETWEEN %(start)s AND %(end)s
          AND g.account_id = %(account)s
          AND (%(strategy)s::text IS NULL OR s.name = %(strategy)s::text)
        GROUP BY b
        """,
        {"start": w.start, "end": w.end, "strategy": strategy, "account": account},
    ).fetchall()
    found = {b: (n, float(p), float(o)) for b, n, p, o in rows}
    return [(b, *found.get(b, (0, None, None))) for b in range(10)]


# --- comparison ----------------------------------------------------------------------------


def assert_same(got: Any, want: dict[str, Any]) -> None:
    """Every field of the result equals the independent computation's; a field the oracle does
    not compute fails here, so a new result field cannot go unchecked. Money and contracts are
    Decimal (compared exactly; sent as strings), an average of money is compared with the
    exact fraction (within half a micro)."""
    fields = got.to_dict()
    assert sorted(fields) == sorted(want), "the oracle and the result type have different fields"
    for key, expected in want.items():
        actual = getattr(got, key)
        if isinstance(expected, Fraction):
            assert isinstance(actual, Decimal), key
            assert abs(Fraction(actual) - expected) <= HALF_MICRO, (key, actual, expected)
        elif isinstance(expected, Decimal):
            assert isinstance(actual, Decimal) and actual == expected, (key, actual, expected)
            assert fields[key] == str(actual)  # JSON: the decimal string
        elif isinstance(expected, float) or isinstance(actual, float):
            assert close(actual, expected), (key, actual, expected)
        else:
            assert actual == expected, (key, actual, expected)


@dataclass
class Reports:
    cities: CityMetricsReport
    equity: EquityCurve
    strategies: StrategyMetricsReport


async def check_everything(db_url: str, w: Window, account: str = "default") -> Reports:
    """Run every query for ``account`` on ``w`` and compare it with the independent path;
    check that the views reconcile. Returns the reports for case-specific assertions."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
        cities = await read_city_metrics(aconn, w, account=account)
        equity = await read_equity_curve(aconn, w, account=account)
        strategies = await read_strategy_metrics(aconn, w, account=account)
        calibration = {None: await read_calibration(aconn, w, account=account)}
        by_strategy = {}
        for x in strategies.strategies:
            by_strategy[x.strategy] = await read_city_metrics(aconn, w, x.strategy, account=account)
            calibration[x.strategy] = await read_calibration(aconn, w, x.strategy, account=account)
    with psycopg.connect(db_url, autocommit=True) as conn:
        aid = account_id(conn, account)
        for report in (cities, equity, strategies):
            assert report.account.name == account
        want_cities = ref_city(conn, w, aid)
        assert [c.city for c in cities.cities] == [c["city"] for c in want_cities]
        for got, want in zip(cities.cities, want_cities, strict=True):
            assert_same(got, want)
        for name, report in by_strategy.items():
            for got, want in zip(report.cities, ref_city(conn, w, aid, name), strict=True):
                assert_same(got, want)

        ref = ref_equity(conn, w, aid)
        assert [p.date for p in equity.points] == ref.days
        assert [p.daily_pnl_dollars for p in equity.points] == [dollars(v) for v in ref.pnl]
        assert [p.equity_dollars for p in equity.points] == [dollars(v) for v in ref.equity]
        assert equity.transfers_dollars == dollars(ref.transfers)
        s = equity.summary
        assert s.start_equity_dollars == dollars(ref.opening)
        assert s.end_equity_dollars == dollars(ref.end)
        assert close(s.sharpe, ref.sharpe) and close(s.sortino, ref.sortino)
        assert s.max_drawdown_dollars == dollars(ref.max_dd)
        assert close(s.max_drawdown_pct, ref.max_dd_pct)
        if ref.pnl:
            assert s.best_day is not None and s.best_day.pnl_dollars == dollars(max(ref.pnl))
            assert s.worst_day is not None and s.worst_day.pnl_dollars == dollars(min(ref.pnl))

        want_strategies = ref_strategies(conn, w, aid)
        assert [x.strategy for x in strategies.strategies] == [
            x["strategy"] for x in want_strategies
        ]
        for got_s, want_s in zip(strategies.strategies, want_strategies, strict=True):
            assert_same(got_s, want_s)

        for name, bins in calibration.items():
            for got_b, (bucket, n, mean_prob, freq) in zip(
                bins, ref_calibration(conn, w, aid, name), strict=True
            ):
                assert (got_b.bucket, got_b.n) == (bucket, n)
                assert close(got_b.mean_prob, mean_prob) and close(got_b.observed_freq, freq)

    # The views reconcile: same net P&L three ways, same trade count two ways.
    city_net = sum(c.net_pnl_dollars for c in cities.cities)
    assert city_net == sum(x.net_pnl_dollars for x in strategies.strategies)
    assert city_net == sum(p.daily_pnl_dollars for p in equity.points)
    assert sum(c.trades for c in cities.cities) == sum(x.trades for x in strategies.strategies)
    return Reports(cities, equity, strategies)


async def check_comparison(db_url: str, w: Window, mode: str | None = None) -> ComparisonReport:
    """The comparison over ``w``: every public account (of ``mode``) once, each row what the
    account's own equity curve and the raw rows say, the totals the sums of its rows."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
        report = await read_comparison(aconn, w, mode=mode, max_points=10_000)
        curves = {
            row.account.name: await read_equity_curve(aconn, w, account=row.account.name)
            for row in report.accounts
        }
    with psycopg.connect(db_url, autocommit=True) as conn:
        public = conn.execute(
            "SELECT name, id, starting_bankroll_micros FROM ops.accounts"
            " WHERE is_public AND (%(m)s::text IS NULL OR mode = %(m)s::text) ORDER BY name",
            {"m": mode},
        ).fetchall()
        assert sorted(r.account.name for r in report.accounts) == [p[0] for p in public]
        for row, (name, aid, bankroll) in zip(
            sorted(report.accounts, key=lambda r: r.account.name), public, strict=True
        ):
            ref = ref_equity(conn, w, aid)
            raw = conn.execute(
                "SELECT count(*),"
                " coalesce(sum(fee_micros) FILTER (WHERE realized_pnl_micros IS NOT NULL), 0),"
                " coalesce(sum(realized_pnl_micros - fee_micros), 0),"
                " count(*) FILTER (WHERE realized_pnl_micros - fee_micros > 0),"
                " count(*) FILTER (WHERE realized_pnl_micros - fee_micros < 0)"
                " FROM ops.trades WHERE account_id = %s AND event_date BETWEEN %s AND %s",
                [aid, w.start, w.end],
            ).fetchone()
            assert raw is not None
            trades, fees, net, wins, losses = (int(v) for v in raw)
            exposure = conn.execute(
                "SELECT coalesce(sum(price_micros::numeric * open_qty_centi / 100), 0)"
                " FROM ops.trades WHERE account_id = %s AND action = 'buy'"
                " AND realized_pnl_micros IS NULL",
                [aid],
            ).fetchone()
            assert exposure is not None
            before_end = sum(v for d, v in daily_net(conn, aid).items() if d <= w.end)
            assert row.equity_dollars == dollars(bankroll + ref.transfers + before_end)
            if ref.days:
                assert row.equity_dollars == dollars(ref.end)
            assert row.net_pnl_dollars == dollars(net)
            assert close(row.return_on_bankroll, net / bankroll)
            assert (row.trades, row.fees_dollars) == (trades, dollars(fees))
            assert close(row.win_rate, wins / (wins + losses) if wins + losses else None)
            assert row.open_risk_dollars == dollars(int(exposure[0]))
            assert row.starting_bankroll_dollars == dollars(bankroll)
            curve = curves[name]
            assert row.account == curve.account
            assert close(row.sharpe, ref.sharpe) and close(row.sortino, ref.sortino)
            assert close(row.max_drawdown_pct, ref.max_dd_pct)
            assert row.max_drawdown_dollars == curve.summary.max_drawdown_dollars
            # The curve: one value per day of the report's days, null before the account's
            # first day and only there, then its own equity curve over its bankroll.
            shown = [
                (d, v) for d, v in zip(report.curve_days, row.curve, strict=True) if v is not None
            ]
            blank = len(row.curve) - len(shown)
            assert row.curve[:blank] == [None] * blank
            assert [d for d, _ in shown] == [p.date for p in curve.points]
            assert all(
                close(v, float(q.equity_dollars) * MICROS / bankroll)
                for (_, v), q in zip(shown, curve.points, strict=True)
            )
    assert report.curve_days == [w.start + timedelta(days=k) for k in range(w.days)]
    # The report's own JSON conversion gives what the generic one gives.
    assert report.to_dict() == Result.to_dict(report)
    assert report.total_trades == sum(r.trades for r in report.accounts)
    assert report.total_fees_dollars == sum(r.fees_dollars for r in report.accounts)
    return report


# --- hand-made cases, recorded through the write path --------------------------------------


class Book:
    """Records markets, signals, trades and settlements through milkbot.store, for one
    account (default: ``default``, its risk limits raised out of the way)."""

    def __init__(self, conn: psycopg.Connection, account: str = "default") -> None:
        self.conn = conn
        self.account = account
        roomy_limits(conn, account)

    def event(self, city: str, day: date) -> list[str]:
        """Tickers T44, B45.5, B47.5, T49 of CITY's event on ``day``."""
        return add_event(self.conn, city, day)

    def trade(
        self,
        ticker: str,
        side: str,
        action: str,
        qty: int,
        price: int,
        at: datetime,
        strategy: str = "daily_high_temp",
        model_prob: float | None = None,
    ) -> int:
        """Record a fill of ``qty`` contracts at ``price`` cents; returns its net fee in
        cents (every hand-made price is whole cents, so every fee is too)."""
        recorded = record_trade(
            self.conn,
            TradeIn(
                account=self.account,
                client_trade_id=uuid.uuid4().hex,
                ticker=ticker,
                strategy=strategy,
                side=side,
                action=action,
                count=Decimal(qty),
                price_dollars=Decimal(price) / 100,
                executed_at=at,
                model_prob=model_prob,
            ),
        )
        fee, rest = divmod(recorded.fee_micros, 10_000)
        assert rest == 0
        return fee

    def signal(
        self, ticker: str, prob: float, price: int, at: datetime, strategy: str = "daily_high_temp"
    ) -> None:
        record_signal(
            self.conn,
            SignalIn(
                account=self.account,
                strategy=strategy,
                ticker=ticker,
                created_at=at,
                model_prob=prob,
                yes_price_dollars=Decimal(price) / 100,
                decision="HOLD",
            ),
        )

    def settle(self, ticker_of_event: str, high: int, at: datetime) -> None:
        event = ticker_of_event.rsplit("-", 1)[0]
        settle_event(
            self.conn, SettlementIn(event_ticker=event, observed_high_f=high, settled_at=at)
        )


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


MARCH = Window(date(2026, 3, 1), date(2026, 3, 10))


async def test_no_trades_gives_zeros_and_a_flat_curve(db_url: str) -> None:
    r = await check_everything(db_url, MARCH)
    assert len(r.cities.cities) == 10
    assert all(c.trades == 0 and c.win_rate is None and c.roi is None for c in r.cities.cities)
    assert r.equity.points == []
    assert r.equity.summary.start_equity_dollars == r.equity.summary.end_equity_dollars
    assert r.equity.summary.end_equity_dollars == dollars(BANKROLL)
    assert r.equity.summary.sharpe is None and r.equity.summary.best_day is None
    assert all(s.signals == 0 and s.brier_score is None for s in r.strategies.strategies)


async def test_one_trade(db_url: str, conn: psycopg.Connection) -> None:
    book = Book(conn)
    day = date(2026, 3, 5)
    tickers = book.event("NYC", day)
    fee = book.trade(tickers[1], "yes", "buy", 10, 40, at(day, 12), model_prob=0.55)
    book.signal(tickers[1], 0.55, 40, at(day, 12))
    book.settle(tickers[1], 46, at(day + timedelta(days=1), 14))
    r = await check_everything(db_url, MARCH)
    nyc = next(c for c in r.cities.cities if c.city == "NYC")
    assert fee == 17  # ceil(0.07 * 10 * 0.40 * 0.60 dollars)
    assert (nyc.trades, nyc.gross_pnl_dollars, nyc.fees_dollars, nyc.net_pnl_dollars) == (
        1,
        Decimal("6.00"),
        Decimal("0.17"),
        Decimal("5.83"),
    )
    assert (nyc.wins, nyc.losses, nyc.win_rate) == (1, 0, 1.0)
    assert nyc.realized_cost_dollars == Decimal("4.00")
    assert close(nyc.roi, 583 / 400)
    assert r.equity.summary.end_equity_dollars == dollars(BANKROLL) + Decimal("5.83")
    assert r.equity.points[0].date == day  # the curve starts at the first settlement day
    strategy = next(s for s in r.strategies.strategies if s.strategy == "daily_high_temp")
    assert close(strategy.avg_edge, 0.15) and close(strategy.realized_edge, 0.60)
    assert close(strategy.brier_score, (0.55 - 1) ** 2)


async def test_all_losses(db_url: str, conn: psycopg.Connection) -> None:
    book = Book(conn)
    for i, city in enumerate(("CHI", "MIA", "DEN")):
        day = date(2026, 3, 2 + 2 * i)
        tickers = book.event(city, day)
        book.trade(tickers[2], "yes", "buy", 5 + i, 30 + 10 * i, at(day, 13), "nowcast", 0.6)
        book.trade(tickers[0], "no", "buy", 3, 80, at(day, 14), "ensemble", 0.9)
        book.settle(tickers[0], 44, at(day + timedelta(days=1)))  # T44 YES: both lose
    r = await check_everything(db_url, MARCH)
    assert sum(c.wins for c in r.cities.cities) == 0
    assert sum(c.losses for c in r.cities.cities) == 6
    assert all(c.win_rate == 0.0 for c in r.cities.cities if c.trades)
    s = r.equity.summary
    assert s.max_drawdown_dollars == dollars(BANKROLL) - s.end_equity_dollars > 0
    assert s.peak_date == date(2026, 3, 1)  # the opening equity, the day before the first point
    assert s.sortino is not None and s.sortino < 0
    losers = [x for x in r.strategies.strategies if x.trades]
    assert all(x.profit_factor == 0.0 and x.net_pnl_dollars < 0 for x in losers)


async def test_trade_on_a_daylight_saving_change_day(db_url: str, conn: psycopg.Connection) -> None:
    """US clocks sprang forward on 2026-03-08. A trade executed at 04:30 UTC on 03-09 - 00:30 by
    the New York clock on the 9th - is still in NYC's climate day of the 8th (local standard
    time), and it belongs to its market's settlement day whatever the clock says."""
    book = Book(conn)
    dst_day = date(2026, 3, 8)
    tickers = book.event("NYC", dst_day)
    executed = datetime(2026, 3, 9, 4, 30, tzinfo=UTC)
    book.trade(tickers[3], "yes", "buy", 3, 20, executed)
    book.settle(tickers[3], 46, datetime(2026, 3, 9, 12, tzinfo=UTC))
    on_the_day = await check_everything(db_url, Window(dst_day, dst_day))
    day_after = await check_everything(db_url, Window(date(2026, 3, 9), date(2026, 3, 9)))
    nyc = next(c for c in on_the_day.cities.cities if c.city == "NYC")
    assert (nyc.trades, nyc.net_pnl_dollars) == (1, Decimal("-0.64"))
    assert sum(c.trades for c in day_after.cities.cities) == 0
    assert [p.daily_pnl_dollars for p in on_the_day.equity.points] == [Decimal("-0.64")]


async def test_market_settled_after_the_window_end(db_url: str, conn: psycopg.Connection) -> None:
    """The P&L belongs to the settlement day (event_date), not to the day it was settled on;
    a market whose settlement day is after the window is not in it at all."""
    book = Book(conn)
    inside = book.event("LAX", date(2026, 3, 10))
    after = book.event("LAX", date(2026, 3, 11))
    book.trade(inside[1], "no", "buy", 4, 60, at(date(2026, 3, 9)))
    book.trade(after[1], "yes", "buy", 1, 50, at(date(2026, 3, 10)))
    book.settle(inside[1], 50, at(date(2026, 3, 12)))  # settled two days after the window end
    book.settle(after[1], 46, at(date(2026, 3, 12)))
    r = await check_everything(db_url, MARCH)
    lax = next(c for c in r.cities.cities if c.city == "LAX")
    assert (lax.trades, lax.contracts, lax.net_pnl_dollars) == (1, 4, Decimal("1.53"))
    assert r.equity.points[-1].date == MARCH.end
    assert r.equity.points[-1].daily_pnl_dollars == Decimal("1.53")


async def test_unsettled_position_is_exposure_not_pnl(
    db_url: str, conn: psycopg.Connection
) -> None:
    book = Book(conn)
    day = date(2026, 3, 7)
    bos, den = book.event("BOS", day), book.event("DEN", day)
    book.trade(bos[1], "yes", "buy", 6, 25, at(day, 10))
    book.trade(den[2], "yes", "buy", 10, 50, at(day, 10), "ensemble", 0.62)
    sell_fee = book.trade(den[2], "yes", "sell", 4, 60, at(day, 11), "ensemble")
    r = await check_everything(db_url, MARCH)
    cities = {c.city: c for c in r.cities.cities}
    assert (cities["BOS"].trades, cities["BOS"].open_exposure_dollars) == (1, Decimal("1.50"))
    assert cities["BOS"].realized_trades == 0 and cities["BOS"].net_pnl_dollars == 0
    # The sale realises (60 - 50) x 4 at once; the 6 contracts left are exposure.
    assert cities["DEN"].net_pnl_dollars == (Decimal(40) - sell_fee) / 100
    assert cities["DEN"].open_exposure_dollars == Decimal("3.00")
    assert cities["DEN"].roi is None  # no realised buy yet: ROI's denominator is 0


async def test_mixed_book_with_history_before_the_window(
    db_url: str, conn: psycopg.Connection
) -> None:
    book = Book(conn)
    old = book.event("SEA", date(2026, 2, 20))
    book.trade(old[1], "yes", "buy", 2, 50, at(date(2026, 2, 19)))
    book.settle(old[1], 45, at(date(2026, 2, 21)))
    nyc = book.event("NYC", date(2026, 3, 5))
    chi = book.event("CHI", date(2026, 3, 6))
    book.trade(nyc[1], "yes", "buy", 10, 40, at(date(2026, 3, 4)), model_prob=0.5)
    book.trade(nyc[1], "no", "buy", 5, 70, at(date(2026, 3, 4)), "mean_reversion", 0.75)
    book.trade(chi[2], "yes", "buy", 20, 30, at(date(2026, 3, 5)), model_prob=0.4)
    book.trade(chi[2], "yes", "sell", 8, 45, at(date(2026, 3, 5), 18))
    for i, p in enumerate((0.05, 0.15, 0.5, 0.55, 0.95, 1.0)):
        book.signal(nyc[i % 4], p, 40, at(date(2026, 3, 4), 10 + i))
        book.signal(chi[i % 4], p, 30, at(date(2026, 3, 5), 10 + i), "mean_reversion")
    book.settle(nyc[1], 46, at(date(2026, 3, 6)))
    book.settle(chi[2], 52, at(date(2026, 3, 7)))
    r = await check_everything(db_url, MARCH)
    assert r.equity.summary.start_equity_dollars == dollars(BANKROLL) + Decimal("0.96")
    cities = {c.city: c for c in r.cities.cities}
    assert cities["NYC"].net_pnl_dollars == Decimal("2.25")  # 5.83 - 3.58
    # CHI: the sale realises (45 - 30) x 8 - 14 = 106; the 12 held lose 360 + the buy's fee 30.
    assert cities["CHI"].net_pnl_dollars == Decimal("-2.84")  # 1.06 - 3.90
    assert (cities["CHI"].wins, cities["CHI"].losses) == (1, 1)
    await check_everything(db_url, Window(date(2026, 2, 1), date(2026, 3, 31)))
    with pytest.raises(AnalyticsInputError) as err:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
            await read_city_metrics(aconn, MARCH, "no_such_strategy", account="default")
    assert err.value.field == "strategy"


# --- generated data ------------------------------------------------------------------------


async def test_generated_history_matches_the_raw_trades(db_url: str) -> None:
    """A year of generated trading (the package's seeded generator, bulk loaded with the
    aggregates rebuilt): every query equals the recomputation over several windows - the last
    30 days (with open positions at its end), the whole history, both 2026 daylight-saving
    changes, and a window that starts before the first trade."""
    report = generate_dataset(db_url, trades=20_000, seed=7)
    end = report.end_date
    windows = [
        Window.last(30, end),
        Window(report.first_day, end),
        Window(date(2026, 3, 1), date(2026, 3, 15)),
        Window(date(2026, 10, 25), date(2026, 11, 8)),
        Window(report.first_day - timedelta(days=20), report.first_day + timedelta(days=9)),
        Window.last(1, end),
    ]
    for w in windows:
        if w.end < report.first_day or w.start > end:
            continue
        r = await check_everything(db_url, w)
        assert sum(c.trades for c in r.cities.cities) > 0
    with psycopg.connect(db_url) as conn:
        span = conn.execute("SELECT min(event_date), max(event_date) FROM ops.trades").fetchone()
        # Each account's trade and signal counts, and a few accounts to check whole: the
        # flagship, the busiest generated one and the one with the fewest trades.
        counts = {
            name: (trades, signals)
            for name, trades, signals in conn.execute(
                """
                SELECT a.name,
                       (SELECT count(*) FROM ops.trades t WHERE t.account_id = a.id),
                       (SELECT count(*) FROM ops.signals s WHERE s.account_id = a.id)
                FROM ops.accounts a WHERE a.is_public
                """
            )
        }
    assert span is not None and span[1] <= end  # a day's buying starts after the day before settles
    trading = sorted((n for n, (t, _) in counts.items() if t), key=lambda n: (counts[n][0], n))
    assert len(trading) >= 3
    assert sum(t for t, _ in counts.values()) <= report.counts["ops.trades"]
    for name in dict.fromkeys(["default", trading[0], trading[-1]]):
        full = await check_everything(db_url, Window(span[0], span[1]), name)
        assert sum(c.trades for c in full.cities.cities) == counts[name][0]
        assert sum(x.signals for x in full.strategies.strategies) == counts[name][1]


async def test_corrections_and_rebuilds_keep_every_view_exact(
    db_url: str, conn: psycopg.Connection
) -> None:
    """A corrected settlement (the climate report was revised) moves P&L between trades and
    signals between outcomes; a rebuild of the aggregates (TRUNCATE + one INSERT) replaces all
    of them. The roll-ups follow both."""
    book = Book(conn)
    day = date(2026, 3, 4)
    tickers = book.event("PHL", day)
    book.trade(tickers[1], "yes", "buy", 9, 35, at(day, 9), "nowcast", 0.5)
    book.trade(tickers[2], "no", "buy", 4, 55, at(day, 9), "ensemble", 0.6)
    book.signal(tickers[1], 0.42, 35, at(day, 8), "nowcast")
    book.signal(tickers[2], 0.18, 45, at(day, 8), "ensemble")
    book.settle(tickers[1], 46, at(day + timedelta(days=1)))
    before = await check_everything(db_url, MARCH)
    book.settle(tickers[1], 48, at(day + timedelta(days=2)))  # corrected: B47.5 won instead
    after = await check_everything(db_url, MARCH)
    assert before.cities.cities != after.cities.cities
    conn.execute("SELECT analytics.rebuild_aggregates()")
    rebuilt = await check_everything(db_url, MARCH)
    assert rebuilt.cities.cities == after.cities.cities
    for x, y in zip(rebuilt.strategies.strategies, after.strategies.strategies, strict=True):
        assert close(x.brier_score, y.brier_score) and x.signals == y.signals


# --- several accounts ----------------------------------------------------------------------


def new_account(
    conn: psycopg.Connection,
    name: str,
    mode: str = "demo",
    bankroll: str = "500.00",
    *,
    public: bool = True,
) -> str:
    environment = {"live": "production", "demo": "demo"}.get(mode, "simulated")
    create_account(
        conn,
        AccountIn(
            name=name,
            display_name=name.replace("_", " ").title(),
            mode=mode,  # type: ignore[arg-type]
            environment=environment,  # type: ignore[arg-type]
            starting_bankroll_dollars=Decimal(bankroll),
            is_public=public,
            strategies=("nowcast",),
        ),
    )
    return name


def two_books(conn: psycopg.Connection) -> tuple[Book, Book]:
    """The default account and a paper bot trading the same markets, differently."""
    new_account(conn, "paper_one")
    live, paper = Book(conn), Book(conn, "paper_one")
    nyc = live.event("NYC", date(2026, 3, 5))
    chi = live.event("CHI", date(2026, 3, 6))
    live.trade(nyc[1], "yes", "buy", 10, 40, at(date(2026, 3, 4)), model_prob=0.5)
    paper.trade(nyc[1], "no", "buy", 7, 62, at(date(2026, 3, 4)), "nowcast", 0.7)
    paper.trade(nyc[2], "yes", "buy", 3, 21, at(date(2026, 3, 4)), "nowcast", 0.3)
    live.trade(chi[2], "yes", "buy", 20, 30, at(date(2026, 3, 5)), model_prob=0.4)
    paper.trade(chi[2], "yes", "buy", 5, 31, at(date(2026, 3, 5)), "nowcast", 0.45)
    paper.trade(chi[2], "yes", "sell", 2, 44, at(date(2026, 3, 5), 18), "nowcast")
    live.signal(nyc[1], 0.5, 40, at(date(2026, 3, 4)))
    paper.signal(nyc[1], 0.3, 40, at(date(2026, 3, 4)), "nowcast")
    paper.signal(chi[0], 0.15, 12, at(date(2026, 3, 5)), "nowcast")
    live.settle(nyc[1], 46, at(date(2026, 3, 6)))
    live.settle(chi[2], 52, at(date(2026, 3, 7)))
    return live, paper


async def test_two_accounts_trading_the_same_markets_never_mix(
    db_url: str, conn: psycopg.Connection
) -> None:
    two_books(conn)
    live = await check_everything(db_url, MARCH)
    paper = await check_everything(db_url, MARCH, "paper_one")
    assert sum(c.trades for c in live.cities.cities) == 2
    assert sum(c.trades for c in paper.cities.cities) == 4
    assert paper.equity.summary.start_equity_dollars == Decimal("500.00")
    assert [x.strategy for x in paper.strategies.strategies] == ["nowcast"]
    total = conn.execute("SELECT sum(realized_pnl_micros - fee_micros) FROM ops.trades").fetchone()
    assert total is not None
    both = sum(c.net_pnl_dollars for c in live.cities.cities + paper.cities.cities)
    assert both == dollars(int(total[0]))
    # Nothing of paper_one in the default account's figures, and the reverse.
    assert live.cities.account.name == "default" and paper.cities.account.name == "paper_one"
    assert paper.cities.account.mode == "demo"


async def test_transfers_move_equity_not_pnl(db_url: str, conn: psycopg.Connection) -> None:
    _, paper = two_books(conn)
    for n, (amount, when) in enumerate(
        [
            ("100.00", datetime(2026, 2, 20, 12, tzinfo=UTC)),  # before the window
            ("250.50", datetime(2026, 3, 2, 23, 59, tzinfo=UTC)),  # before the first trade day
            ("-40.25", datetime(2026, 3, 6, 1, tzinfo=UTC)),  # on a curve day
            ("75.00", datetime(2026, 3, 11, 0, 0, tzinfo=UTC)),  # after the window
        ]
    ):
        record_transfer(
            conn,
            TransferIn(
                account=paper.account,
                client_transfer_id=f"x{n}",
                amount_dollars=Decimal(amount),
                transferred_at=when,
            ),
        )
    r = await check_everything(db_url, MARCH, "paper_one")
    assert r.equity.transfers_dollars == Decimal("310.25")
    assert r.equity.summary.start_equity_dollars == Decimal("850.50")
    net = sum(p.daily_pnl_dollars for p in r.equity.points)
    assert r.equity.summary.end_equity_dollars == Decimal("810.25") + net
    assert r.equity.summary.total_pnl_dollars == net - Decimal("40.25")
    await check_comparison(db_url, MARCH)


async def test_private_and_unknown_accounts_are_refused_alike(
    db_url: str, conn: psycopg.Connection
) -> None:
    new_account(conn, "hidden_bot", public=False)
    Book(conn, "hidden_bot")
    errors = {}
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
        for name in ("hidden_bot", "no_such_bot"):
            for read in (read_city_metrics, read_equity_curve, read_strategy_metrics):
                with pytest.raises(UnknownAccountError) as err:
                    await read(aconn, MARCH, account=name)
                assert err.value.field == "account" and isinstance(err.value, AnalyticsInputError)
                errors[name] = err.value.message.replace(name, "NAME")
            with pytest.raises(UnknownAccountError):
                await read_calibration(aconn, MARCH, account=name)
        report = await read_comparison(aconn, MARCH)
    assert errors["hidden_bot"] == errors["no_such_bot"]
    assert "hidden_bot" not in {r.account.name for r in report.accounts}


async def test_comparison_of_accounts(db_url: str, conn: psycopg.Connection) -> None:
    two_books(conn)
    new_account(conn, "replay_idle", "replay", "2000.00")
    new_account(conn, "hidden_bot", "demo", public=False)
    hidden = Book(conn, "hidden_bot")
    hidden.trade(
        hidden.event("MIA", date(2026, 3, 8))[0], "yes", "buy", 3, 20, at(date(2026, 3, 7))
    )
    everyone = await check_comparison(db_url, MARCH)
    returns = [r.return_on_bankroll for r in everyone.accounts]
    assert returns == sorted(returns, reverse=True)  # the default order
    assert {r.account.name for r in everyone.accounts} == {"default", "paper_one", "replay_idle"}
    idle = next(r for r in everyone.accounts if r.account.name == "replay_idle")
    assert (idle.trades, idle.equity_dollars, idle.curve, idle.sharpe) == (
        0,
        Decimal("2000.00"),
        [None] * MARCH.days,
        None,
    )
    # Windows that start before, on and after the accounts' first settlement days (Mar 5 and
    # 6), with and without a row on their first day, and that end before the last one.
    for first in range(1, 9):
        for last in range(max(first, 5), 11):
            await check_comparison(db_url, Window(date(2026, 3, first), date(2026, 3, last)))
    demo = await check_comparison(db_url, MARCH, "demo")
    assert [r.account.name for r in demo.accounts] == ["paper_one"]
    assert demo.total_trades == 4
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
        for sort in ("name", "equity", "trades", "fees", "sharpe", "open_risk", "win_rate"):
            for descending in (False, True):
                r = await read_comparison(aconn, MARCH, sort=sort, descending=descending)
                keys = [getattr(x, {"name": "account", "equity": "equity_dollars",
                                    "fees": "fees_dollars", "open_risk": "open_risk_dollars"}
                                .get(sort, sort)) for x in r.accounts]  # fmt: skip
                if sort == "name":
                    keys = [k.name for k in keys]
                defined = [k for k in keys if k is not None]
                assert defined == sorted(defined, reverse=descending), (sort, keys)
                assert keys[len(defined) :] == [None] * (len(keys) - len(defined))
        thin = await read_comparison(
            aconn, Window(date(2026, 3, 1), date(2026, 3, 31)), max_points=2
        )
        assert thin.curve_days == [date(2026, 3, 1), date(2026, 3, 31)]
        assert all(len(r.curve) == 2 for r in thin.accounts)
        whole = Window(date(2026, 3, 1), date(2026, 3, 31))
        five = await read_comparison(aconn, whole, max_points=5)
        assert [d.day for d in five.curve_days] == [1, 9, 16, 23, 31]  # evenly, both ends
        for bad in ({"mode": "paper"}, {"sort": "equity_cents"}, {"max_points": 1}):
            with pytest.raises(AnalyticsInputError) as err:
                await read_comparison(aconn, MARCH, **bad)  # type: ignore[arg-type]
            assert err.value.field == next(iter(bad))

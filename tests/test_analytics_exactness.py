"""Every analytics figure recomputed from the raw rows (ops.trades, ops.signals, ops.markets)
by a separate path written here - plain SQL over the trades and numpy for the ratios - and
compared: cents exactly, ratios within 1e-9.

The risk ratios follow empyrical's definitions (Quantopian's reference library, re-implemented
here with numpy, not imported): Sharpe = mean(r) / std(r, ddof=1) * sqrt(365); Sortino =
mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(365); max drawdown = min((v - cummax(v)) / cummax(v))
over the value series with the starting value prepended.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from milkbot.analytics import (
    AnalyticsInputError,
    CityMetricsReport,
    EquityCurve,
    StrategyMetricsReport,
    Window,
    read_calibration,
    read_city_metrics,
    read_equity_curve,
    read_strategy_metrics,
)
from milkbot.generator import generate_dataset
from milkbot.store.models import SettlementIn, SignalIn, TradeIn
from milkbot.store.writes import record_signal, record_trade, settle_event
from tests.helpers import add_event

BANKROLL = 99_210
TOL = 1e-9


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


# --- the independent path ------------------------------------------------------------------

REF_CITY_SQL = """
SELECT c.code,
       count(t.id),
       coalesce(sum(t.quantity), 0),
       count(t.id) FILTER (WHERE t.realized_pnl_cents IS NOT NULL),
       coalesce(sum(t.realized_pnl_cents), 0),
       coalesce(sum(t.fee_cents) FILTER (WHERE t.realized_pnl_cents IS NOT NULL), 0),
       coalesce(sum(t.realized_pnl_cents - t.fee_cents), 0),
       count(t.id) FILTER (WHERE t.realized_pnl_cents - t.fee_cents > 0),
       count(t.id) FILTER (WHERE t.realized_pnl_cents - t.fee_cents < 0),
       coalesce(sum(t.price * t.quantity)
                FILTER (WHERE t.realized_pnl_cents IS NOT NULL AND t.action = 'buy'), 0),
       coalesce(sum(t.price * t.open_qty)
                FILTER (WHERE t.realized_pnl_cents IS NULL AND t.action = 'buy'), 0)
FROM ops.cities c
LEFT JOIN ops.trades t ON t.city_code = c.code AND t.event_date BETWEEN %(start)s AND %(end)s
     AND (%(strategy)s::text IS NULL
          OR t.strategy_id = (SELECT id FROM ops.strategies WHERE name = %(strategy)s::text))
GROUP BY c.code ORDER BY c.code
"""


def ref_city(conn: psycopg.Connection, w: Window, strategy: str | None = None) -> list[dict]:
    rows = conn.execute(REF_CITY_SQL, {"start": w.start, "end": w.end, "strategy": strategy})
    out = []
    for code, n, qty, realized, gross, fees, net, wins, losses, cost, exposure in rows:
        out.append(
            {
                "city": code,
                "trades": n,
                "contracts": int(qty),
                "realized_trades": realized,
                "gross_pnl_cents": int(gross),
                "fees_cents": int(fees),
                "net_pnl_cents": int(net),
                "wins": wins,
                "losses": losses,
                "realized_cost_cents": int(cost),
                "open_exposure_cents": int(exposure),
                "win_rate": wins / (wins + losses) if wins + losses else None,
                "avg_net_pnl_cents": int(net) / realized if realized else None,
                "roi": int(net) / int(cost) if cost else None,
            }
        )
    return out


def daily_net(conn: psycopg.Connection, strategy_id: int | None = None) -> dict[date, int]:
    rows = conn.execute(
        "SELECT event_date, coalesce(sum(realized_pnl_cents - fee_cents), 0) FROM ops.trades"
        " WHERE %(s)s::int IS NULL OR strategy_id = %(s)s::int GROUP BY event_date",
        {"s": strategy_id},
    )
    return {d: int(v) for d, v in rows}


def first_trade_day(conn: psycopg.Connection, strategy_id: int | None = None) -> date | None:
    row = conn.execute(
        "SELECT min(event_date) FROM ops.trades"
        " WHERE %(s)s::int IS NULL OR strategy_id = %(s)s::int",
        {"s": strategy_id},
    ).fetchone()
    return row[0] if row else None


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
    sharpe: float | None
    sortino: float | None
    max_dd_pct: float
    max_dd_cents: int


def ref_equity(conn: psycopg.Connection, w: Window, bankroll: int) -> RefEquity:
    net = daily_net(conn)
    first = first_trade_day(conn)
    opening = bankroll + sum(v for d, v in net.items() if d < w.start)
    days = calendar(max(w.start, first), w.end) if first else []
    pnl = [net.get(d, 0) for d in days]
    equity = list(np.cumsum([opening, *pnl]).astype(np.int64))
    values = np.array(equity, dtype=float)
    returns = np.diff(values) / values[:-1]
    peak = np.maximum.accumulate(np.array(equity, dtype=np.int64))
    return RefEquity(
        days,
        pnl,
        [int(v) for v in equity[1:]],
        opening,
        np_sharpe(returns),
        np_sortino(returns),
        np_max_drawdown(values) * 100,
        int(np.max(peak - np.array(equity))),
    )


REF_STRATEGY_SQL = """
SELECT s.id, s.name,
       (SELECT count(*) FROM ops.signals g
        WHERE g.strategy_id = s.id AND g.event_date BETWEEN %(start)s AND %(end)s),
       (SELECT count(*) FROM ops.signals g JOIN ops.markets m ON m.id = g.market_id
        WHERE g.strategy_id = s.id AND g.event_date BETWEEN %(start)s AND %(end)s
          AND m.result IS NOT NULL),
       (SELECT avg((g.model_prob - (m.result = 'yes')::int) ^ 2)
        FROM ops.signals g JOIN ops.markets m ON m.id = g.market_id
        WHERE g.strategy_id = s.id AND g.event_date BETWEEN %(start)s AND %(end)s
          AND m.result IS NOT NULL),
       count(t.id),
       count(t.id) FILTER (WHERE t.realized_pnl_cents IS NOT NULL),
       coalesce(sum(t.realized_pnl_cents - t.fee_cents), 0),
       count(t.id) FILTER (WHERE t.realized_pnl_cents - t.fee_cents > 0),
       count(t.id) FILTER (WHERE t.realized_pnl_cents - t.fee_cents < 0),
       coalesce(sum(t.realized_pnl_cents - t.fee_cents)
                FILTER (WHERE t.realized_pnl_cents - t.fee_cents > 0), 0),
       coalesce(sum(t.fee_cents - t.realized_pnl_cents)
                FILTER (WHERE t.realized_pnl_cents - t.fee_cents < 0), 0),
       avg(t.model_prob - t.price / 100.0),
       avg((t.payout_cents - t.price) / 100.0)
FROM ops.strategies s
LEFT JOIN ops.trades t ON t.strategy_id = s.id AND t.event_date BETWEEN %(start)s AND %(end)s
GROUP BY s.id, s.name ORDER BY s.name
"""


def ref_strategies(conn: psycopg.Connection, w: Window) -> list[dict]:
    out = []
    for row in conn.execute(REF_STRATEGY_SQL, {"start": w.start, "end": w.end}).fetchall():
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
        first = first_trade_day(conn, sid)
        per_day = daily_net(conn, sid)
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
                "net_pnl_cents": net,
                "wins": wins,
                "losses": losses,
                "win_rate": wins / (wins + losses) if wins + losses else None,
                "profit_factor": int(profit) / int(loss) if loss else None,
                "expectancy_cents": net / realized if realized else None,
                "avg_edge": float(edge) if edge is not None else None,
                "realized_edge": float(real_edge) if real_edge is not None else None,
                "max_drawdown_cents": int(np.max(np.maximum.accumulate(cum) - cum)),
                "sharpe": np_sharpe(np.array(series, dtype=float)),
            }
        )
    return out


def ref_calibration(
    conn: psycopg.Connection, w: Window, strategy: str | None = None
) -> list[tuple[int, int, Any, Any]]:
    rows = conn.execute(
        """
        SELECT least(floor(g.model_prob * 10), 9)::int AS b, count(*), avg(g.model_prob),
               avg((m.result = 'yes')::int)
        FROM ops.signals g JOIN ops.markets m ON m.id = g.market_id
        JOIN ops.strategies s ON s.id = g.strategy_id
        WHERE m.result IS NOT NULL AND g.event_date BETWEEN %(start)s AND %(end)s
          AND (%(strategy)s::text IS NULL OR s.name = %(strategy)s::text)
        GROUP BY b
        """,
        {"start": w.start, "end": w.end, "strategy": strategy},
    ).fetchall()
    found = {b: (n, float(p), float(o)) for b, n, p, o in rows}
    return [(b, *found.get(b, (0, None, None))) for b in range(10)]


# --- comparison ----------------------------------------------------------------------------


def assert_same(got: dict, want: dict) -> None:
    """Every field of the result equals the independent computation's; a field the oracle does
    not compute fails here, so a new result field cannot go unchecked."""
    assert sorted(got) == sorted(want), "the oracle and the result type have different fields"
    for key, expected in want.items():
        actual = got[key]
        if isinstance(expected, float) or isinstance(actual, float):
            assert close(actual, expected), (key, actual, expected)
        else:
            assert actual == expected, (key, actual, expected)


@dataclass
class Reports:
    cities: CityMetricsReport
    equity: EquityCurve
    strategies: StrategyMetricsReport


async def check_everything(db_url: str, w: Window, bankroll: int = BANKROLL) -> Reports:
    """Run every query on ``w`` and compare it with the independent path; check that the
    views reconcile. Returns the reports for case-specific assertions."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
        cities = await read_city_metrics(aconn, w)
        equity = await read_equity_curve(aconn, w, bankroll)
        strategies = await read_strategy_metrics(aconn, w)
        calibration = {None: await read_calibration(aconn, w)}
        by_strategy = {}
        for x in strategies.strategies:
            by_strategy[x.strategy] = await read_city_metrics(aconn, w, x.strategy)
            calibration[x.strategy] = await read_calibration(aconn, w, x.strategy)
    with psycopg.connect(db_url, autocommit=True) as conn:
        want_cities = ref_city(conn, w)
        assert [c.city for c in cities.cities] == [c["city"] for c in want_cities]
        for got, want in zip(cities.cities, want_cities, strict=True):
            assert_same(got.to_dict(), want)
        for name, report in by_strategy.items():
            for got, want in zip(report.cities, ref_city(conn, w, name), strict=True):
                assert_same(got.to_dict(), want)

        ref = ref_equity(conn, w, bankroll)
        assert [p.date for p in equity.points] == ref.days
        assert [p.daily_pnl_cents for p in equity.points] == ref.pnl
        assert [p.equity_cents for p in equity.points] == ref.equity
        s = equity.summary
        assert s.start_equity_cents == ref.opening
        assert s.end_equity_cents == (ref.equity[-1] if ref.equity else ref.opening)
        assert close(s.sharpe, ref.sharpe) and close(s.sortino, ref.sortino)
        assert s.max_drawdown_cents == ref.max_dd_cents
        assert close(s.max_drawdown_pct, ref.max_dd_pct)
        if ref.pnl:
            assert s.best_day is not None and s.best_day.pnl_cents == max(ref.pnl)
            assert s.worst_day is not None and s.worst_day.pnl_cents == min(ref.pnl)

        want_strategies = ref_strategies(conn, w)
        assert [x.strategy for x in strategies.strategies] == [
            x["strategy"] for x in want_strategies
        ]
        for got_s, want_s in zip(strategies.strategies, want_strategies, strict=True):
            assert_same(got_s.to_dict(), want_s)

        for name, bins in calibration.items():
            for got_b, (bucket, n, mean_prob, freq) in zip(
                bins, ref_calibration(conn, w, name), strict=True
            ):
                assert (got_b.bucket, got_b.n) == (bucket, n)
                assert close(got_b.mean_prob, mean_prob) and close(got_b.observed_freq, freq)

    # The views reconcile: same net P&L three ways, same trade count two ways.
    city_net = sum(c.net_pnl_cents for c in cities.cities)
    assert city_net == sum(x.net_pnl_cents for x in strategies.strategies)
    assert city_net == sum(p.daily_pnl_cents for p in equity.points)
    assert sum(c.trades for c in cities.cities) == sum(x.trades for x in strategies.strategies)
    return Reports(cities, equity, strategies)


# --- hand-made cases, recorded through the write path --------------------------------------


class Book:
    """Records markets, signals, trades and settlements through milkbot.store.writes."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

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
        recorded = record_trade(
            self.conn,
            TradeIn(
                client_trade_id=uuid.uuid4().hex,
                ticker=ticker,
                strategy=strategy,
                side=side,
                action=action,
                quantity=qty,
                price=price,  # type: ignore[arg-type]
                executed_at=at,
                model_prob=model_prob,
            ),
        )
        return recorded.fee_cents

    def signal(
        self, ticker: str, prob: float, price: int, at: datetime, strategy: str = "daily_high_temp"
    ) -> None:
        record_signal(
            self.conn,
            SignalIn(
                strategy=strategy,
                ticker=ticker,
                created_at=at,
                model_prob=prob,
                yes_price=price,
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
    assert r.equity.summary.start_equity_cents == r.equity.summary.end_equity_cents == BANKROLL
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
    assert (nyc.trades, nyc.gross_pnl_cents, nyc.fees_cents, nyc.net_pnl_cents) == (1, 600, 17, 583)
    assert (nyc.wins, nyc.losses, nyc.win_rate, nyc.realized_cost_cents) == (1, 0, 1.0, 400)
    assert close(nyc.roi, 583 / 400)
    assert r.equity.summary.end_equity_cents == BANKROLL + 583
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
    assert s.max_drawdown_cents == BANKROLL - s.end_equity_cents > 0
    assert s.peak_date == date(2026, 3, 1)  # the opening equity, the day before the first point
    assert s.sortino is not None and s.sortino < 0
    losers = [x for x in r.strategies.strategies if x.trades]
    assert all(x.profit_factor == 0.0 and x.net_pnl_cents < 0 for x in losers)


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
    assert (nyc.trades, nyc.net_pnl_cents) == (1, -60 - 4)
    assert sum(c.trades for c in day_after.cities.cities) == 0
    assert [p.daily_pnl_cents for p in on_the_day.equity.points] == [-64]


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
    assert (lax.trades, lax.contracts, lax.net_pnl_cents) == (1, 4, 160 - 7)
    assert r.equity.points[-1].date == MARCH.end
    assert r.equity.points[-1].daily_pnl_cents == 153


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
    assert (cities["BOS"].trades, cities["BOS"].open_exposure_cents) == (1, 150)
    assert cities["BOS"].realized_trades == 0 and cities["BOS"].net_pnl_cents == 0
    # The sale realises (60 - 50) x 4 at once; the 6 contracts left are exposure.
    assert cities["DEN"].net_pnl_cents == 40 - sell_fee
    assert cities["DEN"].open_exposure_cents == 300
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
    assert r.equity.summary.start_equity_cents == BANKROLL + 100 - 4
    cities = {c.city: c for c in r.cities.cities}
    assert cities["NYC"].net_pnl_cents == 583 - 358
    # CHI: the sale realises (45 - 30) x 8 - 14 = 106; the 12 held lose 360 + the buy's fee 30.
    assert cities["CHI"].net_pnl_cents == 106 - 390
    assert (cities["CHI"].wins, cities["CHI"].losses) == (1, 1)
    await check_everything(db_url, Window(date(2026, 2, 1), date(2026, 3, 31)))
    with pytest.raises(AnalyticsInputError) as err:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
            await read_city_metrics(aconn, MARCH, "no_such_strategy")
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
    assert span is not None and span[1] >= end  # markets listed for tomorrow already trade
    full = await check_everything(db_url, Window(span[0], span[1]))
    assert sum(c.trades for c in full.cities.cities) == report.counts["ops.trades"]
    assert sum(x.signals for x in full.strategies.strategies) == report.counts["ops.signals"]
    assert sum(c.open_exposure_cents for c in full.cities.cities) > 0


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

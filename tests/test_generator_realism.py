"""A generated history checked as an auditor would: every account keeps every risk limit on
every day (common.md's definitions, recomputed here from the raw rows), equity never goes below
zero, money is exact at Kalshi's precision, prices sit on their market's grid, shadow accounts
only signal, and the accounts' figures fall in docs/DOMAIN.md's plausible ranges."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from milkbot.generator import GenerationReport, generate_dataset
from milkbot.money import on_grid_array
from milkbot.reference import load_reference
from tests.test_migrations import assert_aggregates_equal_a_rebuild

END = date(2026, 3, 9)
# 01:30 UTC: the last day's buying is under way (it starts once the day before has settled).
NOW = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)
TRADES = 200_000
BP = 10_000


@pytest.fixture(scope="module")
def generated(make_database: Callable[[], str]) -> tuple[str, GenerationReport]:
    url = make_database()
    return url, generate_dataset(url, trades=TRADES, seed=42, end_date=END, now=NOW)


@pytest.fixture
def db(generated: tuple[str, GenerationReport]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(generated[0]) as conn:
        yield conn


def _accounts(conn: psycopg.Connection[Any]) -> dict[int, dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, name, mode, is_public, starting_bankroll_micros, max_trade_bp, max_city_bp,"
        " max_cluster_bp, max_open_bp, daily_loss_bp FROM ops.accounts ORDER BY id"
    ).fetchall()
    keys = ("name", "mode", "public", "bankroll", "trade", "city", "cluster", "open", "loss")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def _equity(conn: psycopg.Connection[Any]) -> dict[tuple[int, date], tuple[int, int]]:
    """(account, event day) -> (equity when the day's buying starts, the day's net realised
    P&L): starting bankroll + transfers before its first buy + net P&L of every earlier day."""
    accounts = _accounts(conn)
    net: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for account_id, day, value in conn.execute(
        "SELECT account_id, event_date, sum(realized_pnl_micros - fee_micros)"
        " FILTER (WHERE realized_pnl_micros IS NOT NULL) FROM ops.trades GROUP BY 1, 2 ORDER BY 1, 2"
    ):
        net[account_id].append((day, int(value or 0)))
    firsts = {
        (a, d): t
        for a, d, t in conn.execute(
            "SELECT account_id, event_date, min(created_at) FROM ops.trades GROUP BY 1, 2"
        )
    }
    transfers: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for a, when, amount in conn.execute(
        "SELECT account_id, transferred_at, amount_micros FROM ops.account_transfers"
    ):
        transfers[a].append((when, int(amount)))
    out = {}
    for account_id, days in net.items():
        earned = 0
        for day, value in days:
            first = firsts[(account_id, day)]
            moved = sum(amount for when, amount in transfers[account_id] if when < first)
            out[(account_id, day)] = (accounts[account_id]["bankroll"] + moved + earned, value)
            earned += value
    return out


def test_every_buy_keeps_its_account_s_limits(db: psycopg.Connection[Any]) -> None:
    """Per trade, per city, per cluster and in all, every buy of an event day counted open
    from its fill to the day's end (the next check shows nothing else is open then)."""
    accounts = _accounts(db)
    equity = _equity(db)
    clusters = {c.code: c.cluster for c in load_reference().cities}
    city_cost: dict[tuple[int, date, str], int] = defaultdict(int)
    cluster_cost: dict[tuple[int, date, str], int] = defaultdict(int)
    open_cost: dict[tuple[int, date], int] = defaultdict(int)
    checked = 0
    for account_id, day, city, cost, biggest in db.execute(
        "SELECT account_id, event_date, city_code, sum(price_micros * quantity_centi / 100),"
        " max(price_micros * quantity_centi / 100) FROM ops.trades WHERE action = 'buy'"
        " GROUP BY 1, 2, 3"
    ):
        a, start = accounts[account_id], equity[(account_id, day)][0]
        assert biggest * BP <= a["trade"] * start, (account_id, day, city)
        city_cost[(account_id, day, city)] += int(cost)
        cluster_cost[(account_id, day, clusters[city])] += int(cost)
        open_cost[(account_id, day)] += int(cost)
        checked += 1
    assert checked > 1000
    for (account_id, day, _), cost in city_cost.items():
        assert cost * BP <= accounts[account_id]["city"] * equity[(account_id, day)][0]
    for (account_id, day, _), cost in cluster_cost.items():
        assert cost * BP <= accounts[account_id]["cluster"] * equity[(account_id, day)][0]
    for (account_id, day), cost in open_cost.items():
        assert cost * BP <= accounts[account_id]["open"] * equity[(account_id, day)][0]


def test_an_event_day_is_bought_only_once_everything_before_is_settled(
    db: psycopg.Connection[Any],
) -> None:
    """So the day's buys are all that is open while they are made and the equity they are
    measured against is the day's own: every earlier trade of the account is realised before
    its first buy of the day, its sales of the day come after its last buy, and deposits
    before its first buy."""
    row = db.execute(
        """
        WITH days AS (
            SELECT account_id, event_date,
                   min(created_at) FILTER (WHERE action = 'buy') AS first_buy,
                   max(created_at) FILTER (WHERE action = 'buy') AS last_buy,
                   min(created_at) FILTER (WHERE action = 'sell') AS first_sale,
                   max(coalesce(realized_at, 'infinity')) AS last_realised
            FROM ops.trades GROUP BY 1, 2
        ),
        ordered AS (
            SELECT *, max(last_realised) OVER (
                PARTITION BY account_id ORDER BY event_date
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_realised
            FROM days
        )
        SELECT count(*) FILTER (WHERE earlier_realised >= first_buy) AS overlapping,
               count(*) FILTER (WHERE first_sale <= last_buy) AS early_sales,
               (SELECT count(*) FROM ops.account_transfers x JOIN days d
                  ON d.account_id = x.account_id
                 AND x.transferred_at BETWEEN d.first_buy AND d.last_buy) AS mid_day_transfers,
               count(*) AS days
        FROM ordered
        """
    ).fetchone()
    assert row is not None
    assert row[:3] == (0, 0, 0) and row[3] > 1000


def test_a_day_that_lost_the_daily_limit_pauses_the_next(db: psycopg.Connection[Any]) -> None:
    accounts = _accounts(db)
    equity = _equity(db)
    buys = {
        (a, d)
        for a, d in db.execute(
            "SELECT DISTINCT account_id, event_date FROM ops.trades WHERE action = 'buy'"
        )
    }
    paused = 0
    for (account_id, day), (start, net) in equity.items():
        if -net * BP >= accounts[account_id]["loss"] * start:
            paused += 1
            assert (account_id, day + timedelta(days=1)) not in buys, (account_id, day)


def test_equity_never_goes_below_zero(db: psycopg.Connection[Any]) -> None:
    equity = _equity(db)
    assert min(start for start, _ in equity.values()) > 0
    assert min(start + net for start, net in equity.values()) > 0


def test_money_is_exact_and_prices_sit_on_their_market_s_grid(
    db: psycopg.Connection[Any], generated: tuple[str, GenerationReport]
) -> None:
    row = db.execute(
        "SELECT count(*) FILTER (WHERE fee_micros <> trade_fee_micros + rounding_fee_micros - rebate_micros),"
        " count(*) FILTER (WHERE price_micros * quantity_centi % 100 <> 0),"
        " count(*) FILTER (WHERE realized_pnl_micros IS NOT NULL AND payout_micros IS NOT NULL"
        "   AND realized_pnl_micros <> (payout_micros - price_micros) * open_qty_centi / 100),"
        " count(*) FILTER (WHERE NOT m.fractional_trading_enabled AND t.quantity_centi % 100 <> 0),"
        " count(*) FILTER (WHERE m.fractional_trading_enabled AND t.quantity_centi % 100 <> 0),"
        " count(*) FILTER (WHERE m.price_level_structure = 'tapered_deci_cent'"
        "   AND t.price_micros % 10000 <> 0)"
        " FROM ops.trades t JOIN ops.markets m ON m.id = t.market_id"
    ).fetchone()
    assert row is not None
    assert row[:4] == (0, 0, 0, 0)
    assert row[4] > 100, "fractional markets have fractional fills"
    assert row[5] > 100, "tapered markets trade on $0.001 ticks in the tails"
    for structure, prices in db.execute(
        "SELECT m.price_level_structure, array_agg(t.price_micros) FROM ops.trades t"
        " JOIN ops.markets m ON m.id = t.market_id GROUP BY 1"
    ):
        assert on_grid_array(structure, np.array(prices, dtype=np.int64)).all(), structure
    for structure, prices in db.execute(
        "SELECT m.price_level_structure, array_agg(s.yes_price_micros) FROM ops.signals s"
        " JOIN ops.markets m ON m.id = s.market_id GROUP BY 1"
    ):
        assert on_grid_array(structure, np.array(prices, dtype=np.int64)).all(), structure
    share = db.execute(
        "SELECT avg((price_level_structure = 'tapered_deci_cent')::int),"
        " avg(fractional_trading_enabled::int) FROM ops.markets"
    ).fetchone()
    assert share is not None and 0.1 < share[0] < 0.5 and 0.1 < share[1] < 0.5


def test_aggregates_equal_a_fresh_rebuild(generated: tuple[str, GenerationReport]) -> None:
    with psycopg.connect(generated[0]) as conn:
        assert_aggregates_equal_a_rebuild(conn)


def test_accounts_of_every_kind_shadow_ones_only_signal(db: psycopg.Connection[Any]) -> None:
    rows = db.execute(
        "SELECT a.mode, a.environment, a.is_public, count(DISTINCT a.id),"
        " (SELECT count(*) FROM ops.trades t WHERE t.account_id = ANY(array_agg(a.id))),"
        " (SELECT count(*) FROM ops.signals s WHERE s.account_id = ANY(array_agg(a.id))),"
        " (SELECT count(*) FROM ops.account_strategies s WHERE s.account_id = ANY(array_agg(a.id)))"
        " FROM ops.accounts a GROUP BY 1, 2, 3"
    ).fetchall()
    by_mode: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        by_mode[r[0]].append(r)
    assert set(by_mode) == {"live", "demo", "replay", "shadow"}
    assert all(r[4] == 0 and r[5] > 0 for r in by_mode["shadow"])
    assert all(r[4] > 0 and r[6] >= r[3] for m in ("live", "demo", "replay") for r in by_mode[m])
    assert {r[1] for r in by_mode["live"]} == {"production"}
    assert {r[1] for r in by_mode["replay"]} == {"simulated"}
    assert any(not r[2] for r in rows), "some accounts are private"
    span = db.execute(
        "SELECT max(last - first) FROM (SELECT min(t.event_date) AS first,"
        " max(t.event_date) AS last FROM ops.trades t JOIN ops.accounts a ON a.id = t.account_id"
        " WHERE a.mode = 'replay' GROUP BY a.id) r"
    ).fetchone()
    assert span is not None and span[0] <= 365


# Per-account figures recomputed from the raw rows (also run by hand on the 10M dataset).
DAILY_SQL = """
SELECT t.account_id, t.event_date,
       count(*) AS trades,
       sum(CASE WHEN t.realized_pnl_micros IS NOT NULL
                THEN t.realized_pnl_micros - t.fee_micros ELSE 0 END)::bigint AS net,
       count(*) FILTER (WHERE t.realized_pnl_micros - t.fee_micros > 0) AS wins,
       count(*) FILTER (WHERE t.realized_pnl_micros - t.fee_micros < 0) AS losses,
       bool_and(t.realized_pnl_micros IS NOT NULL OR t.action = 'sell') AS settled
FROM ops.trades t GROUP BY 1, 2 ORDER BY 1, 2
"""
ACCOUNTS_SQL = """
SELECT a.id, a.name, a.mode, a.starting_bankroll_micros AS bankroll,
       coalesce((SELECT sum(amount_micros) FROM ops.account_transfers x WHERE x.account_id = a.id), 0)
           AS transfers
FROM ops.accounts a ORDER BY a.id
"""


@dataclass(frozen=True)
class Figures:
    account_id: int
    name: str
    mode: str
    days: int  # active (trading) days
    trades_per_day: float
    annual_return: float
    max_drawdown: float
    sharpe: float
    win_rate: float
    lowest_equity: int


def account_figures(conn: psycopg.Connection[Any]) -> list[Figures]:
    """Figures of every account with at least one settled trading day."""
    accounts = {r[0]: r[1:] for r in conn.execute(ACCOUNTS_SQL).fetchall()}
    days: dict[int, list[tuple[date, int, int, int, int, bool]]] = defaultdict(list)
    for account_id, day, trades, net, wins, losses, settled in conn.execute(DAILY_SQL):
        days[account_id].append((day, trades, int(net), wins, losses, settled))
    out = []
    for account_id, rows in days.items():
        name, mode, bankroll, transfers = accounts[account_id]
        settled = [r for r in rows if r[5]]
        if not settled:
            continue
        start = int(bankroll) + int(transfers)
        equity = start + np.cumsum([r[2] for r in settled])
        before = np.concatenate([[start], equity[:-1]])
        returns = np.array([r[2] for r in settled]) / before
        peak = np.maximum.accumulate(np.concatenate([[start], equity]))
        drawdown = float(((peak - np.concatenate([[start], equity])) / peak).max())
        span = (settled[-1][0] - settled[0][0]).days + 1
        growth = equity[-1] / start
        annual = growth ** (365.0 / max(span, 1)) - 1 if growth > 0 else -1.0
        sd = float(returns.std())
        wins, losses = sum(r[3] for r in settled), sum(r[4] for r in settled)
        out.append(
            Figures(
                account_id=account_id,
                name=name,
                mode=mode,
                days=len(rows),
                trades_per_day=sum(r[1] for r in rows) / len(rows),
                annual_return=float(annual),
                max_drawdown=drawdown,
                sharpe=float(returns.mean() / sd * math.sqrt(365)) if sd > 0 else 0.0,
                win_rate=wins / max(wins + losses, 1),
                lowest_equity=int(min(start, int(equity.min()))),
            )
        )
    return out


def percentiles(values: list[float], points: tuple[int, ...] = (5, 25, 50, 75, 95)) -> str:
    """ "P5 x / P25 y / ..." of ``values``."""
    array = np.array(values)
    return " / ".join(f"P{p} {np.percentile(array, p):.3g}" for p in points)


def summary(figures: list[Figures], min_days: int = 60) -> dict[str, str]:
    """Percentiles of each figure over the accounts active at least ``min_days`` days."""
    chosen = [f for f in figures if f.days >= min_days]
    return {
        "accounts": str(len(chosen)),
        "annual_return": percentiles([f.annual_return for f in chosen]),
        "max_drawdown": percentiles([f.max_drawdown for f in chosen]),
        "sharpe": percentiles([f.sharpe for f in chosen]),
        "win_rate": percentiles([f.win_rate for f in chosen]),
        "trades_per_day": percentiles([f.trades_per_day for f in chosen]),
    }


def _share_within(figures: list[Figures], attribute: str, low: float, high: float) -> float:
    values: list[float] = [getattr(f, attribute) for f in figures]
    return sum(low <= v <= high for v in values) / len(values)


def test_accounts_look_like_real_weather_bots(db: psycopg.Connection[Any]) -> None:
    """docs/DOMAIN.md's plausibility bounds, for most accounts trading 60 days or more."""
    figures = [f for f in account_figures(db) if f.days >= 60]
    assert len(figures) >= 5
    assert _share_within(figures, "annual_return", -0.3, 0.8) >= 0.6
    assert _share_within(figures, "max_drawdown", 0.03, 0.4) >= 0.7
    assert _share_within(figures, "sharpe", -1.0, 3.5) >= 0.6
    assert _share_within(figures, "win_rate", 0.2, 0.55) == 1.0
    assert _share_within(figures, "trades_per_day", 10, 100) >= 0.9
    assert min(f.lowest_equity for f in figures) > 0

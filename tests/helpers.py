"""Small builders shared by tests that record data through the write path."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg

from milkbot.market import Bracket, event_ticker, trading_hours
from milkbot.money import PriceLevelStructure
from milkbot.reference import load_reference
from milkbot.store.models import MarketIn, TradeIn
from milkbot.store.writes import record_market

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
# The account migration 0006 moved every earlier row into (id 1, bankroll $992.10).
ACCOUNT = "default"


def add_event(
    conn: psycopg.Connection,
    city: str = "NYC",
    day: date = date(2026, 3, 10),
    brackets: tuple[tuple[int | None, int | None], ...] = (
        (None, 44),
        (45, 46),
        (47, 48),
        (49, None),
    ),
    *,
    price_level_structure: PriceLevelStructure = "linear_cent",
    fractional_trading_enabled: bool = False,
) -> list[str]:
    """List one event's markets (tails and 2 F brackets) and return their tickers."""
    c = load_reference().city(city)
    event = event_ticker(c, day)
    opens, closes = trading_hours(c.timezone, day)
    tickers = []
    for lo, hi in brackets:
        ticker = Bracket(lo, hi).ticker(event)
        record_market(
            conn,
            MarketIn(
                ticker=ticker,
                event_ticker=event,
                city_code=city,
                event_date=day,
                floor_f=lo,
                cap_f=hi,
                opened_at=opens,
                closes_at=closes,
                price_level_structure=price_level_structure,
                fractional_trading_enabled=fractional_trading_enabled,
            ),
        )
        tickers.append(ticker)
    return tickers


def cents(value: int) -> Decimal:
    """Whole cents as the dollar Decimal Kalshi writes: 40 -> Decimal("0.40")."""
    return Decimal(value) / 100


def make_trade(ticker: str, **changes: object) -> TradeIn:
    """A valid buy of 5 YES at $0.40 in ``ticker`` at T0 by account ``default``, with
    ``changes`` applied."""
    fields: dict[str, object] = {
        "account": ACCOUNT,
        "client_trade_id": "t1",
        "ticker": ticker,
        "strategy": "daily_high_temp",
        "side": "yes",
        "action": "buy",
        "count": "5.00",
        "price_dollars": "0.40",
        "executed_at": T0,
        **changes,
    }
    return TradeIn(**fields)


def roomy_limits(conn: psycopg.Connection, account: str = ACCOUNT) -> None:
    """Raise ``account``'s risk limits to 100 % of equity, for tests about something else
    that hold many open positions at once."""
    conn.execute(
        "UPDATE ops.accounts SET max_trade_bp = 10000, max_city_bp = 10000,"
        " max_cluster_bp = 10000, max_open_bp = 10000, daily_loss_bp = 10000 WHERE name = %s",
        [account],
    )

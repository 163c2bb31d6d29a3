"""Small builders shared by tests that record data through the write path."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from milkbot.market import Bracket, event_ticker, trading_hours
from milkbot.reference import load_reference
from milkbot.store.models import MarketIn, TradeIn
from milkbot.store.writes import record_market

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


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
            ),
        )
        tickers.append(ticker)
    return tickers


def make_trade(ticker: str, **changes: object) -> TradeIn:
    """A valid buy of 5 YES at 40c in ``ticker`` at T0, with ``changes`` applied."""
    fields: dict[str, object] = {
        "client_trade_id": "t1",
        "ticker": ticker,
        "strategy": "daily_high_temp",
        "side": "yes",
        "action": "buy",
        "quantity": 5,
        "price": 40,
        "executed_at": T0,
        **changes,
    }
    return TradeIn(**fields)  # type: ignore[arg-type]

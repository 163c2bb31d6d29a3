"""Every bad value that could reach the database is refused as a WriteError naming the field.

The models refuse it first (pydantic's ValidationError, naming the field); a model that skipped
validation (``model_copy(update=...)``, ``model_construct``) is validated again by the write
function, which refuses it with a WriteError and a stable code, and writes nothing. What the
models cannot know (a constraint, a value out of a column's range) the database refuses, and
that too comes back as a WriteError.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel, ValidationError

from milkbot.store.errors import WriteError, database_errors
from milkbot.store.models import HeartbeatIn, MarketIn, SettlementIn, SignalIn
from milkbot.store.writes import (
    post_heartbeat,
    record_market,
    record_signal,
    record_trade,
    settle_event,
    settle_market,
)
from tests.helpers import T0, add_event, make_trade

EVENT = "KXHIGHNY-26MAR10"
# 0001-01-01 at +05:00 is before year 1 in UTC: Python cannot even convert it.
BEFORE_YEAR_ONE = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def _market(**kw: Any) -> MarketIn:
    return MarketIn(
        ticker=f"{EVENT}-T60",
        event_ticker=EVENT,
        city_code="NYC",
        event_date=date(2026, 3, 10),
        floor_f=60,
        opened_at=T0 - timedelta(days=1),
        closes_at=T0 + timedelta(days=1),
        **kw,
    )


def _signal(ticker: str) -> SignalIn:
    return SignalIn(
        account="default",
        strategy="daily_high_temp",
        ticker=ticker,
        created_at=T0,
        model_prob=0.4,
        yes_price_dollars="0.35",
        decision="BUY",
        forecast_high_f=46.0,
    )


Write = Callable[[psycopg.Connection, Any], object]
# (write function, builder of a valid input from the event's tickers, field, bad value, code)
CASES: list[tuple[Write, Callable[[list[str]], BaseModel], str, object, str]] = [
    (record_market, lambda t: _market(), "title", "bracket\x00", "nul_character"),
    (record_market, lambda t: _market(), "title", "x" * 201, "too_long"),
    (record_market, lambda t: _market(), "floor_f", 99_999, "out_of_range"),
    (record_market, lambda t: _market(), "event_date", date(1, 1, 1), "out_of_range"),
    (record_market, lambda t: _market(), "opened_at", BEFORE_YEAR_ONE, "out_of_range"),
    (record_market, lambda t: _market(), "ticker", f"{EVENT}-T6\x00", "invalid"),
    (record_signal, lambda t: _signal(t[1]), "model_prob", float("nan"), "not_finite"),
    (record_signal, lambda t: _signal(t[1]), "forecast_high_f", float("inf"), "not_finite"),
    (record_signal, lambda t: _signal(t[1]), "yes_price_dollars", "400", "out_of_range"),
    (record_signal, lambda t: _signal(t[1]), "yes_price_dollars", "0.3500001", "too_precise"),
    (record_signal, lambda t: _signal(t[1]), "yes_price_dollars", 0.35, "binary_float"),
    (record_signal, lambda t: _signal(t[1]), "account", "Default", "invalid"),
    (record_market, lambda t: _market(), "taker_fee_rate", "0.070001", "too_precise"),
    (record_market, lambda t: _market(), "taker_fee_rate", "1", "out_of_range"),
    (record_market, lambda t: _market(), "price_level_structure", "quarter_cent", "invalid"),
    (record_signal, lambda t: _signal(t[1]), "created_at", FAR_FUTURE, "out_of_range"),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "client_trade_id",
        "v\x001",
        "nul_character",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "client_trade_id",
        "v" * 101,
        "too_long",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "count",
        "1000000.01",
        "out_of_range",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "price_dollars",
        "327.68",
        "out_of_range",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "trade_fee_dollars",
        "1000000.01",
        "out_of_range",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "rebate_dollars",
        "0.0000001",
        "too_precise",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "count",
        "NaN",
        "not_finite",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "order_id",
        2**63,
        "out_of_range",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "model_prob",
        float("nan"),
        "not_finite",
    ),
    (
        record_trade,
        lambda t: make_trade(t[1], client_trade_id="v1"),
        "executed_at",
        datetime(2026, 3, 10),
        "invalid",
    ),
    (
        settle_event,
        lambda t: SettlementIn(event_ticker=EVENT, observed_high_f=46),
        "observed_high_f",
        99_999,
        "out_of_range",
    ),
    (
        settle_event,
        lambda t: SettlementIn(event_ticker=EVENT, observed_high_f=46),
        "event_ticker",
        "KXHIGHNY\x00",
        "invalid",
    ),
    (
        post_heartbeat,
        lambda t: HeartbeatIn(account="default", component="trader"),
        "message",
        "ok\x00",
        "nul_character",
    ),
    (
        post_heartbeat,
        lambda t: HeartbeatIn(account="default", component="trader"),
        "message",
        "x" * 501,
        "too_long",
    ),
    (
        post_heartbeat,
        lambda t: HeartbeatIn(account="default", component="trader"),
        "component",
        "trader\x00",
        "invalid",
    ),
    (
        post_heartbeat,
        lambda t: HeartbeatIn(account="default", component="trader"),
        "observed_at",
        BEFORE_YEAR_ONE,
        "out_of_range",
    ),
]


def _everything(conn: psycopg.Connection) -> tuple[Any, ...]:
    """Every row a write could add or change, to compare before and after a refusal."""
    return tuple(
        conn.execute(query).fetchall()
        for query in (
            "SELECT * FROM ops.markets ORDER BY id",
            "SELECT * FROM ops.signals ORDER BY id",
            "SELECT * FROM ops.trades ORDER BY id",
            "SELECT * FROM ops.positions ORDER BY account_id, strategy_id, market_id, side",
            "SELECT * FROM ops.heartbeats ORDER BY id",
            "SELECT * FROM ops.component_health ORDER BY account_id, component",
            "SELECT * FROM analytics.pnl_daily ORDER BY 1, 2, 3, 4",
            "SELECT * FROM analytics.signal_daily ORDER BY 1, 2, 3, 4",
        )
    )


@pytest.mark.parametrize(
    ("write", "build", "field", "value", "code"),
    CASES,
    ids=[f"{w.__name__}-{f}-{c}" for w, _, f, _, c in CASES],
)
def test_bad_value_is_refused_naming_the_field_and_writes_nothing(
    conn: psycopg.Connection,
    write: Write,
    build: Callable[[list[str]], BaseModel],
    field: str,
    value: object,
    code: str,
) -> None:
    tickers = add_event(conn)
    good = build(tickers)
    with pytest.raises(ValidationError) as rejected:
        type(good)(**{**good.model_dump(), field: value})
    assert rejected.value.errors()[0]["loc"][0] == field
    before = _everything(conn)
    for bad in (
        good.model_copy(update={field: value}),
        good.model_construct(**{**dict(good), field: value}),
    ):
        with pytest.raises(WriteError) as refused:
            write(conn, bad)
        assert (refused.value.field, refused.value.code) == (field, code)
        assert field in refused.value.message
    assert _everything(conn) == before
    write(conn, good)  # the same call with the good value goes through
    assert _everything(conn) != before


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"observed_high_f": 99_999}, "observed_high_f", "out_of_range"),
        ({"ticker": "KXHIGHNY-26MAR10-T44\x00"}, "ticker", "invalid"),
        ({"result": "maybe"}, "result", "invalid"),
        ({"settled_at": datetime(2026, 3, 11)}, "settled_at", "invalid"),
        ({"settled_at": BEFORE_YEAR_ONE}, "settled_at", "out_of_range"),
    ],
)
def test_settle_market_arguments_are_validated(
    conn: psycopg.Connection, kwargs: dict[str, Any], field: str, code: str
) -> None:
    tickers = add_event(conn)
    before = _everything(conn)
    args: dict[str, Any] = {"ticker": tickers[0], "result": "no", **kwargs}
    with pytest.raises(WriteError) as refused:
        settle_market(conn, **args)
    assert (refused.value.field, refused.value.code) == (field, code)
    assert _everything(conn) == before


def test_database_refusals_become_write_errors(conn: psycopg.Connection) -> None:
    # The last resort, for a rule a model lacks: what PostgreSQL (or psycopg) refuses.
    add_event(conn)
    record_trade(conn, make_trade("KXHIGHNY-26MAR10-B45.5", client_trade_id="v1"))
    with pytest.raises(WriteError) as refused, database_errors():
        conn.execute("SELECT %s::smallint", [99_999])
    assert refused.value.code == "out_of_range" and "smallint" in refused.value.message
    with pytest.raises(WriteError) as refused, database_errors():
        conn.execute("SELECT %s::text", ["a\x00b"])
    assert refused.value.code == "invalid_value" and "NUL" in refused.value.message
    with pytest.raises(WriteError) as refused, database_errors():
        conn.execute("UPDATE ops.trades SET price_micros = 1000000")
    assert (refused.value.field, refused.value.code) == ("price_dollars", "constraint")
    assert "trades_price_on_the_finest_grid" in refused.value.message
    # Not about the data: passes through as it is.
    with pytest.raises(psycopg.errors.QueryCanceled), database_errors(), conn.transaction():
        conn.execute("SET LOCAL statement_timeout = 50")
        conn.execute("SELECT pg_sleep(5)")

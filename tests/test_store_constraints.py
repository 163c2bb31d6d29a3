"""Each constraint rejects an impossible row, and nothing else is written with it."""

from datetime import date, timedelta

import psycopg
import pytest
from pydantic import ValidationError

from milkbot.store.models import MarketIn, SettlementIn, SignalIn
from milkbot.store.writes import (
    WriteError,
    record_market,
    record_signal,
    record_trade,
    settle_event,
    settle_market,
)
from tests.helpers import T0, add_event, make_trade


def _counts(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM ops.markets), (SELECT count(*) FROM ops.signals),"
        " (SELECT count(*) FROM ops.trades), (SELECT count(*) FROM ops.positions),"
        " (SELECT count(*) FROM analytics.pnl_daily),"
        " (SELECT coalesce(sum(trades), 0) FROM analytics.pnl_by_day)"
    ).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("price of $1", "UPDATE ops.trades SET price_micros = 1000000"),
        ("price of $0", "UPDATE ops.trades SET price_micros = 0"),
        ("price off the finest grid", "UPDATE ops.trades SET price_micros = 400500"),
        ("negative quantity", "UPDATE ops.trades SET quantity_centi = -1"),
        (
            "open qty beyond quantity",
            "UPDATE ops.trades SET open_qty_centi = quantity_centi + 1",
        ),
        ("payout neither $0 nor $1", "UPDATE ops.trades SET payout_micros = 500000"),
        ("unknown account", "UPDATE ops.trades SET account_id = 999"),
        ("unknown side", "UPDATE ops.trades SET side = 'maybe'"),
        ("negative fee", "UPDATE ops.trades SET trade_fee_micros = -1"),
        ("negative rebate", "UPDATE ops.trades SET rebate_micros = -1"),
        (
            "trade moved to another settlement day",
            "UPDATE ops.trades SET event_date = event_date + 1",
        ),
        ("trade relabelled to another city", "UPDATE ops.trades SET city_code = 'CHI'"),
    ],
)
def test_database_rejects_impossible_trade_rows(
    conn: psycopg.Connection, table: str, statement: str
) -> None:
    tickers = add_event(conn)
    record_trade(conn, make_trade(tickers[1]))
    before = conn.execute("SELECT * FROM ops.trades").fetchall()
    aggregates = conn.execute("SELECT * FROM analytics.pnl_daily").fetchall()
    with pytest.raises((psycopg.errors.CheckViolation, psycopg.errors.ForeignKeyViolation)):
        conn.execute(statement)
    assert conn.execute("SELECT * FROM ops.trades").fetchall() == before, table
    assert conn.execute("SELECT * FROM analytics.pnl_daily").fetchall() == aggregates


def test_unknown_city_is_rejected_with_a_clear_error(conn: psycopg.Connection) -> None:
    with pytest.raises(WriteError) as info:
        record_market(
            conn,
            MarketIn(
                ticker="KXHIGHXX-26MAR10-T44",
                event_ticker="KXHIGHXX-26MAR10",
                city_code="XXX",
                event_date=date(2026, 3, 10),
                cap_f=44,
                opened_at=T0 - timedelta(days=1),
                closes_at=T0,
            ),
        )
    assert info.value.field == "city_code"
    assert "XXX" in info.value.message
    assert _counts(conn)[0] == 0


def test_settlement_of_a_market_that_does_not_exist(conn: psycopg.Connection) -> None:
    with pytest.raises(WriteError, match="unknown market ticker"):
        settle_market(conn, "KXHIGHNY-26MAR10-B99.5", "yes")
    with pytest.raises(WriteError, match="unknown event ticker"):
        settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-01JAN01", observed_high_f=50))
    # In SQL too: a settlement needs an existing market row to update, and a trade needs one.
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "INSERT INTO ops.trades (account_id, client_trade_id, created_at, market_id, ticker,"
            " city_code, event_date, strategy_id, side, action, quantity_centi, price_micros,"
            " trade_fee_micros, open_qty_centi) VALUES (1, 'x', now(), 999, 'NOPE', 'NYC',"
            " '2026-03-10', 1, 'yes', 'buy', 100, 500000, 100, 100)"
        )


def test_trade_for_unknown_market_or_strategy_writes_nothing(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    before = _counts(conn)
    with pytest.raises(WriteError) as info:
        record_trade(conn, make_trade("KXHIGHNY-26MAR10-B99.5"))
    assert info.value.field == "ticker"
    with pytest.raises(WriteError) as info:
        record_trade(conn, make_trade(tickers[0], strategy="no_such_strategy"))
    assert info.value.field == "strategy"
    assert _counts(conn) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price_dollars", "1.00"),
        ("price_dollars", "0"),
        ("price_dollars", 0.4),
        ("price_dollars", "0.4000001"),
        ("count", "0"),
        ("count", "-3"),
        ("count", "1.005"),
        ("count", 2.5),
        ("account", "Not A Name"),
        ("trade_fee_dollars", "-0.01"),
        ("side", "up"),
        ("executed_at", "2026-03-10T12:00:00"),
        ("model_prob", 1.5),
        ("client_trade_id", ""),
    ],
)
def test_trade_input_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        make_trade("KXHIGHNY-26MAR10-T44", **{field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_signal_validation(conn: psycopg.Connection) -> None:
    with pytest.raises(ValidationError):
        SignalIn(
            account="default",
            strategy="daily_high_temp",
            ticker="KXHIGHNY-26MAR10-T44",
            created_at=T0,
            model_prob=-0.1,
            yes_price_dollars="0.50",
            decision="BUY",
        )
    tickers = add_event(conn)
    sid = record_signal(
        conn,
        SignalIn(
            account="default",
            strategy="daily_high_temp",
            ticker=tickers[0],
            created_at=T0,
            model_prob=0.25,
            yes_price_dollars="0.20",
            decision="BUY",
        ),
    )
    edge = conn.execute("SELECT edge FROM ops.signals WHERE id = %s", [sid]).fetchone()
    assert edge is not None and abs(edge[0] - 0.05) < 1e-12


def test_two_yes_markets_in_one_event_are_impossible(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    settle_market(conn, tickers[1], "yes")
    with pytest.raises(WriteError, match="only one market settled YES"):
        settle_market(conn, tickers[2], "yes")
    results = conn.execute("SELECT ticker, result FROM ops.markets ORDER BY id").fetchall()
    assert [r for _, r in results] == [None, "yes", None, None]


def test_settlement_that_no_bracket_covers_is_refused(conn: psycopg.Connection) -> None:
    add_event(conn, brackets=((45, 46), (47, 48)))  # no tails: 50 F falls outside
    with pytest.raises(WriteError, match="exactly one must win"):
        settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=50))
    assert conn.execute("SELECT count(*) FROM ops.markets WHERE result IS NOT NULL").fetchone() == (
        0,
    )


def _settled(conn: psycopg.Connection) -> list[tuple[str, str | None]]:
    return [(t, r) for t, r in conn.execute("SELECT ticker, result FROM ops.markets ORDER BY id")]


def _book(conn: psycopg.Connection) -> tuple[object, ...]:
    return tuple(
        conn.execute(q).fetchall()
        for q in (
            "SELECT * FROM ops.markets ORDER BY id",
            "SELECT * FROM ops.trades ORDER BY id",
            "SELECT * FROM ops.positions ORDER BY market_id, side",
            "SELECT * FROM analytics.pnl_daily",
            "SELECT * FROM analytics.pnl_by_day",
        )
    )


def test_settling_the_last_market_no_is_refused_and_writes_nothing(
    conn: psycopg.Connection,
) -> None:
    tickers = add_event(conn)
    record_trade(conn, make_trade(tickers[3]))
    for ticker in tickers[:3]:
        settle_market(conn, ticker, "no")
    before = _book(conn)
    with pytest.raises(WriteError) as info:
        settle_market(conn, tickers[3], "no", observed_high_f=50)
    assert (info.value.field, info.value.code) == ("result", "bad_settlement")
    assert "KXHIGHNY-26MAR10" in info.value.message and "exactly one" in info.value.message
    assert _book(conn) == before  # the buy in it is not realised either
    settle_market(conn, tickers[3], "yes", observed_high_f=50)
    assert _settled(conn)[3] == (tickers[3], "yes")
    assert conn.execute("SELECT realized_pnl_micros FROM ops.trades").fetchone() == (3_000_000,)


def test_the_only_winner_cannot_be_turned_no_but_the_event_can_be_corrected(
    conn: psycopg.Connection,
) -> None:
    tickers = add_event(conn)
    record_trade(conn, make_trade(tickers[1]))
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    before = _book(conn)
    with pytest.raises(WriteError) as info:
        settle_market(conn, tickers[1], "no")
    assert info.value.code == "bad_settlement"
    assert _book(conn) == before
    # Settling the winner again is a no-op, and a revised report moves the YES.
    assert not settle_market(conn, tickers[1], "yes").changed
    corrected = settle_event(
        conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=47)
    )
    assert corrected.changed and corrected.results[tickers[2]] == "yes"
    assert [r for _, r in _settled(conn)] == ["no", "no", "yes", "no"]
    assert conn.execute("SELECT realized_pnl_micros FROM ops.trades").fetchone() == (-2_000_000,)
    # Partial settlements may leave no YES for now: the event is not settled yet.
    for ticker in add_event(conn, day=date(2026, 3, 11))[:3]:
        settle_market(conn, ticker, "no")


def test_a_refused_settlement_inside_a_callers_transaction_undoes_only_itself(
    conn: psycopg.Connection,
) -> None:
    tickers = add_event(conn)
    with conn.transaction():
        for ticker in tickers[:3]:
            settle_market(conn, ticker, "no")
        with pytest.raises(WriteError, match="exactly one must settle YES"):
            settle_market(conn, tickers[3], "no")
        settle_market(conn, tickers[3], "yes")
    assert [r for _, r in _settled(conn)] == ["no", "no", "no", "yes"]


def test_the_database_refuses_sql_that_leaves_an_event_without_a_yes(
    conn: psycopg.Connection, db_url: str
) -> None:
    tickers = add_event(conn)
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    before = _book(conn)
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        conn.execute("UPDATE ops.markets SET result = 'no' WHERE result = 'yes'")
    assert info.value.diag.constraint_name == "markets_one_yes_when_settled"
    with pytest.raises(psycopg.errors.CheckViolation):  # deleting the winner, likewise
        conn.execute("DELETE FROM ops.markets WHERE result = 'yes'")
    assert _book(conn) == before
    # A correction by hand: old winner NO, then new winner YES, in one transaction.
    with conn.transaction():
        conn.execute("UPDATE ops.markets SET result = 'no' WHERE ticker = %s", [tickers[1]])
        conn.execute("UPDATE ops.markets SET result = 'yes' WHERE ticker = %s", [tickers[2]])
    assert [r for _, r in _settled(conn)] == ["no", "no", "yes", "no"]
    # Two transactions that each settle one of the last two open markets NO do not block each
    # other (different rows); the second to commit sees the first's result and is refused.
    other = add_event(conn, day=date(2026, 3, 11))
    settle_market(conn, other[0], "no")
    settle_market(conn, other[1], "no")
    sql = "UPDATE ops.markets SET result = 'no', settled_at = now() WHERE ticker = %s"
    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        first.execute(sql, [other[2]])
        second.execute(sql, [other[3]])
        first.commit()
        with pytest.raises(psycopg.errors.CheckViolation):
            second.commit()
    assert [r for t, r in _settled(conn) if t in other] == ["no", "no", "no", None]

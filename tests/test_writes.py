"""The write path: settlement arithmetic worked by hand, idempotency, FIFO sales, atomicity."""

import threading
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from milkbot.market import climate_day
from milkbot.settings import SettingsError, load_settings
from milkbot.store.models import HeartbeatIn, SettlementIn, TradeIn
from milkbot.store.writes import (
    WriteError,
    post_heartbeat,
    record_trade,
    settle_event,
)
from tests.helpers import T0, add_event


def buy(ticker: str, cid: str, side: str, qty: int, price: int, **kw: object) -> TradeIn:
    return TradeIn(
        client_trade_id=cid,
        ticker=ticker,
        strategy="daily_high_temp",
        side=side,
        action="buy",
        quantity=qty,
        price=price,
        executed_at=T0,
        **kw,
    )  # type: ignore[arg-type]


def sell(ticker: str, cid: str, side: str, qty: int, price: int) -> TradeIn:
    return TradeIn(
        client_trade_id=cid,
        ticker=ticker,
        strategy="daily_high_temp",
        side=side,
        action="sell",
        quantity=qty,
        price=price,
        executed_at=T0,
    )


def trade_pnl(conn: psycopg.Connection, cid: str) -> tuple[int | None, int]:
    row = conn.execute(
        "SELECT realized_pnl_cents, fee_cents FROM ops.trades WHERE client_trade_id = %s", [cid]
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def day_totals(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute(
        "SELECT trades, realized_trades, gross_pnl_cents, fees_cents, net_pnl_cents, wins, losses"
        " FROM analytics.pnl_by_day WHERE event_date = '2026-03-10'"
    ).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


def test_yes_win(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    r = record_trade(conn, buy(tickers[1], "a", "yes", 10, 40))
    assert r.fee_cents == 17  # ceil(0.07 * 10 * 0.40 * 0.60 = 0.168 dollars)
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    assert trade_pnl(conn, "a") == (600, 17)  # (100 - 40) * 10
    assert day_totals(conn) == (1, 1, 600, 17, 583, 1, 0)


def test_yes_loss(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "a", "yes", 10, 40))
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=50))
    assert trade_pnl(conn, "a") == (-400, 17)
    assert day_totals(conn) == (1, 1, -400, 17, -417, 0, 1)


def test_no_win(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "a", "no", 8, 35))
    # fee: ceil(0.07 * 8 * 0.35 * 0.65 = 0.1274) = 13 cents
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=44))
    assert trade_pnl(conn, "a") == (520, 13)  # (100 - 35) * 8
    assert day_totals(conn) == (1, 1, 520, 13, 507, 1, 0)


def test_sale_before_settlement_realises_fifo_then_rest_settles(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[2], "b1", "yes", 10, 40))  # fee 17
    record_trade(conn, buy(tickers[2], "b2", "yes", 10, 50))  # fee ceil(0.175) = 18
    s = record_trade(conn, sell(tickers[2], "s1", "yes", 15, 60))
    # fee ceil(0.07*15*0.6*0.4 = 0.252) = 26; closes 10@40 + 5@50 = 650 cost for 900 revenue.
    assert (s.realized_pnl_cents, s.fee_cents) == (250, 26)
    pos = conn.execute("SELECT open_qty, open_cost_cents FROM ops.positions").fetchone()
    assert pos == (5, 250)
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=44))  # NO
    assert trade_pnl(conn, "b1") == (0, 17)  # all of it was sold
    assert trade_pnl(conn, "b2") == (-250, 18)  # 5 left at 50, settled worthless
    # Cash check: -400 - 500 + 900 + 0 payout - (17 + 18 + 26) fees = -61.
    assert day_totals(conn) == (3, 3, 0, 61, -61, 1, 2)
    pos = conn.execute(
        "SELECT bought_qty, sold_qty, open_qty, realized_pnl_cents, fees_cents FROM ops.positions"
    ).fetchone()
    assert pos == (20, 15, 0, 0, 61)


def test_maker_fill_pays_maker_rate(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    assert record_trade(conn, buy(tickers[1], "m", "yes", 10, 50, is_taker=False)).fee_cents == 0


def test_same_trade_id_twice_changes_nothing(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    first = record_trade(conn, buy(tickers[1], "dup", "yes", 10, 40))
    snapshot = conn.execute("SELECT * FROM analytics.pnl_daily").fetchall()
    again = record_trade(conn, buy(tickers[1], "dup", "yes", 10, 40))
    assert (again.id, again.duplicate, first.duplicate) == (first.id, True, False)
    assert conn.execute("SELECT count(*) FROM ops.trades").fetchone() == (1,)
    assert conn.execute("SELECT * FROM analytics.pnl_daily").fetchall() == snapshot


def test_same_id_with_a_different_trade_is_refused(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "dup", "yes", 10, 40))
    with pytest.raises(WriteError) as info:
        record_trade(conn, buy(tickers[1], "dup", "yes", 11, 40))
    assert info.value.code == "conflict" and "quantity" in info.value.message


def test_concurrent_duplicates_record_one_trade(db_url: str, conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    workers = 8
    barrier = threading.Barrier(workers)
    results: list[object] = []

    def send() -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            barrier.wait()
            results.append(record_trade(c, buy(tickers[1], "race", "yes", 3, 30)))

    threads = [threading.Thread(target=send) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == workers
    assert conn.execute("SELECT count(*) FROM ops.trades").fetchone() == (1,)
    assert conn.execute("SELECT trades, contracts FROM analytics.pnl_by_day").fetchone() == (1, 3)


def test_oversell_is_refused_and_writes_nothing(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "b", "yes", 4, 40))
    before = conn.execute("SELECT * FROM ops.trades ORDER BY id").fetchall()
    with pytest.raises(WriteError) as info:
        record_trade(conn, sell(tickers[1], "s", "yes", 5, 60))
    assert info.value.field == "quantity" and "exceeds the 4 held" in info.value.message
    assert conn.execute("SELECT * FROM ops.trades ORDER BY id").fetchall() == before


def test_settled_market_takes_no_trades(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    with pytest.raises(WriteError, match="already settled"):
        record_trade(conn, buy(tickers[1], "late", "yes", 1, 50))


def test_resettling_is_idempotent_and_a_correction_recomputes(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "a", "yes", 10, 40))
    first = settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    again = settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    assert first.changed and not again.changed
    assert day_totals(conn) == (1, 1, 600, 17, 583, 1, 0)
    # The climate report is revised to 47 F: the bracket 45-46 now loses.
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=47))
    assert trade_pnl(conn, "a") == (-400, 17)
    assert day_totals(conn) == (1, 1, -400, 17, -417, 0, 1)


def test_trade_belongs_to_its_markets_settlement_day(conn: psycopg.Connection) -> None:
    # Executed 21:00 EST on 10 March = 02:00 UTC on the 11th, for the 11th's market.
    tickers = add_event(conn, day=date(2026, 3, 11))
    evening = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)
    t = buy(tickers[1], "eve", "yes", 2, 50).model_copy(update={"executed_at": evening})
    record_trade(conn, t)
    row = conn.execute("SELECT event_date, created_at FROM ops.trades").fetchone()
    assert row == (date(2026, 3, 11), evening)
    assert conn.execute("SELECT event_date FROM analytics.pnl_daily").fetchall() == [
        (date(2026, 3, 11),)
    ]


def test_trade_on_a_daylight_saving_change_day(conn: psycopg.Connection) -> None:
    # 8 March 2026: clocks spring forward in New York. 04:30 UTC on the 9th is 00:30 EDT by the
    # clock but 23:30 EST: still the 8th's climate day, and so is the market it trades.
    tickers = add_event(conn, day=date(2026, 3, 8))
    at = datetime(2026, 3, 9, 4, 30, tzinfo=UTC)
    assert climate_day("America/New_York", at) == date(2026, 3, 8)
    record_trade(conn, buy(tickers[1], "dst", "yes", 2, 50).model_copy(update={"executed_at": at}))
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR08", observed_high_f=45))
    row = conn.execute("SELECT event_date, net_pnl_cents FROM analytics.pnl_by_day").fetchone()
    # (100 - 50) * 2 = 100 gross; fee ceil(0.07 * 2 * 0.5 * 0.5 = 0.035 dollars) = 4 cents.
    assert row == (date(2026, 3, 8), 96)


def test_heartbeat_keeps_latest_and_log(conn: psycopg.Connection) -> None:
    post_heartbeat(conn, HeartbeatIn(component="trader", observed_at=T0))
    post_heartbeat(
        conn,
        HeartbeatIn(
            component="trader", status="degraded", message="slow", observed_at=T0.replace(hour=16)
        ),
    )
    # A late, older beat does not overwrite the newer state.
    post_heartbeat(conn, HeartbeatIn(component="trader", observed_at=T0.replace(hour=14)))
    assert conn.execute("SELECT count(*) FROM ops.heartbeats").fetchone() == (3,)
    assert conn.execute("SELECT status, message FROM ops.component_health").fetchone() == (
        "degraded",
        "slow",
    )


def _db_clock(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _beats(conn: psycopg.Connection) -> tuple[object, ...]:
    return (
        conn.execute("SELECT count(*) FROM ops.heartbeats").fetchone(),
        conn.execute("SELECT * FROM ops.component_health").fetchall(),
    )


def test_heartbeat_from_the_future_is_refused_beyond_the_allowed_skew(
    conn: psycopg.Connection,
) -> None:
    post_heartbeat(conn, HeartbeatIn(component="trader", observed_at=_db_clock(conn)))
    ahead = _db_clock(conn) + timedelta(seconds=30)
    post_heartbeat(conn, HeartbeatIn(component="trader", message="30 s", observed_at=ahead))
    before = _beats(conn)
    for skew in (timedelta(minutes=2), timedelta(days=365)):
        beat = HeartbeatIn(component="trader", observed_at=_db_clock(conn) + skew)
        with pytest.raises(WriteError) as info:
            post_heartbeat(conn, beat)
        assert (info.value.field, info.value.code) == ("observed_at", "clock_skew")
        assert "at most 60 s" in info.value.message
        assert "MILKBOT_HEARTBEAT_MAX_SKEW_S" in info.value.message
    assert _beats(conn) == before
    # The 30 s beat is the state; it is not pinned there by a beat a year ahead.
    assert conn.execute("SELECT message FROM ops.component_health").fetchone() == ("30 s",)


def test_heartbeat_skew_follows_the_setting(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MILKBOT_HEARTBEAT_MAX_SKEW_S", "300")
    settings = load_settings()
    assert settings.heartbeat_max_skew_s == 300
    beat = HeartbeatIn(component="trader", observed_at=_db_clock(conn) + timedelta(minutes=2))
    post_heartbeat(conn, beat, max_skew_s=settings.heartbeat_max_skew_s)
    monkeypatch.setenv("MILKBOT_HEARTBEAT_MAX_SKEW_S", "10")
    with pytest.raises(WriteError, match="at most 10 s"):
        post_heartbeat(
            conn,
            HeartbeatIn(component="trader", observed_at=_db_clock(conn) + timedelta(seconds=30)),
            max_skew_s=load_settings().heartbeat_max_skew_s,
        )
    monkeypatch.setenv("MILKBOT_HEARTBEAT_MAX_SKEW_S", "-1")
    with pytest.raises(SettingsError, match="MILKBOT_HEARTBEAT_MAX_SKEW_S"):
        load_settings()
    assert conn.execute("SELECT count(*) FROM ops.heartbeats").fetchone() == (1,)


def test_heartbeat_without_a_time_takes_the_database_clock(conn: psycopg.Connection) -> None:
    start = _db_clock(conn)
    post_heartbeat(conn, HeartbeatIn(component="market_data"))
    row = conn.execute("SELECT observed_at FROM ops.component_health").fetchone()
    assert row is not None and start <= row[0] <= _db_clock(conn)

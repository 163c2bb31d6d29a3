"""The write path: settlement arithmetic worked by hand in micros, idempotency per account,
FIFO sales, tick grids and fractional counts, fees as reported or by formula, atomicity."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from milkbot.market import climate_day
from milkbot.settings import SettingsError, load_settings
from milkbot.store.accounts import AccountIn, create_account
from milkbot.store.models import HeartbeatIn, SettlementIn, TradeIn
from milkbot.store.writes import (
    WriteError,
    post_heartbeat,
    record_trade,
    settle_event,
)
from tests.helpers import ACCOUNT, T0, add_event, cents


def buy(
    ticker: str, cid: str, side: str, qty: int | str, price: int | str, **kw: object
) -> TradeIn:
    """A buy; ``qty`` whole contracts or a count string, ``price`` cents or a dollar string."""
    fields: dict[str, object] = {
        "account": ACCOUNT,
        "client_trade_id": cid,
        "ticker": ticker,
        "strategy": "daily_high_temp",
        "side": side,
        "action": "buy",
        "count": str(qty),
        "price_dollars": cents(price) if isinstance(price, int) else price,
        "executed_at": T0,
        **kw,
    }
    return TradeIn(**fields)


def sell(ticker: str, cid: str, side: str, qty: int | str, price: int | str) -> TradeIn:
    return buy(ticker, cid, side, qty, price).model_copy(update={"action": "sell"})


def trade_pnl(conn: psycopg.Connection, cid: str) -> tuple[int | None, int]:
    row = conn.execute(
        "SELECT realized_pnl_micros, fee_micros FROM ops.trades WHERE client_trade_id = %s",
        [cid],
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def day_totals(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute(
        "SELECT trades, realized_trades, gross_pnl_micros, fees_micros, net_pnl_micros, wins,"
        " losses FROM analytics.pnl_by_day WHERE event_date = '2026-03-10'"
    ).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


def test_yes_win(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    r = record_trade(conn, buy(tickers[1], "a", "yes", 10, 40))
    # Trade fee 0.07 * 10 * 0.40 * 0.60 = $0.168 (already on the $0.0001 grid). The debit
    # $4.168 rounds up to the account's cent balance: $4.17, a rounding fee of $0.002.
    assert (r.trade_fee_micros, r.rounding_fee_micros, r.rebate_micros) == (168_000, 2_000, 0)
    assert r.fee_micros == 170_000
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    assert trade_pnl(conn, "a") == (6_000_000, 170_000)  # ($1 - $0.40) x 10
    assert day_totals(conn) == (1, 1, 6_000_000, 170_000, 5_830_000, 1, 0)


def test_yes_loss(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "a", "yes", 10, 40))
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=50))
    assert trade_pnl(conn, "a") == (-4_000_000, 170_000)
    assert day_totals(conn) == (1, 1, -4_000_000, 170_000, -4_170_000, 0, 1)


def test_no_win(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "a", "no", 8, 35))
    # Trade fee 0.07 * 8 * 0.35 * 0.65 = $0.1274; debit $2.9274 -> $2.93: rounding $0.0026.
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=44))
    assert trade_pnl(conn, "a") == (5_200_000, 130_000)  # ($1 - $0.35) x 8
    assert day_totals(conn) == (1, 1, 5_200_000, 130_000, 5_070_000, 1, 0)


def test_sale_before_settlement_realises_fifo_then_rest_settles(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[2], "b1", "yes", 10, 40))  # fee 0.168 + 0.002 rounding
    record_trade(conn, buy(tickers[2], "b2", "yes", 10, 50))  # fee 0.175 + 0.005 rounding
    s = record_trade(conn, sell(tickers[2], "s1", "yes", 15, 60))
    # Trade fee 0.07*15*0.6*0.4 = $0.252; the credit $8.748 rounds down to $8.74: rounding
    # $0.008. Closes 10 @ 0.40 + 5 @ 0.50 = $6.50 of cost for $9.00 of proceeds.
    assert (s.realized_pnl_micros, s.trade_fee_micros, s.rounding_fee_micros) == (
        2_500_000,
        252_000,
        8_000,
    )
    pos = conn.execute("SELECT open_qty_centi, open_cost_micros FROM ops.positions").fetchone()
    assert pos == (500, 2_500_000)
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=44))  # NO
    assert trade_pnl(conn, "b1") == (0, 170_000)  # all of it was sold
    assert trade_pnl(conn, "b2") == (-2_500_000, 180_000)  # 5 left at 0.50, settled worthless
    # Cash check: -4.00 - 5.00 + 9.00 + 0 payout - (0.17 + 0.18 + 0.26) fees = -0.61.
    assert day_totals(conn) == (3, 3, 0, 610_000, -610_000, 1, 2)
    pos = conn.execute(
        "SELECT bought_qty_centi, sold_qty_centi, open_qty_centi, realized_pnl_micros,"
        " fees_micros FROM ops.positions"
    ).fetchone()
    assert pos == (2000, 1500, 0, 0, 610_000)


def test_maker_fill_pays_maker_rate(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    assert record_trade(conn, buy(tickers[1], "m", "yes", 10, 50, is_taker=False)).fee_micros == 0


def test_reported_fee_parts_are_stored_as_charged(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    r = record_trade(
        conn,
        buy(
            tickers[1],
            "rep",
            "yes",
            10,
            40,
            trade_fee_dollars="0.1700",
            rounding_fee_dollars="0.0000",
            rebate_dollars="0.0150",
        ),
    )
    assert (r.trade_fee_micros, r.rounding_fee_micros, r.rebate_micros) == (170_000, 0, 15_000)
    row = conn.execute(
        "SELECT trade_fee_micros, rounding_fee_micros, rebate_micros, fee_micros FROM ops.trades"
    ).fetchone()
    assert row == (170_000, 0, 15_000, 155_000)


def test_sub_cent_price_and_fractional_count(conn: psycopg.Connection) -> None:
    tickers = add_event(
        conn, price_level_structure="tapered_deci_cent", fractional_trading_enabled=True
    )
    r = record_trade(conn, buy(tickers[0], "f", "yes", "2.50", "0.055"))
    # Trade fee 0.07 * 2.5 * 0.055 * 0.945 = $0.009095625 -> up to $0.0091; cost $0.1375;
    # the debit $0.1466 rounds up to $0.15: rounding $0.0034.
    assert (r.trade_fee_micros, r.rounding_fee_micros) == (9_100, 3_400)
    row = conn.execute("SELECT price_micros, quantity_centi, price FROM ops.trades").fetchone()
    assert row == (55_000, 250, Decimal("0.055000"))
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=40))
    assert trade_pnl(conn, "f") == (2_362_500, 12_500)  # ($1 - $0.055) x 2.5


def test_price_off_the_markets_grid_is_refused_naming_the_tick(conn: psycopg.Connection) -> None:
    cent = add_event(conn)
    tapered = add_event(conn, day=date(2026, 3, 11), price_level_structure="tapered_deci_cent")
    for ticker, price, tick in ((cent[1], "0.405", "0.01"), (tapered[1], "0.505", "0.01")):
        with pytest.raises(WriteError) as info:
            record_trade(conn, buy(ticker, "g", "yes", 1, price))
        assert (info.value.field, info.value.code) == ("price_dollars", "off_grid")
        assert f"${tick} ticks" in info.value.message
    record_trade(conn, buy(tapered[1], "g", "yes", 1, "0.955"))  # the tail trades in $0.001
    assert conn.execute("SELECT count(*) FROM ops.trades").fetchone() == (1,)


def test_fractional_count_needs_a_fractional_market(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    with pytest.raises(WriteError) as info:
        record_trade(conn, buy(tickers[1], "f", "yes", "1.50", 40))
    assert (info.value.field, info.value.code) == ("count", "fractional_count")
    assert "1.50" in info.value.message
    assert conn.execute("SELECT count(*) FROM ops.trades").fetchone() == (0,)


def test_unknown_account_is_refused(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    with pytest.raises(WriteError) as info:
        record_trade(conn, buy(tickers[1], "u", "yes", 1, 40, account="nobody"))
    assert (info.value.field, info.value.code) == ("account", "unknown_account")
    with pytest.raises(WriteError) as info:
        post_heartbeat(conn, HeartbeatIn(account="nobody", component="trader"))
    assert info.value.code == "unknown_account"


def test_direct_member_precision_rounds_to_a_hundredth_of_a_cent(conn: psycopg.Connection) -> None:
    create_account(
        conn,
        AccountIn(
            name="direct",
            display_name="Direct member",
            mode="demo",
            environment="demo",
            starting_bankroll_dollars="1000.00",
            balance_precision_dollars="0.0001",
        ),
    )
    tickers = add_event(conn)
    r = record_trade(conn, buy(tickers[1], "a", "no", 8, 35, account="direct"))
    assert (r.trade_fee_micros, r.rounding_fee_micros) == (127_400, 0)  # $2.9274 is exact


def test_client_trade_ids_are_per_account(conn: psycopg.Connection) -> None:
    create_account(
        conn,
        AccountIn(
            name="paper",
            display_name="Paper",
            mode="demo",
            environment="simulated",
            starting_bankroll_dollars="500",
        ),
    )
    tickers = add_event(conn)
    a = record_trade(conn, buy(tickers[1], "same", "yes", 2, 40))
    b = record_trade(conn, buy(tickers[1], "same", "yes", 2, 40, account="paper"))
    assert not a.duplicate and not b.duplicate and a.id != b.id
    rows = conn.execute(
        "SELECT a.name, p.open_qty_centi FROM ops.positions p"
        " JOIN ops.accounts a ON a.id = p.account_id ORDER BY a.name"
    ).fetchall()
    assert rows == [("default", 200), ("paper", 200)]
    # One account's sale never closes another account's lots.
    with pytest.raises(WriteError) as info:
        record_trade(
            conn, sell(tickers[1], "s", "yes", 3, 50).model_copy(update={"account": "paper"})
        )
    assert info.value.code == "oversell" and "2.00 held" in info.value.message


def test_same_trade_id_twice_changes_nothing(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    first = record_trade(conn, buy(tickers[1], "dup", "yes", 10, 40))
    snapshot = conn.execute("SELECT * FROM analytics.pnl_daily").fetchall()
    again = record_trade(conn, buy(tickers[1], "dup", "yes", 10, 40))
    assert (again.id, again.duplicate, first.duplicate) == (first.id, True, False)
    assert again.fee_micros == first.fee_micros
    assert conn.execute("SELECT count(*) FROM ops.trades").fetchone() == (1,)
    assert conn.execute("SELECT * FROM analytics.pnl_daily").fetchall() == snapshot


def test_same_id_with_a_different_trade_is_refused(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "dup", "yes", 10, 40))
    with pytest.raises(WriteError) as info:
        record_trade(conn, buy(tickers[1], "dup", "yes", 11, 40))
    assert info.value.code == "conflict" and "count" in info.value.message


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
    assert conn.execute("SELECT trades, contracts_centi FROM analytics.pnl_by_day").fetchone() == (
        1,
        300,
    )


def test_oversell_is_refused_and_writes_nothing(conn: psycopg.Connection) -> None:
    tickers = add_event(conn)
    record_trade(conn, buy(tickers[1], "b", "yes", 4, 40))
    before = conn.execute("SELECT * FROM ops.trades ORDER BY id").fetchall()
    with pytest.raises(WriteError) as info:
        record_trade(conn, sell(tickers[1], "s", "yes", 5, 60))
    assert info.value.field == "count" and "exceeds the 4.00 held" in info.value.message
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
    assert day_totals(conn) == (1, 1, 6_000_000, 170_000, 5_830_000, 1, 0)
    # The climate report is revised to 47 F: the bracket 45-46 now loses.
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=47))
    assert trade_pnl(conn, "a") == (-4_000_000, 170_000)
    assert day_totals(conn) == (1, 1, -4_000_000, 170_000, -4_170_000, 0, 1)


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
    row = conn.execute("SELECT event_date, net_pnl_micros FROM analytics.pnl_by_day").fetchone()
    # ($1 - $0.50) x 2 = $1.00 gross; trade fee 0.07 * 2 * 0.5 * 0.5 = $0.035, and the debit
    # $1.035 rounds up to $1.04: $0.04 of fees in all.
    assert row == (date(2026, 3, 8), 960_000)


def test_heartbeat_keeps_latest_and_log(conn: psycopg.Connection) -> None:
    post_heartbeat(conn, HeartbeatIn(account=ACCOUNT, component="trader", observed_at=T0))
    post_heartbeat(
        conn,
        HeartbeatIn(
            account=ACCOUNT,
            component="trader",
            status="degraded",
            message="slow",
            observed_at=T0.replace(hour=16),
        ),
    )
    # A late, older beat does not overwrite the newer state.
    post_heartbeat(
        conn, HeartbeatIn(account=ACCOUNT, component="trader", observed_at=T0.replace(hour=14))
    )
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
    post_heartbeat(
        conn, HeartbeatIn(account=ACCOUNT, component="trader", observed_at=_db_clock(conn))
    )
    ahead = _db_clock(conn) + timedelta(seconds=30)
    post_heartbeat(
        conn, HeartbeatIn(account=ACCOUNT, component="trader", message="30 s", observed_at=ahead)
    )
    before = _beats(conn)
    for skew in (timedelta(minutes=2), timedelta(days=365)):
        beat = HeartbeatIn(account=ACCOUNT, component="trader", observed_at=_db_clock(conn) + skew)
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
    beat = HeartbeatIn(
        account=ACCOUNT, component="trader", observed_at=_db_clock(conn) + timedelta(minutes=2)
    )
    post_heartbeat(conn, beat, max_skew_s=settings.heartbeat_max_skew_s)
    monkeypatch.setenv("MILKBOT_HEARTBEAT_MAX_SKEW_S", "10")
    with pytest.raises(WriteError, match="at most 10 s"):
        post_heartbeat(
            conn,
            HeartbeatIn(
                account=ACCOUNT,
                component="trader",
                observed_at=_db_clock(conn) + timedelta(seconds=30),
            ),
            max_skew_s=load_settings().heartbeat_max_skew_s,
        )
    monkeypatch.setenv("MILKBOT_HEARTBEAT_MAX_SKEW_S", "-1")
    with pytest.raises(SettingsError, match="MILKBOT_HEARTBEAT_MAX_SKEW_S"):
        load_settings()
    assert conn.execute("SELECT count(*) FROM ops.heartbeats").fetchone() == (1,)


def test_heartbeat_without_a_time_takes_the_database_clock(conn: psycopg.Connection) -> None:
    start = _db_clock(conn)
    post_heartbeat(conn, HeartbeatIn(account=ACCOUNT, component="market_data"))
    row = conn.execute("SELECT observed_at FROM ops.component_health").fetchone()
    assert row is not None and start <= row[0] <= _db_clock(conn)

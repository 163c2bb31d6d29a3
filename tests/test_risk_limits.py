"""Risk limits per account, enforced by the write path (docs/DOMAIN.md, "Accounts, limits and
fees"): each test breaks one limit, checks the refusal names it and that nothing was written.

The default account starts with $992.10: 2 % a trade is $19.842, 3 % a city $29.763, 5 % a
cluster $49.605, 10 % open $99.21, and a 5 % daily loss pauses the next day's buys.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from milkbot.store.accounts import (
    AccountIn,
    AccountUpdate,
    TransferIn,
    create_account,
    record_transfer,
    update_account,
)
from milkbot.store.limits import account_named, headroom, percent
from milkbot.store.models import SettlementIn, SignalIn, TradeIn
from milkbot.store.writes import WriteError, record_signal, record_trade, settle_event
from tests.helpers import T0, add_event, make_trade

DAY = date(2026, 3, 10)


def _buy(ticker: str, cid: str, qty: int | str, price: str = "0.40", **kw: Any) -> TradeIn:
    return make_trade(ticker, client_trade_id=cid, count=str(qty), price_dollars=price, **kw)


def _book(conn: psycopg.Connection) -> tuple[Any, ...]:
    return tuple(
        conn.execute(q).fetchall()
        for q in (
            "SELECT * FROM ops.trades ORDER BY id",
            "SELECT * FROM ops.positions ORDER BY 1, 2, 3, 4",
            "SELECT * FROM analytics.pnl_city_day ORDER BY 1, 2, 3",
        )
    )


def _refused(conn: psycopg.Connection, trade: TradeIn) -> WriteError:
    before = _book(conn)
    with pytest.raises(WriteError) as info:
        record_trade(conn, trade)
    assert info.value.code == "risk_limit"
    assert _book(conn) == before
    return info.value


def test_percent_is_exact() -> None:
    assert (percent(300), percent(5), percent(10_000), percent(1234)) == (
        "3.00 %",
        "0.05 %",
        "100.00 %",
        "12.34 %",
    )


def test_per_trade_limit(conn: psycopg.Connection) -> None:
    nyc = add_event(conn)
    err = _refused(conn, _buy(nyc[1], "big", 50))  # $20.00 > $19.842
    assert err.message == "per-trade limit: cost $20.00 would exceed 2.00 % of equity $992.10"
    record_trade(conn, _buy(nyc[1], "fits", 49))  # $19.60


def test_per_city_limit_counts_open_cost_until_settlement(conn: psycopg.Connection) -> None:
    nyc = add_event(conn)
    record_trade(conn, _buy(nyc[1], "a", 49))  # $19.60 open in NYC
    err = _refused(conn, _buy(nyc[2], "b", 30))  # + $12.00 = $31.60 > $29.763
    assert err.message == (
        "per-city limit: NYC open cost $31.60 would exceed 3.00 % of equity $992.10"
    )
    # Another city has its own room; so does NYC once the first buy is settled.
    record_trade(conn, _buy(add_event(conn, "CHI")[1], "c", 30))
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=46))
    record_trade(conn, _buy(add_event(conn, day=DAY + timedelta(days=1))[2], "b", 30))


def test_a_sale_frees_room_and_is_never_refused(conn: psycopg.Connection) -> None:
    nyc = add_event(conn)
    record_trade(conn, _buy(nyc[1], "a", 49))
    record_trade(conn, _buy(nyc[2], "b", 25))  # $29.60 open in NYC
    _refused(conn, _buy(nyc[3], "c", 1))
    # Limits lowered below what is held: a sale still goes through, and frees room.
    update_account(conn, "default", AccountUpdate(max_city_bp=200, max_trade_bp=100))
    record_trade(conn, _buy(nyc[1], "s", 49, "0.30").model_copy(update={"action": "sell"}))
    # Equity after the sale's loss is $986.47: $10.00 + $0.40 fits in 2 % ($19.7294).
    record_trade(conn, _buy(nyc[3], "c", 1))


def test_per_cluster_limit(conn: psycopg.Connection) -> None:
    record_trade(conn, _buy(add_event(conn, "NYC")[1], "ny", 49))
    record_trade(conn, _buy(add_event(conn, "BOS")[1], "bos", 49))  # NE: $39.20
    err = _refused(conn, _buy(add_event(conn, "PHL")[1], "phl", 30))  # + $12.00
    assert err.message == (
        "per-cluster limit: NE cluster open cost $51.20 would exceed 5.00 % of equity $992.10"
    )
    record_trade(conn, _buy(add_event(conn, "PHL")[1], "phl", 25))  # $49.20 fits


def test_open_risk_limit(conn: psycopg.Connection) -> None:
    for city in ("NYC", "BOS", "CHI", "MIA", "AUS"):
        record_trade(conn, _buy(add_event(conn, city)[1], city, 49))
    err = _refused(conn, _buy(add_event(conn, "LAX")[1], "lax", 49))
    assert err.message == (
        "open-risk limit: total open cost $117.60 would exceed 10.00 % of equity $992.10"
    )


def test_daily_loss_pauses_the_next_days_buys(conn: psycopg.Connection) -> None:
    update_account(
        conn,
        "default",
        AccountUpdate(
            max_trade_bp=10_000, max_city_bp=10_000, max_cluster_bp=10_000, max_open_bp=10_000
        ),
    )
    day0 = add_event(conn, day=DAY)
    record_trade(conn, _buy(day0[1], "loser", 100, "0.60"))  # $60.00 on a bracket that loses
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR10", observed_high_f=50))
    # Net loss $60.00 + $0.0168 x 100 ... = $61.68; equity $930.42; 5 % of it is $46.521.
    day1 = add_event(conn, day=DAY + timedelta(days=1))
    err = _refused(conn, _buy(day1[1], "next", 1))
    assert err.message == (
        "daily loss limit: the net realised loss of 2026-03-10 ($61.68) reached 5.00 % of "
        "equity $930.42, so buys on 2026-03-11 are paused"
    )
    # Other settlement days trade on; and a smaller limit setting lets the day trade again.
    record_trade(conn, _buy(add_event(conn, day=DAY + timedelta(days=2))[1], "later", 1))
    update_account(conn, "default", AccountUpdate(daily_loss_bp=700))
    record_trade(conn, _buy(day1[1], "next", 1))


def test_equity_counts_transfers_and_realised_pnl(conn: psycopg.Connection) -> None:
    nyc = add_event(conn)
    _refused(conn, _buy(nyc[1], "big", 50))
    record_transfer(
        conn, TransferIn(account="default", client_transfer_id="dep1", amount_dollars="7.90")
    )  # equity $1,000.00: 2 % is $20.00
    record_trade(conn, _buy(nyc[1], "big", 50))
    with pytest.raises(WriteError) as info:
        record_transfer(
            conn,
            TransferIn(account="default", client_transfer_id="wd", amount_dollars="-1000.01"),
        )
    assert info.value.code == "insufficient_equity"


def test_shadow_accounts_record_signals_only(conn: psycopg.Connection) -> None:
    create_account(
        conn,
        AccountIn(
            name="shadow_nowcast",
            display_name="Shadow nowcast",
            mode="shadow",
            environment="production",
            starting_bankroll_dollars="1000",
        ),
    )
    nyc = add_event(conn)
    record_signal(
        conn,
        SignalIn(
            account="shadow_nowcast",
            strategy="nowcast",
            ticker=nyc[1],
            created_at=T0,
            model_prob=0.5,
            yes_price_dollars="0.40",
            decision="BUY",
        ),
    )
    before = _book(conn)
    with pytest.raises(WriteError) as info:
        record_trade(conn, _buy(nyc[1], "x", 1, account="shadow_nowcast"))
    assert (info.value.field, info.value.code) == ("account", "shadow_account")
    assert _book(conn) == before


def test_limits_are_per_account(conn: psycopg.Connection) -> None:
    create_account(
        conn,
        AccountIn(
            name="paper",
            display_name="Paper",
            mode="demo",
            environment="simulated",
            starting_bankroll_dollars="992.10",
        ),
    )
    nyc = add_event(conn)
    record_trade(conn, _buy(nyc[1], "a", 49))
    record_trade(conn, _buy(nyc[2], "a", 25, account="paper"))
    record_trade(conn, _buy(nyc[2], "b", 25, account="paper"))  # paper's own NYC: $20.00
    _refused(conn, _buy(nyc[2], "b", 30))


def test_two_concurrent_writers_cannot_both_pass_a_limit(
    db_url: str, conn: psycopg.Connection
) -> None:
    """Each round two writers each try $19.60 in a city with room for one ($29.763)."""
    rounds = 6

    def send(ticker: str, cid: str, barrier: threading.Barrier, outcomes: list[str]) -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            barrier.wait()
            try:
                record_trade(c, _buy(ticker, cid, 49))
                outcomes.append("ok")
            except WriteError as exc:
                outcomes.append(exc.code)

    for r in range(rounds):
        tickers = add_event(conn, day=DAY + timedelta(days=r))
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        threads = [
            threading.Thread(target=send, args=(tickers[1], f"r{r}w{w}", barrier, outcomes))
            for w in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["ok", "risk_limit"], r
        settle_event(
            conn,
            SettlementIn(event_ticker=tickers[0].rsplit("-", 1)[0], observed_high_f=46),
        )
    row = conn.execute("SELECT count(*) FROM ops.trades").fetchone()
    assert row == (rounds,)


def test_headroom_is_the_largest_buy_the_checks_let_through(conn: psycopg.Connection) -> None:
    """What the simulator sizes by (headroom) and what the write path checks agree to the
    micro: a buy of exactly the room passes, one tick more is refused."""
    create_account(
        conn,
        AccountIn(
            name="deci",
            display_name="Deci",
            mode="demo",
            environment="simulated",
            starting_bankroll_dollars="1000.00",
            balance_precision_dollars="0.0001",
        ),
    )
    nyc = add_event(conn, price_level_structure="deci_cent", fractional_trading_enabled=True)
    record_trade(conn, _buy(nyc[1], "a", 40, "0.50", account="deci"))  # $20.00 open in NYC
    account = account_named(conn, "deci")
    room = headroom(conn, account, "NYC", "NE", DAY)
    assert (room.equity_micros, room.city_open_micros) == (1_000_000_000, 20_000_000)
    assert room.max_cost_micros == 10_000_000  # 3 % of $1,000 is $30.00: $10.00 left
    # 20.01 x $0.50 = $10.005 is one step too far; 20.00 x $0.50 fits exactly.
    _refused(conn, _buy(nyc[2], "b", "20.01", "0.50", account="deci"))
    record_trade(conn, _buy(nyc[2], "b", "20.00", "0.50", account="deci"))
    assert headroom(conn, account, "NYC", "NE", DAY).max_cost_micros == 0


def test_an_old_unsettled_buy_still_counts_after_later_days_settle(
    conn: psycopg.Connection,
) -> None:
    old = add_event(conn, day=DAY)
    record_trade(conn, _buy(old[1], "old", 49))  # $19.60 open in NYC on the 10th
    later = add_event(conn, day=DAY + timedelta(days=3))
    record_trade(conn, _buy(later[1], "later", 1))
    settle_event(conn, SettlementIn(event_ticker="KXHIGHNY-26MAR13", observed_high_f=46))
    err = _refused(conn, _buy(add_event(conn, day=DAY + timedelta(days=4))[1], "new", 30))
    assert "NYC open cost $31.60" in err.message

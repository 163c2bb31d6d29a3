"""The write path under concurrent writers: retried trades and racing settlements.

Each race opens one connection per writer and releases the writers together with a
threading.Barrier; rounds are repeated so that the interleaving that broke things (the writers
waiting on the same rows, then deciding from what they see after the wait) is all but certain.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import partial

import psycopg
import pytest

from milkbot.store.models import TradeIn
from milkbot.store.writes import RecordedTrade, WriteError, record_trade, settle_market
from tests.helpers import T0, add_event, cents, roomy_limits

WRITERS = 8
ROUNDS = 12


def _trade(ticker: str, cid: str, action: str, qty: int, price: int = 40) -> TradeIn:
    return TradeIn(
        account="default",
        client_trade_id=cid,
        ticker=ticker,
        strategy="daily_high_temp",
        side="yes",
        action=action,
        count=str(qty),
        price_dollars=cents(price),
        executed_at=T0,
    )


@pytest.fixture(autouse=True)
def _roomy(conn: psycopg.Connection) -> None:
    """These races hold many positions at once: limits are not what they test."""
    roomy_limits(conn)


@pytest.fixture
def connections(db_url: str) -> Iterator[list[psycopg.Connection]]:
    """One autocommit connection per writer, opened before the race so it starts together."""
    opened = [psycopg.connect(db_url, autocommit=True) for _ in range(WRITERS)]
    try:
        yield opened
    finally:
        for c in opened:
            c.close()


def _race(
    connections: list[psycopg.Connection], calls: list[Callable[[psycopg.Connection], object]]
) -> list[object]:
    """Run calls[i] on connections[i], all released at once; each result or the exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = calls[i](connections[i])
        except Exception as exc:  # the outcome under test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return outcomes


def _record(conn: psycopg.Connection, trade: TradeIn) -> RecordedTrade:
    return record_trade(conn, trade)


def _kinds(outcomes: list[object]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for o in outcomes:
        if isinstance(o, RecordedTrade):
            kinds["duplicate" if o.duplicate else "new"] += 1
        elif isinstance(o, WriteError):
            kinds[o.code] += 1
        else:
            kinds[repr(o)] += 1
    return kinds


def _position(conn: psycopg.Connection) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT bought_qty_centi / 100, sold_qty_centi / 100, open_qty_centi / 100 FROM ops.positions"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.parametrize("action", ["sell", "buy"])
def test_same_trade_sent_concurrently_is_new_once_and_duplicate_otherwise(
    conn: psycopg.Connection, connections: list[psycopg.Connection], action: str
) -> None:
    tickers = add_event(conn)
    for r in range(ROUNDS):
        # A sale of the whole position: the losers used to wait on its lots, see them
        # consumed and answer "oversell" for a sale that had in fact been recorded.
        record_trade(conn, _trade(tickers[1], f"b{r}", "buy", 3))
        retry = _trade(tickers[1], f"retry{r}", action, 3, price=60)
        outcomes = _race(connections, [partial(_record, trade=retry)] * WRITERS)
        assert _kinds(outcomes) == {"new": 1, "duplicate": WRITERS - 1}, f"round {r}"
        assert len({o.id for o in outcomes if isinstance(o, RecordedTrade)}) == 1
    recorded = conn.execute("SELECT count(*) FROM ops.trades").fetchone()
    assert recorded == (2 * ROUNDS,)
    if action == "sell":
        assert _position(conn) == (3 * ROUNDS, 3 * ROUNDS, 0)  # each sale reduced it once
    else:
        assert _position(conn) == (6 * ROUNDS, 0, 6 * ROUNDS)
    trades = conn.execute(
        "SELECT trades, contracts_centi / 100 FROM analytics.pnl_by_day"
    ).fetchone()
    assert trades == (2 * ROUNDS, 6 * ROUNDS)


def test_a_different_trade_under_a_racing_id_is_a_conflict_not_an_oversell(
    conn: psycopg.Connection, connections: list[psycopg.Connection]
) -> None:
    tickers = add_event(conn)
    for r in range(ROUNDS):
        record_trade(conn, _trade(tickers[1], f"b{r}", "buy", 3))
        whole = _trade(tickers[1], f"s{r}", "sell", 3, price=60)
        part = _trade(tickers[1], f"s{r}", "sell", 2, price=60)
        sends = [whole, part] * (WRITERS // 2)
        outcomes = _race(connections, [partial(_record, trade=t) for t in sends])
        kinds = _kinds(outcomes)
        # Whichever sale won, the writers that sent the same one see a duplicate and the
        # others a conflict naming the quantity.
        assert kinds == {"new": 1, "duplicate": WRITERS // 2 - 1, "conflict": WRITERS // 2}
        for o in outcomes:
            if isinstance(o, WriteError):
                assert o.field == "client_trade_id" and "count" in o.message
        left = _position(conn)[2]  # a partial sale won: close the rest, so rounds start flat
        assert left == (0 if whole_won(conn, f"s{r}") else 1)
        if left:
            record_trade(conn, _trade(tickers[1], f"rest{r}", "sell", left, price=60))


def whole_won(conn: psycopg.Connection, cid: str) -> bool:
    row = conn.execute(
        "SELECT quantity_centi / 100 FROM ops.trades WHERE client_trade_id = %s", [cid]
    ).fetchone()
    assert row is not None
    return bool(row[0] == 3)


def test_racing_settlements_never_leave_an_event_without_a_yes(
    conn: psycopg.Connection, connections: list[psycopg.Connection]
) -> None:
    # Two writers each settle one of the last two open markets NO: alone, either is fine;
    # together they would leave every market NO. Exactly one of them must be refused.
    for r in range(ROUNDS):
        tickers = add_event(conn, day=date(2026, 3, 1) + timedelta(days=r))
        settle_market(conn, tickers[0], "no")
        settle_market(conn, tickers[1], "no")
        outcomes = _race(
            connections[:2],
            [
                partial(settle_market, ticker=tickers[2], result="no"),
                partial(settle_market, ticker=tickers[3], result="no"),
            ],
        )
        refused = [o for o in outcomes if isinstance(o, WriteError)]
        assert len(refused) == 1, outcomes
        assert refused[0].code == "bad_settlement" and refused[0].field == "result"
        results = conn.execute(
            "SELECT count(*) FILTER (WHERE result = 'no'), count(*) FILTER (WHERE result IS NULL)"
            " FROM ops.markets WHERE event_ticker = %s",
            [tickers[0].rsplit("-", 1)[0]],
        ).fetchone()
        assert results == (3, 1)

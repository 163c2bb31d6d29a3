"""The public feed: the disclosure delay, minute rounding, no private fields, public accounts
only (all of them, or one), filters, and keyset paging that visits every visible trade exactly
once."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from milkbot.analytics import (
    AnalyticsInputError,
    PublicTrade,
    UnknownAccountError,
    read_public_trades,
)
from milkbot.analytics.feed import (
    MAX_SKIP,
    PUBLIC_TRADES_ACCOUNT_AFTER_SQL,
    PUBLIC_TRADES_AFTER_SQL,
    PUBLIC_TRADES_CITY_AFTER_SQL,
    decode_cursor,
    encode_cursor,
)
from milkbot.generator import generate_dataset
from milkbot.store.accounts import create_account, update_account
from milkbot.store.models import AccountIn, AccountUpdate, TradeIn
from milkbot.store.writes import record_trade
from tests.helpers import add_event, roomy_limits

PUBLIC_FIELDS = {
    "time",
    "account",
    "city",
    "ticker",
    "side",
    "action",
    "contracts",
    "price_dollars",
}


@pytest.fixture
async def aconn(db_url: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as c:
        yield c


def record(
    conn: psycopg.Connection,
    ticker: str,
    when: datetime,
    side: str = "yes",
    action: str = "buy",
    qty: int = 1,
    price: int = 50,
    account: str = "default",
) -> None:
    """Record a fill of ``qty`` contracts at ``price`` cents for ``account``."""
    roomy_limits(conn, account)
    record_trade(
        conn,
        TradeIn(
            account=account,
            client_trade_id=uuid.uuid4().hex,
            ticker=ticker,
            strategy="daily_high_temp",
            side=side,
            action=action,
            count=Decimal(qty),
            price_dollars=Decimal(price) / 100,
            executed_at=when,
            order_id=None,
        ),
    )


def add_account(conn: psycopg.Connection, name: str, *, public: bool = True) -> None:
    create_account(
        conn,
        AccountIn(
            name=name,
            display_name=name.title(),
            mode="demo",
            environment="simulated",
            starting_bankroll_dollars=Decimal(1000),
            is_public=public,
        ),
    )


def server_now(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0].astimezone(UTC)


def expected_feed(
    conn: psycopg.Connection,
    delay: int,
    city: str | None = None,
    side: str | None = None,
    account: str | None = None,
) -> list[tuple]:
    """The feed recomputed from ops.trades: visible trades of public accounts (or of
    ``account``), newest first."""
    rows = conn.execute(
        """
        SELECT date_trunc('minute', t.created_at AT TIME ZONE 'UTC'), a.name, t.city_code,
               t.ticker, t.side, t.action, t.quantity_centi, t.price_micros
        FROM ops.trades t JOIN ops.accounts a ON a.id = t.account_id
        WHERE t.created_at <= now() - make_interval(mins => %(d)s) AND a.is_public
          AND (%(c)s::text IS NULL OR t.city_code = %(c)s::text)
          AND (%(s)s::text IS NULL OR t.side = %(s)s::text)
          AND (%(a)s::text IS NULL OR a.name = %(a)s::text)
        ORDER BY t.created_at DESC, t.id DESC
        """,
        {"d": delay, "c": city, "s": side, "a": account},
    ).fetchall()
    return [
        (t.replace(tzinfo=UTC), *rest, Decimal(qty) / 100, Decimal(price) / 1_000_000)
        for t, *rest, qty, price in rows
    ]


def as_tuple(t: PublicTrade) -> tuple:
    return (t.time, t.account, t.city, t.ticker, t.side, t.action, t.contracts, t.price_dollars)


async def read_all(aconn: psycopg.AsyncConnection, delay: int, limit: int, **kw: str) -> list:
    seen: list[PublicTrade] = []
    cursor = None
    while True:
        page = await read_public_trades(aconn, delay, limit, cursor, **kw)
        assert len(page.trades) <= limit
        seen.extend(page.trades)
        cursor = page.next_cursor
        if cursor is None:
            return seen


async def test_recent_trade_is_hidden_and_old_one_shown_rounded_down(
    conn: psycopg.Connection, aconn: psycopg.AsyncConnection
) -> None:
    tickers = add_event(conn, "NYC", date.today())
    now = server_now(conn)
    old = (now - timedelta(minutes=61)).replace(second=42, microsecond=123456)
    record(conn, tickers[1], now, price=33)
    record(conn, tickers[1], old, price=44)
    page = await read_public_trades(aconn, 60)
    assert [t.price_dollars for t in page.trades] == [Decimal("0.44")]
    assert page.trades[0].time == old.replace(second=0, microsecond=0)
    assert page.next_cursor is None
    # The account's own delay (60 by default) holds whatever the reader asks.
    assert (await read_public_trades(aconn, 0)).trades == page.trades
    assert page.delay_minutes == 60
    set_delay(conn, "default", 0)
    everything = await read_public_trades(aconn, 0)
    assert [t.price_dollars for t in everything.trades] == [Decimal("0.33"), Decimal("0.44")]
    assert everything.delay_minutes == 0


async def test_each_account_s_own_delay_is_a_floor_for_every_reader(
    conn: psycopg.Connection, aconn: psycopg.AsyncConnection
) -> None:
    tickers = add_event(conn, "CHI", date.today())
    record(conn, tickers[0], server_now(conn) - timedelta(minutes=90))
    set_delay(conn, "default", 120)
    assert (await read_public_trades(aconn, 0)).trades == []
    assert (await read_public_trades(aconn, 0, account="default")).delay_minutes == 120
    set_delay(conn, "default", 60)
    assert len((await read_public_trades(aconn, 0)).trades) == 1
    # Another account's shorter delay shortens nothing of this one's.
    create_account(
        conn,
        AccountIn(
            name="quick", display_name="Quick", mode="demo", environment="demo",
            starting_bankroll_dollars=Decimal(500), public_delay_minutes=0,
        ),
    )  # fmt: skip
    set_delay(conn, "default", 120)
    assert (await read_public_trades(aconn, 0)).trades == []
    assert (await read_public_trades(aconn, 0)).delay_minutes == 0  # "quick": at least 0


def set_delay(conn: psycopg.Connection, account: str, minutes: int) -> None:
    """The operator's change of ``account``'s public delay."""
    update_account(conn, account, AccountUpdate(public_delay_minutes=minutes))


async def test_no_private_fields_in_output(
    conn: psycopg.Connection, aconn: psycopg.AsyncConnection
) -> None:
    tickers = add_event(conn, "MIA", date.today())
    record(conn, tickers[2], server_now(conn) - timedelta(hours=3), side="no", qty=7, price=12)
    page = await read_public_trades(aconn, 60)
    assert {f.name for f in dataclasses.fields(PublicTrade)} == PUBLIC_FIELDS
    out = page.to_dict()
    assert set(out) == {"delay_minutes", "account", "trades", "next_cursor"}
    assert set(out["trades"][0]) == PUBLIC_FIELDS
    assert (out["trades"][0]["contracts"], out["trades"][0]["price_dollars"]) == ("7.00", "0.12")
    json.dumps(out)  # JSON-ready as is
    row = conn.execute("SELECT id, client_trade_id FROM ops.trades").fetchone()
    assert row is not None
    assert str(row[1]) not in json.dumps(out)


async def test_paging_visits_every_visible_trade_once(
    conn: psycopg.Connection, aconn: psycopg.AsyncConnection
) -> None:
    now = server_now(conn)
    nyc = add_event(conn, "NYC", date.today())
    den = add_event(conn, "DEN", date.today())
    base = now - timedelta(hours=2)
    for i in range(41):
        # Several trades share a timestamp: the keyset must break ties by seq.
        when = base - timedelta(seconds=17 * (i // 3))
        record(
            conn,
            (nyc if i % 2 else den)[i % 4],
            when,
            side="yes" if i % 3 else "no",
            qty=1 + i,
            price=1 + i * 2,
        )
    record(conn, nyc[0], now - timedelta(minutes=5))  # not yet public
    for limit in (1, 7, 41, 500):
        seen = await read_all(aconn, 60, limit)
        assert [as_tuple(t) for t in seen] == expected_feed(conn, 60)
    add_account(conn, "paper")
    add_account(conn, "secret", public=False)
    for i in range(9):
        record(conn, nyc[i % 4], base - timedelta(seconds=11 * i), qty=2, account="paper")
        record(conn, den[i % 4], base - timedelta(seconds=13 * i), price=7, account="secret")
    for limit in (1, 7, 41, 500):
        seen = await read_all(aconn, 60, limit)
        assert [as_tuple(t) for t in seen] == expected_feed(conn, 60)
        assert {t.account for t in seen} == {"default", "paper"}  # never the private one
    for kw in (
        {"city": "NYC"},
        {"city": "den"},
        {"side": "no"},
        {"city": "NYC", "side": "yes"},
        {"account": "paper"},
        {"account": "default", "city": "DEN"},
    ):
        seen = await read_all(aconn, 60, 4, **kw)
        city = kw.get("city")
        want = expected_feed(
            conn, 60, city.upper() if city else None, kw.get("side"), kw.get("account")
        )
        assert [as_tuple(t) for t in seen] == want and want
    page = await read_public_trades(aconn, 60, account="paper")
    assert page.account is not None and (page.account.name, page.account.mode) == ("paper", "demo")
    for name in ("secret", "nobody"):
        with pytest.raises(UnknownAccountError):
            await read_public_trades(aconn, 60, account=name)


def test_cursor_holds_a_minute_and_a_count_and_rejects_garbage() -> None:
    minute = datetime(2026, 3, 8, 7, 1, tzinfo=UTC)
    assert decode_cursor(encode_cursor(minute, 1234)) == (minute, 1234)
    # Seconds and below are not kept: a cursor says no more than the feed's rounded times.
    exact = minute.replace(second=2, microsecond=345678)
    assert encode_cursor(exact, 7) == encode_cursor(minute, 7)
    assert len(base64.urlsafe_b64decode(encode_cursor(minute, 7) + "==")) == 12
    too_many = encode_cursor(minute, MAX_SKIP + 1)
    for bad in ("", "not a cursor", "AAAA", encode_cursor(minute, 1) + "AA", too_many):
        with pytest.raises(AnalyticsInputError) as err:
            decode_cursor(bad)
        assert err.value.field == "cursor"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"side": "maybe"}, "side"),
        ({"city": "NYC1"}, "city"),
        ({"cursor": "!!"}, "cursor"),
        ({"delay_minutes": -1}, "delay_minutes"),
    ],
)
async def test_bad_parameters_name_the_field(
    aconn: psycopg.AsyncConnection, kwargs: dict, field: str
) -> None:
    args = {"delay_minutes": 60, **kwargs}
    with pytest.raises(AnalyticsInputError) as err:
        await read_public_trades(aconn, **args)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (PUBLIC_TRADES_AFTER_SQL, "trades_created_idx"),
        (PUBLIC_TRADES_CITY_AFTER_SQL, "trades_city_created_idx"),
        (PUBLIC_TRADES_ACCOUNT_AFTER_SQL, "trades_account_created_idx"),
    ],
)
def test_deep_pages_seek_the_index(conn: psycopg.Connection, query: str, index: str) -> None:
    """The cursor's minute is an index condition (a seek), not a filter: a deep page reads its
    own rows and, at most, the rest of its cursor's minute (the OFFSET skips only those). (Planner costs are forced toward indexes: the table here is tiny; the
    performance tests check the plans on a million trades without forcing.)"""
    conn.execute("SET enable_seqscan = off")
    conn.execute("SET enable_bitmapscan = off")
    # The view keeps public accounts' trades by `account_id = ANY(public ids)`: on a tiny table
    # the planner may prefer that condition on trades_account_created_idx and sort what it
    # finds; on real volumes (100k trades and up, tests/performance) it walks the time index.
    conn.execute("SET enable_sort = off")
    params = {
        "delay": 60,
        "side": None,
        "limit": 101,
        "city": "NYC",
        "account_id": 1,
        "before": datetime(2026, 1, 1, tzinfo=UTC),
        "skip": 3,
    }
    cur = conn.execute(b"EXPLAIN (FORMAT JSON) " + query.encode(), params)
    nodes = list(plan_nodes(cur.fetchone()[0][0]["Plan"]))  # type: ignore[index]
    on_trades = [n for n in nodes if n.get("Relation Name") == "trades"]
    assert [n["Node Type"] for n in on_trades] == ["Index Scan"]
    assert on_trades[0]["Index Name"] == index
    assert "created_at < '2026-01-01" in on_trades[0]["Index Cond"], on_trades[0]["Index Cond"]


def plan_nodes(node: dict) -> Iterator[dict]:
    """Every node of an EXPLAIN (FORMAT JSON) plan tree."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


async def test_paging_a_generated_history(
    db_url: str, conn: psycopg.Connection, aconn: psycopg.AsyncConnection
) -> None:
    """Thousands of generated trades, some younger than the delay: every visible one exactly
    once, newest first, with and without a city."""
    generate_dataset(db_url, trades=5_000, seed=3)
    hidden = conn.execute(
        "SELECT count(*) FROM ops.trades WHERE created_at > now() - interval '60 minutes'"
    ).fetchone()
    seen = await read_all(aconn, 60, 500)
    assert [as_tuple(t) for t in seen] == expected_feed(conn, 60)
    assert hidden is not None and len(seen) == 5_000 - hidden[0]
    chi = await read_all(aconn, 60, 97, city="CHI", side="yes")
    assert [as_tuple(t) for t in chi] == expected_feed(conn, 60, "CHI", "yes")

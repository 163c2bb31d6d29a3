"""The public feed over HTTP: the disclosure delay holds, times are rounded down to the minute,
and the cursor walks every trade exactly once (with and without filters)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg

from milkbot.analytics.feed import decode_cursor
from milkbot.analytics.window import today_utc
from milkbot.store.accounts import update_account
from milkbot.store.models import AccountUpdate
from milkbot.store.writes import record_trade
from tests.helpers import add_event, roomy_limits
from tests.test_api import api_client, trade


async def walk(client: httpx.AsyncClient, query: str) -> tuple[list[dict[str, Any]], int]:
    """Every trade of the feed ``query`` by following next_cursor; and the number of pages."""
    trades: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        url = f"/api/v1/trades/public?{query}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        trades += body["trades"]
        cursor = body["next_cursor"]
        if cursor is None:
            return trades, pages
        # The cursor holds a minute and a count: no seconds, no trade ids.
        minute, _listed = decode_cursor(cursor)
        assert (minute.second, minute.microsecond) == (0, 0)
        assert minute.strftime("%Y-%m-%dT%H:%M") == trades[-1]["time"][:16]
        assert pages < 100, "the cursor never ends"


def count_of(trade: dict[str, Any]) -> int:
    """A public trade's count of (whole) contracts."""
    return int(Decimal(trade["contracts"]))


async def test_recent_trades_stay_hidden_until_the_delay_passes(db_url: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        tickers = add_event(conn, "NYC", today_utc())
        old = (now - timedelta(minutes=61)).replace(second=37, microsecond=250_000)
        for cid, qty, at in (
            ("now", 1, now),
            ("59min", 2, now - timedelta(minutes=59)),
            ("61min", 3, old),
        ):
            record_trade(conn, trade(tickers[1], cid, "yes", qty, 40, at))
    async with api_client(db_url) as client:
        body = (await client.get("/api/v1/trades/public")).json()
        summary = (await client.get("/api/v1/summary")).json()
        page = (await client.get("/trades")).text
    assert [count_of(t) for t in body["trades"]] == [3]
    shown = datetime.fromisoformat(body["trades"][0]["time"])
    assert shown == old.replace(second=0, microsecond=0)
    assert [count_of(t) for t in summary["latest_trades"]] == [3]
    # The page renders the same delayed feed: one row, at the rounded minute.
    assert page.count('<td class="time">') == 1
    assert old.strftime("%H:%M") in page


async def test_the_account_s_delay_is_enforced_by_the_database_view(db_url: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        tickers = add_event(conn, "NYC", today_utc())
        record_trade(conn, trade(tickers[1], "t", "yes", 1, 40, now - timedelta(minutes=90)))
        update_account(conn, "default", AccountUpdate(public_delay_minutes=120))
    # A server that would show everything at once (its setting adds nothing) cannot.
    async with api_client(db_url, public_delay_minutes=0) as client:
        hidden = (await client.get("/api/v1/trades/public?account=default")).json()
    with psycopg.connect(db_url) as conn:
        view = conn.execute("SELECT count(*) FROM analytics.public_trades").fetchone()
    assert hidden["delay_minutes"] == 120 and hidden["trades"] == []
    assert view == (0,)  # the delay lives in the database, not only in the API
    # A server set to a longer delay than the account's holds its readers back longer.
    with psycopg.connect(db_url, autocommit=True) as conn:
        update_account(conn, "default", AccountUpdate(public_delay_minutes=60))
    async with api_client(db_url, public_delay_minutes=120) as client:
        longer = (await client.get("/api/v1/trades/public")).json()
    async with api_client(db_url, public_delay_minutes=0) as client:
        shown = (await client.get("/api/v1/trades/public")).json()
    assert (longer["delay_minutes"], longer["trades"]) == (120, [])
    assert shown["delay_minutes"] == 60 and len(shown["trades"]) == 1


async def test_cursor_walks_every_trade_exactly_once(db_url: str) -> None:
    """57 trades over two cities, several sharing one execution time (the cursor's tie-break),
    walked 10, 7, 9, 3 and 1 at a time; each is identified by its unique quantity."""
    base = datetime.now(UTC) - timedelta(hours=5)
    day = today_utc() - timedelta(days=1)
    expected: dict[int, tuple[str, str]] = {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        roomy_limits(conn)  # 57 open positions: far beyond 3 % of equity in one city
        nyc = add_event(conn, "NYC", day)
        chi = add_event(conn, "CHI", day)
        for qty in range(1, 58):
            city, tickers = ("NYC", nyc) if qty % 3 else ("CHI", chi)
            side = "yes" if qty % 2 else "no"
            at = base + timedelta(minutes=qty // 4)  # runs of four equal times
            record_trade(conn, trade(tickers[qty % 4], f"c{qty}", side, qty, 30 + qty % 20, at))
            expected[qty] = (city, side)
    async with api_client(db_url) as client:
        everything, pages = await walk(client, "limit=10")
        chi_only, _ = await walk(client, "limit=7&city=CHI")
        no_side, _ = await walk(client, "limit=9&side=no")
        # One or three a page: pages that lie inside one minute count on from their cursor.
        ones, one_pages = await walk(client, "limit=1")
        threes, _ = await walk(client, "limit=3")
    assert pages == 6 and one_pages == 57
    assert ones == threes == everything
    assert Counter(count_of(t) for t in everything) == Counter(expected.keys())
    times = [t["time"] for t in everything]
    assert times == sorted(times, reverse=True)
    assert sorted(count_of(t) for t in chi_only) == [
        q for q, (c, _) in expected.items() if c == "CHI"
    ]
    assert sorted(count_of(t) for t in no_side) == [
        q for q, (_, s) in expected.items() if s == "no"
    ]
    assert {t["city"] for t in chi_only} == {"CHI"}

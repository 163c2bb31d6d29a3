"""What a newcomer meets on the dashboard pages, against a real PostgreSQL: each figure in the
window its label names (API and HTML alike), bad parameters answered with an HTML error page,
filters that refuse unknown values instead of showing everything, calibration deciles with
their signal counts and small ones marked, and counts that agree with their nouns."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from milkbot.analytics.window import today_utc
from milkbot.market import climate_day_bounds
from milkbot.store.accounts import update_account
from milkbot.store.models import AccountUpdate, SettlementIn
from milkbot.store.writes import record_trade, settle_event
from milkbot.web import schemas
from milkbot.web.summary import MIN_BIN_SIGNALS
from milkbot.words import plural
from tests.helpers import add_event, cents, make_trade, roomy_limits
from tests.test_api import BANKROLL, api_client, get_valid, load_known_day
from tests.test_security_headers import assert_page_headers


def page_data(text: str) -> Any:
    """The JSON of a page's ``<script id="page-data">`` block."""
    match = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', text, re.S)
    assert match, "no page-data block"
    return json.loads(match.group(1))


def text_of(text: str, element_id: str) -> str:
    """The text inside the element with ``element_id`` (tags stripped, entities decoded)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:div|span|small|p)>', text, re.S)
    assert match, element_id
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def lose(conn: psycopg.Connection, days_ago: int, cid: str, quantity: int, price: int) -> None:
    """A settled losing buy of YES in NYC's 45-46 F bracket, ``days_ago`` settlement days ago."""
    day = today_utc() - timedelta(days=days_ago)
    tickers = add_event(conn, "NYC", day)
    at = climate_day_bounds("America/New_York", day)[0] + timedelta(hours=3)
    record_trade(conn, make_trade(tickers[1], client_trade_id=cid, count=Decimal(quantity),
                                  price_dollars=cents(price), executed_at=at))  # fmt: skip
    settle_event(conn, SettlementIn(event_ticker=tickers[0].rsplit("-", 1)[0], observed_high_f=48))


@pytest.fixture(scope="module")
def drawdown_db(make_database: Callable[[], str]) -> str:
    """A big loss 60 days ago (outside a 30-day window) and a small one 5 days ago."""
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        roomy_limits(conn)  # a $90 loss is far beyond the 2 % a trade
        lose(conn, 60, "old", 100, 90)
        lose(conn, 5, "recent", 10, 40)
    return url


@pytest.fixture(scope="module")
async def known(make_database: Callable[[], str]) -> AsyncIterator[httpx.AsyncClient]:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        load_known_day(conn)
    async with api_client(url) as client:
        yield client


# 1. Every figure belongs to the window it is labelled with.


async def test_summary_drawdown_is_the_windows_and_all_time_is_its_own_figure(
    drawdown_db: str,
) -> None:
    async with api_client(drawdown_db) as client:
        body = await get_valid(client, "/api/v1/summary?days=30", schemas.SummaryOut)
        month = (await client.get("/api/v1/equity?days=30")).json()["summary"]
        ever = (await client.get("/api/v1/equity?days=3650")).json()["summary"]
        page = (await client.get("/?days=30")).text
    # The window's drawdown is the 30-day equity curve's: the small recent loss only.
    assert body["max_drawdown_pct"] == month["max_drawdown_pct"]
    assert body["max_drawdown_dollars"] == month["max_drawdown_dollars"]
    assert 0 < body["max_drawdown_pct"] < 1
    # The all-time one includes the big loss of 60 days ago, and says which days it covers.
    assert body["all_time_max_drawdown_pct"] == ever["max_drawdown_pct"]
    assert body["all_time_max_drawdown_pct"] > 9
    first = (today_utc() - timedelta(days=60)).isoformat()
    assert body["all_time_window"] == {
        "start": first, "end": today_utc().isoformat(), "days": 61,
    }  # fmt: skip
    assert body["window"]["days"] == 30
    total = Decimal(body["total_pnl_dollars"])
    assert total == Decimal(ever["total_pnl_dollars"]) < Decimal(body["net_pnl_dollars"]) < 0
    assert Decimal(body["equity_dollars"]) == Decimal(BANKROLL) / 100 + total
    # The page puts each in its place: the window's in the 30-day card, all-time by the chart.
    assert text_of(page, "max-dd") == f"{body['max_drawdown_pct']:.1f}%"
    assert 'in <span class="span">30 days</span>' in page
    assert text_of(page, "all-time-dd") == f"{body['all_time_max_drawdown_pct']:.1f}%"
    assert f"{first} to {today_utc().isoformat()}" in text_of(page, "all-time")
    assert page_data(page) == {**body, "as_of": page_data(page)["as_of"]}


async def test_the_overview_takes_a_window_and_labels_every_card_with_it(
    drawdown_db: str,
) -> None:
    async with api_client(drawdown_db) as client:
        week = (await client.get("/?days=7")).text
        day = (await client.get("/?days=1")).text
    assert week.count('<span class="span">7 days</span>') == 5  # 3 card labels, drawdown, cities
    assert page_data(week)["window"]["days"] == 7
    assert day.count('<span class="span">1 day</span>') == 5 and "1 days" not in day


def test_every_summary_figure_says_its_window() -> None:
    fields = schemas.SummaryOut.model_fields
    undated = {
        "as_of", "account", "window", "all_time_window", "starting_bankroll_dollars",
        "delay_minutes",
    }  # fmt: skip
    for name, info in fields.items():
        if name in undated:
            continue
        description = info.description or ""
        assert description.startswith(("Over window: ", "Over all_time_window: ", "Now: ")), name


# 2. Pages answer bad parameters with an HTML error page; the API keeps JSON.

PAGE_REFUSALS = [
    # (path, status, code, field, words of the message)
    ("/cities?days=abc", 422, "invalid_parameter", "days", "days: Input should be a valid integer"),
    ("/?days=0", 422, "invalid_parameter", "days", "days: Input should be greater than or equal"),
    ("/performance?days=99999", 422, "invalid_parameter", "days", "days: Input should be less"),
    ("/strategies?days=-1", 422, "invalid_parameter", "days", "days: Input should be greater"),
    ("/trades?city=ZZZ", 400, "bad_request", "city", "city: unknown city 'ZZZ'; known: NYC, "),
    ("/trades?side=maybe", 400, "bad_request", "side", "side: unknown side 'maybe'; known: yes"),
    ("/strategies?strategy=nope", 400, "bad_request", "strategy", "unknown strategy 'nope'"),
]


@pytest.mark.parametrize(("path", "status", "code", "field", "words"), PAGE_REFUSALS)
async def test_a_page_refuses_a_bad_parameter_with_an_html_error_page(
    known: httpx.AsyncClient, path: str, status: int, code: str, field: str, words: str
) -> None:
    response = await known.get(path)
    assert response.status_code == status
    assert_page_headers(response)
    assert response.headers["cache-control"] == "no-store"
    assert "retry-after" not in response.headers  # nothing to wait for: the address is wrong
    data = page_data(response.text)
    assert isinstance(data, dict) and set(data) == {"error"}
    error = data["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert words in error["message"]
    assert text_of(response.text, "error-message") == error["message"]
    # The way on: the same page with its defaults.
    back = path.split("?")[0]
    assert f'id="error-back" href="{back}"' in response.text
    # The JSON API refuses the same value in the JSON error shape.
    api = {
        "/cities?days=abc": "/api/v1/metrics/cities?days=abc",
        "/trades?city=ZZZ": "/api/v1/trades/public?city=ZZZ",
        "/trades?side=maybe": "/api/v1/trades/public?side=maybe",
        "/strategies?strategy=nope": "/api/v1/calibration?strategy=nope",
    }.get(path)
    if api:
        json_error = await known.get(api)
        assert json_error.status_code == status
        assert json_error.headers["content-type"] == "application/json"
        assert json_error.json()["error"]["message"] == error["message"]


async def test_a_browser_at_an_unknown_address_or_method_gets_an_html_page(
    known: httpx.AsyncClient,
) -> None:
    lost = await known.get("/overveiw", headers={"Accept": "text/html,*/*;q=0.8"})
    assert lost.status_code == 404
    assert_page_headers(lost)
    assert 'id="error-back" href="/"' in lost.text and "no such resource: /overveiw" in lost.text
    posted = await known.post("/trades")
    assert posted.status_code == 405 and posted.headers["allow"] == "GET"
    assert_page_headers(posted)
    # Scripts and tools (no text/html in Accept) and the API keep the JSON error shape.
    for response in (
        await known.get("/overveiw"),
        await known.get("/api/v1/nothing", headers={"Accept": "text/html"}),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"


# 3. Filters: known values filter, unknown ones are refused (above), never ignored.


async def test_the_trade_feed_page_filters_by_city_and_side(known: httpx.AsyncClient) -> None:
    everything = (await known.get("/trades")).text
    chi = (await known.get("/trades?city=chi")).text
    no = (await known.get("/trades?side=no")).text
    none = (await known.get("/trades?city=MIA")).text
    assert everything.count('<td class="time">') == 3
    assert chi.count('<td class="time">') == 1 and "KXHIGHCHI-" in chi and "KXHIGHNY-" not in chi
    assert '<option value="CHI" selected>' in chi
    assert no.count('<td class="time">') == 1 and '<option value="no" selected>' in no
    assert page_data(no)["trades"][0]["side"] == "no"
    assert "No public trades match these filters." in none


# 4. Calibration: counts per decile, small deciles marked, one threshold for API and page.


async def test_calibration_bins_carry_their_counts_and_small_ones_are_flagged(
    known: httpx.AsyncClient,
) -> None:
    body = await get_valid(known, "/api/v1/calibration?days=7", schemas.CalibrationOut)
    assert body["min_signals"] == MIN_BIN_SIGNALS == 30
    assert [b["small"] for b in body["bins"]] == [b["n"] < 30 for b in body["bins"]]
    assert [b["n"] for b in body["bins"] if b["n"]] == [1, 1]
    page = (await known.get("/strategies?days=7")).text
    rows = re.findall(r"<tr( class=\"small\")?>\s*<td>(\d+%)\u2013(\d+%)</td>\s*<td class=\"num\">"
                      r"(\d+)( <span class=\"few\">too few</span>)?", page)  # fmt: skip
    assert len(rows) == 10
    assert all(small for small, *_ in rows)  # two signals in all: every decile is too small
    flagged = [(lo, n) for _, lo, _, n, few in rows if few]
    assert flagged == [("20%", "1"), ("70%", "1")]
    assert 'fewer than <span id="min-signals">30 signals</span>' in page
    assert page_data(page)["calibration"] == body


async def test_the_strategies_page_shows_the_chosen_strategys_calibration(
    known: httpx.AsyncClient,
) -> None:
    page = (await known.get("/strategies?days=7&strategy=nowcast")).text
    cal = page_data(page)["calibration"]
    assert cal["strategy"] == "nowcast" and cal["settled_signals"] == 0
    assert '<option value="nowcast" selected>' in page
    assert text_of(page, "settled") == "0 settled signals"


# 6. Plurals.


def test_plural_agrees_with_the_count() -> None:
    assert plural(1, "trade") == "1 trade"
    assert plural(0, "trade") == "0 trades"
    assert plural(2, "city", "cities") == "2 cities"
    assert plural(1, "city", "cities") == "1 city"
    assert plural(12_345, "day") == "12,345 days"


async def test_pages_say_one_day_and_one_minute(make_database: Callable[[], str]) -> None:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        load_known_day(conn)
        update_account(conn, "default", AccountUpdate(public_delay_minutes=1))
    async with api_client(url) as client:
        pages = {p: (await client.get(p)).text for p in ("/cities?days=1", "/performance?days=1",
                                                          "/strategies?days=1", "/trades")}  # fmt: skip
    assert "(1 day)" in pages["/cities?days=1"]
    assert text_of(pages["/performance?days=1"], "days") == "1 day"
    assert "Trades appear 1 minute after execution" in pages["/trades"]
    assert text_of(pages["/strategies?days=1"], "settled") == "0 settled signals"
    for path, text in pages.items():
        assert not re.search(r"\b1 (days|trades|cities|minutes|signals)\b", text), path

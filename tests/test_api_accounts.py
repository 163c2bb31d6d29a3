"""Accounts over HTTP, against a real PostgreSQL: every route and page answers for the account
asked (default: the primary one), names it with its mode, keeps it in every link; an unknown
and a private account are the same 404 everywhere; the private one shows up nowhere (feed,
switcher, comparison); the comparison sorts, checks its parameters by name and totals only
fees and trades.

The dataset: the default account's known day (tests.test_api.load_known_day: net $6.98) and,
three days ago, NYC settling at 45 F (the 45-46 F bracket YES, 47-48 F NO):
  paper_a  (demo, $500):    buy YES 5 @ $0.35 on 45-46 wins:  gross +$3.25, fee $0.08 -> +$3.17
  replay_b (replay, $2000): buy NO  4 @ $0.20 on 45-46 loses: gross -$0.80, fee $0.05 -> -$0.85
  secret   (demo, private): buy YES 7 @ $0.50 on 47-48 loses.
(Fees: 0.07*C*P*(1-P) up to $0.0001, then the rounding fee up to the account's cent.)
"""

from __future__ import annotations

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
from milkbot.store.accounts import create_account
from milkbot.store.models import AccountIn, SettlementIn
from milkbot.store.writes import record_trade, settle_event
from milkbot.web import schemas
from tests.helpers import add_event
from tests.test_api import api_client, get_valid, load_known_day, trade

PUBLIC = ("default", "paper_a", "replay_b")
ROUTES = (
    "/api/v1/summary",
    "/api/v1/equity",
    "/api/v1/metrics/cities",
    "/api/v1/metrics/strategies",
    "/api/v1/calibration",
    "/api/v1/health",
    "/api/v1/trades/public",
)
PAGES = ("/", "/cities", "/performance", "/strategies", "/trades", "/status", "/compare")


def load_accounts(conn: psycopg.Connection) -> None:
    """The module's dataset (see the module docstring)."""
    load_known_day(conn)
    for name, display, mode, environment, bankroll, public in (
        ("paper_a", "Paper A", "demo", "demo", "500", True),
        ("replay_b", "Replay B", "replay", "simulated", "2000", True),
        ("secret", "Secret bot", "demo", "demo", "1000", False),
    ):
        create_account(
            conn,
            AccountIn(
                name=name,
                display_name=display,
                mode=mode,  # type: ignore[arg-type]
                environment=environment,  # type: ignore[arg-type]
                starting_bankroll_dollars=Decimal(bankroll),
                is_public=public,
                strategies=("daily_high_temp",),
            ),
        )
    day = today_utc() - timedelta(days=3)
    nyc = add_event(conn, "NYC", day)
    at = climate_day_bounds("America/New_York", day)[0] + timedelta(hours=3)
    record_trade(conn, trade(nyc[1], "a1", "yes", 5, 35, at, account="paper_a"))
    record_trade(conn, trade(nyc[1], "b1", "no", 4, 20, at, account="replay_b"))
    record_trade(conn, trade(nyc[2], "s1", "yes", 7, 50, at, account="secret"))
    settle_event(conn, SettlementIn(event_ticker=nyc[0].rsplit("-", 1)[0], observed_high_f=45))


@pytest.fixture(scope="module")
def accounts_db(make_database: Callable[[], str]) -> str:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        load_accounts(conn)
    return url


@pytest.fixture(scope="module")
async def client(accounts_db: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(accounts_db) as c:
        yield c


async def test_the_account_list_has_the_public_accounts_only(client: httpx.AsyncClient) -> None:
    body = await get_valid(client, "/api/v1/accounts", schemas.AccountListOut)
    rows = {a["name"]: a for a in body["accounts"]}
    assert sorted(rows) == sorted(PUBLIC)
    assert rows["paper_a"] == {
        "name": "paper_a",
        "display_name": "Paper A",
        "mode": "demo",
        "environment": "demo",
        "starting_bankroll_dollars": "500.00",
        "strategies": ["daily_high_temp"],
        "description": "",
        "primary": False,
    }
    assert rows["default"]["primary"] is True


async def test_each_route_answers_for_the_account_asked(client: httpx.AsyncClient) -> None:
    paper = await get_valid(client, "/api/v1/summary?account=paper_a", schemas.SummaryOut)
    replay = await get_valid(client, "/api/v1/summary?account=replay_b", schemas.SummaryOut)
    primary = await get_valid(client, "/api/v1/summary", schemas.SummaryOut)
    assert paper["account"] == {"name": "paper_a", "display_name": "Paper A", "mode": "demo"}
    assert (paper["equity_dollars"], paper["net_pnl_dollars"], paper["trades"]) == (
        "503.17", "3.17", 1,
    )  # fmt: skip
    assert (replay["equity_dollars"], replay["net_pnl_dollars"]) == ("1999.15", "-0.85")
    # The primary account's figures are its own: the other accounts' trades never mix in.
    assert (primary["account"]["name"], primary["equity_dollars"], primary["trades"]) == (
        "default", "999.08", 3,
    )  # fmt: skip
    assert {t["account"] for t in paper["latest_trades"]} == {"paper_a"}
    curve = await get_valid(client, "/api/v1/equity?account=paper_a", schemas.EquityCurveOut)
    assert curve["starting_bankroll_dollars"] == "500.00"
    assert curve["summary"]["end_equity_dollars"] == "503.17"
    cities = await get_valid(
        client, "/api/v1/metrics/cities?account=replay_b", schemas.CityMetricsReportOut
    )
    nyc = next(c for c in cities["cities"] if c["city"] == "NYC")
    assert (nyc["contracts"], nyc["fees_dollars"], nyc["net_pnl_dollars"]) == (
        "4.00", "0.05", "-0.85",
    )  # fmt: skip


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize("route", ROUTES)
async def test_a_private_account_is_refused_exactly_like_an_unknown_one(
    client: httpx.AsyncClient, route: str
) -> None:
    private = await client.get(f"{route}?account=secret")
    unknown = await client.get(f"{route}?account=nobody")
    assert private.status_code == unknown.status_code == 404
    refused, missing = _error(private), _error(unknown)
    assert refused["code"] == missing["code"] == "unknown_account"
    assert refused["field"] == missing["field"] == "account"
    assert refused["message"].replace("secret", "X") == missing["message"].replace("nobody", "X")
    assert "/api/v1/accounts" in refused["message"]  # where to find the names


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_of_an_unknown_or_private_account_is_a_404_page(
    client: httpx.AsyncClient, path: str
) -> None:
    for name in ("secret", "nobody"):
        response = await client.get(f"{path}?account={name}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "Account not found" in response.text
        assert "Secret bot" not in response.text
        assert f'id="error-back" href="{path}"' in response.text  # the primary account's page


async def test_the_private_account_shows_up_nowhere(client: httpx.AsyncClient) -> None:
    feed = await get_valid(client, "/api/v1/trades/public?limit=200", schemas.PublicTradePageOut)
    assert {t["account"] for t in feed["trades"]} == {"default", "paper_a", "replay_b"}
    assert len(feed["trades"]) == 5  # the secret account's trade is not among them
    everything = [
        (await client.get(path)).text for path in (*PAGES, "/api/v1/comparison", "/api/v1/accounts")
    ]
    for text in everything:
        assert "secret" not in text.lower(), text[:200]


async def test_the_comparison_sorts_and_totals_only_fees_and_trades(
    client: httpx.AsyncClient,
) -> None:
    body = await get_valid(
        client, "/api/v1/comparison?days=30&sort=equity&order=asc", schemas.ComparisonReportOut
    )
    names = [r["account"]["name"] for r in body["accounts"]]
    assert names == ["paper_a", "default", "replay_b"]  # $503.17 < $999.08 < $1,999.15
    assert (body["sort"], body["descending"]) == ("equity", False)
    assert body["total_trades"] == 5 == sum(r["trades"] for r in body["accounts"])
    fees = sum(Decimal(r["fees_dollars"]) for r in body["accounts"])
    assert Decimal(body["total_fees_dollars"]) == fees == Decimal("0.45")
    assert not any(k.startswith("total_") and "equity" in k for k in body)
    by_return = await get_valid(client, "/api/v1/comparison", schemas.ComparisonReportOut)
    assert [r["account"]["name"] for r in by_return["accounts"]] == [
        "default", "paper_a", "replay_b",
    ]  # fmt: skip  # return on bankroll: 0.70 %, 0.63 %, -0.04 %
    demo = await get_valid(client, "/api/v1/comparison?mode=demo", schemas.ComparisonReportOut)
    assert [r["account"]["name"] for r in demo["accounts"]] == ["paper_a"]
    curve = by_return["accounts"][1]["curve"]
    assert curve[-1] == pytest.approx(503.17 / 500)  # equity / starting bankroll
    days = by_return["curve_days"]  # the window's 30 days, shared by every account's curve
    assert len(days) == 30 and days[-1] == by_return["window"]["end"]
    assert all(len(r["curve"]) == 30 for r in by_return["accounts"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=equity_dollars", "sort"),
        ("sort=trades&order=up", "order"),
        ("mode=paper", "mode"),
        ("days=0", "days"),
    ],
)
async def test_the_comparison_refuses_a_bad_parameter_naming_it(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/comparison?{query}")
    assert response.status_code in (400, 422)
    assert _error(response)["field"] == field
    page = await client.get(f"/compare?{query}")
    assert page.status_code == response.status_code
    assert page.headers["content-type"].startswith("text/html")


def rows_of(page: str) -> list[str]:
    return re.findall(r'<tr data-account="([a-z_0-9]+)"', page)


async def test_the_compare_page_sorts_by_its_column_links(client: httpx.AsyncClient) -> None:
    page = (await client.get("/compare?account=paper_a&sort=name")).text
    assert rows_of(page) == ["default", "paper_a", "replay_b"]
    assert '<tr data-account="paper_a" class="selected">' in page
    # The sorted column's link reverses it; another column's starts at its natural order.
    name_link = re.search(r'<a href="([^"]+)" data-sort="name">', page)
    equity_link = re.search(r'<a href="([^"]+)" data-sort="equity">', page)
    assert name_link and equity_link
    assert name_link.group(1).replace("&amp;", "&") == (
        "/compare?account=paper_a&sort=name&order=desc"
    )
    assert equity_link.group(1).replace("&amp;", "&") == (
        "/compare?account=paper_a&sort=equity&order=desc"
    )
    reversed_page = (await client.get(name_link.group(1).replace("&amp;", "&"))).text
    assert rows_of(reversed_page) == ["replay_b", "paper_a", "default"]
    # Totals: fees and trades only, never equity.
    totals = re.search(r'<tr id="compare-totals">(.*?)</tr>', page, re.S)
    assert totals
    cells = re.findall(r"<td[^>]*>(.*?)</td>", totals.group(1))
    assert [c for c in cells if c] == ["Total · 3 accounts", "$0.45", "5"]
    # Every account is drawn (three are few), the selected one on top, in its own colour.
    assert page.count('<polyline class="curve') == 3
    assert 'class="curve selected" data-account="paper_a"' in page


async def test_every_internal_link_keeps_the_account(client: httpx.AsyncClient) -> None:
    for path in PAGES:
        page = (await client.get(f"{path}?account=replay_b&days=7")).text
        links = re.findall(r'href="(/[^"]*)"', page)
        internal = [
            link
            for link in links
            if not link.startswith(("/static/", "/docs", "/health", "/api/v1/trades", "/login"))
        ]
        assert internal, path
        for link in internal:
            assert "account=replay_b" in link or "account=" in link, (path, link)
        # Links to other accounts only where the page offers them (the comparison's rows).
        if path != "/compare":
            assert all("account=replay_b" in link for link in internal), path
        # The switcher offers every public account and sends the page's other parameters back.
        options = re.findall(r'<option value="([a-z_0-9]+)"( selected)?>', page)
        assert [n for n, _ in options if n in PUBLIC] == ["default", "paper_a", "replay_b"]
        assert ("replay_b", " selected") in options
        assert '<input type="hidden" name="days" value="7">' in page


async def test_pages_name_the_account_and_its_mode_beside_the_figures(
    client: httpx.AsyncClient,
) -> None:
    for path in PAGES[:-1]:
        page = (await client.get(f"{path}?account=replay_b")).text
        assert '<span id="account-name">Replay B</span>' in page, path
        assert '<span class="badge mode mode-replay">REPLAY</span>' in page, path
    overview = (await client.get("/?account=paper_a")).text
    assert "$503.17" in overview and "Paper A" in overview and "DEMO" in overview
    assert "$999.08" not in overview  # not the primary account's equity


async def test_the_response_cache_keys_by_account(accounts_db: str) -> None:
    async with api_client(accounts_db, cache_ttl=5) as c:
        paper = await c.get("/api/v1/summary?account=paper_a")
        primary = await c.get("/api/v1/summary")
        paper_again = await c.get("/api/v1/summary?account=paper_a")
        page_paper = await c.get("/?account=paper_a")
        page_replay = await c.get("/?account=replay_b")
    assert paper.json()["account"]["name"] == "paper_a"
    assert primary.json()["account"]["name"] == "default"
    assert paper_again.content == paper.content
    assert "Paper A" in page_paper.text and "Replay B" in page_replay.text
    assert "$503.17" in page_paper.text and "$503.17" not in page_replay.text


@pytest.mark.parametrize("name", ["%00", "x%00y", "DEFAULT", "default%20", "1bot", "b-c"])
async def test_a_name_no_account_can_have_is_an_unknown_account(
    client: httpx.AsyncClient, name: str
) -> None:
    """Not a 500 from the database (NUL bytes): a 404 like any unknown name. (Over 63
    characters is a 422, as every parameter's length is bounded.)"""
    for route in (*ROUTES, "/"):
        response = await client.get(f"{route}?account={name}")
        assert response.status_code == 404, (route, response.text[:200])
        if route.startswith("/api/"):
            assert _error(response)["code"] == "unknown_account"

"""The JSON API's contract against a real PostgreSQL: every endpoint on a small dataset whose
figures are worked out by hand here, responses validated against the documented models."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import BaseModel

from milkbot.analytics.window import today_utc
from milkbot.market import climate_day_bounds
from milkbot.settings import Settings
from milkbot.store.credentials import add_operator
from milkbot.store.models import HeartbeatIn, SettlementIn, SignalIn, TradeIn
from milkbot.store.writes import post_heartbeat, record_signal, record_trade, settle_event
from milkbot.web import schemas
from milkbot.web.app import create_app
from tests.helpers import add_event

BANKROLL = 99_210  # cents: the default account's $992.10 (migration 0006)


def app_settings(url: str, **overrides: object) -> Settings:
    """Settings of an app under test: its own database, no cache unless asked, a small pool."""
    values: dict[str, object] = {
        "database_url": url,
        "cache_ttl": 0,
        "pool_size": 2,
        "max_overflow": 2,
        "pool_timeout": 5.0,
        "starting_bankroll_cents": BANKROLL,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def api_client(url: str, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on a freshly built app (lifespan run: pool open, delay synced)."""
    app = create_app(app_settings(url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://milkbot.test") as c:
            yield c


OPERATOR = "ops"
OPERATOR_PASSWORD = "operator password"
METRICS_TOKEN = "m" * 40
# The header that reads /metrics on an app built with metrics_token_file (tests/conftest.py).
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def write_metrics_token(directory: Path) -> Path:
    """A 0600 file holding METRICS_TOKEN, for the metrics_token_file setting."""
    path = directory / "metrics-token"
    path.write_text(METRICS_TOKEN + "\n")
    path.chmod(0o600)
    return path


async def sign_in(client: httpx.AsyncClient, url: str) -> None:
    """Sign ``client`` in as the operator OPERATOR (made in database ``url`` if missing), the
    way a browser does: the form's page, then the form."""
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM ops.operators WHERE name = %s", [OPERATOR]).fetchone():
            add_operator(conn, OPERATOR, OPERATOR_PASSWORD)
    page = await client.get("/login")
    found = CSRF_FIELD.search(page.text)
    assert found is not None, page.text
    done = await client.post(
        "/login",
        data={"csrf_token": found.group(1), "name": OPERATOR, "password": OPERATOR_PASSWORD},
    )
    assert done.status_code == 303, done.text
    assert "milkbot_session" in client.cookies


@asynccontextmanager
async def operator_client(url: str, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    """:func:`api_client`, signed in as an operator."""
    async with api_client(url, **overrides) as client:
        await sign_in(client, url)
        yield client


def trade(
    ticker: str, cid: str, side: str, qty: int, price: int, at: datetime, account: str = "default"
) -> TradeIn:
    """A taker buy of ``qty`` contracts at ``price`` cents by ``account``."""
    return TradeIn(
        account=account,
        client_trade_id=cid,
        ticker=ticker,
        strategy="daily_high_temp",
        side=side,  # type: ignore[arg-type]
        action="buy",
        count=Decimal(qty),
        price_dollars=Decimal(price) / 100,
        executed_at=at,
    )


def load_known_day(conn: psycopg.Connection) -> date:
    """Two days ago: NYC and CHI events, three settled trades and two settled signals.

    NYC settles at 45 F: B45.5 (45-46) YES, the rest NO. Fees: Kalshi's 0.07*C*P*(1-P) rounded
    up to $0.0001, plus the rounding fee that brings the default account's debit up to the cent:
      buy YES 10 @ $0.40 on B45.5 wins: gross $6.00, fee $0.1680 + $0.0020 = $0.17
      buy NO   5 @ $0.30 on B47.5 wins: gross $3.50, fee $0.0735 + $0.0065 = $0.08
    CHI settles at 48 F: B45.5 NO.
      buy YES  4 @ $0.55 on B45.5 loses: gross -$2.20, fee $0.0693 + $0.0007 = $0.07
    Net: NYC $9.50 - $0.25 = $9.25, CHI -$2.27, total $6.98. Brier of the signals 0.7 (YES) and 0.2 (NO):
    ((0.7 - 1)^2 + 0.2^2) / 2 = 0.065.
    """
    day = today_utc() - timedelta(days=2)
    nyc = add_event(conn, "NYC", day)
    chi = add_event(conn, "CHI", day)
    at = climate_day_bounds("America/New_York", day)[0] + timedelta(hours=3)
    record_trade(conn, trade(nyc[1], "k1", "yes", 10, 40, at))
    record_trade(conn, trade(nyc[2], "k2", "no", 5, 30, at + timedelta(minutes=5)))
    record_trade(conn, trade(chi[1], "k3", "yes", 4, 55, at + timedelta(minutes=10)))
    for ticker, prob, price in ((nyc[1], 0.7, 40), (nyc[2], 0.2, 70)):
        record_signal(
            conn,
            SignalIn(
                account="default",
                strategy="daily_high_temp",
                ticker=ticker,
                created_at=at,
                model_prob=prob,
                yes_price_dollars=Decimal(price) / 100,
                decision="HOLD",
            ),
        )
    settle_event(conn, SettlementIn(event_ticker=nyc[0].rsplit("-", 1)[0], observed_high_f=45))
    settle_event(conn, SettlementIn(event_ticker=chi[0].rsplit("-", 1)[0], observed_high_f=48))
    return day


@pytest.fixture(scope="module")
def known_db(make_database: Callable[[], str]) -> str:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        load_known_day(conn)
    return url


@pytest.fixture(scope="module")
async def client(known_db: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(known_db) as c:
        yield c


async def get_valid(
    client: httpx.AsyncClient, url: str, model: type[BaseModel], status: int = 200
) -> dict[str, Any]:
    """GET ``url``, check status and JSON type, validate against the documented model (which
    forbids undocumented fields) and return the body."""
    response = await client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    model.model_validate(body)
    return body


def by_city(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["city"]: c for c in body["cities"]}


async def test_city_metrics_are_worked_out_per_city(client: httpx.AsyncClient) -> None:
    body = await get_valid(client, "/api/v1/metrics/cities?days=7", schemas.CityMetricsReportOut)
    assert body["window"]["days"] == 7
    assert body["window"]["end"] == today_utc().isoformat()
    cities = by_city(body)
    assert len(cities) == 10
    nyc, chi = cities["NYC"], cities["CHI"]
    assert (nyc["trades"], nyc["contracts"], nyc["gross_pnl_dollars"], nyc["fees_dollars"]) == (
        2, "15.00", "9.50", "0.25",
    )  # fmt: skip
    assert (nyc["net_pnl_dollars"], nyc["wins"], nyc["losses"], nyc["win_rate"]) == (
        "9.25", 2, 0, 1.0,
    )  # fmt: skip
    assert (chi["net_pnl_dollars"], chi["wins"], chi["losses"], chi["win_rate"]) == (
        "-2.27", 0, 1, 0.0,
    )  # fmt: skip
    assert body["account"] == {
        "name": "default", "display_name": "Default account", "mode": "live",
    }  # fmt: skip
    assert cities["MIA"]["trades"] == 0 and cities["MIA"]["win_rate"] is None


async def test_city_metrics_filter_by_strategy(client: httpx.AsyncClient) -> None:
    mine = await get_valid(
        client,
        "/api/v1/metrics/cities?days=7&strategy=daily_high_temp",
        schemas.CityMetricsReportOut,
    )
    other = await get_valid(
        client, "/api/v1/metrics/cities?days=7&strategy=nowcast", schemas.CityMetricsReportOut
    )
    assert mine["strategy"] == "daily_high_temp"
    assert by_city(mine)["NYC"]["net_pnl_dollars"] == "9.25"
    assert sum(c["trades"] for c in other["cities"]) == 0


async def test_a_window_that_ends_before_the_trades_shows_none(client: httpx.AsyncClient) -> None:
    end = today_utc() - timedelta(days=3)
    body = await get_valid(
        client,
        f"/api/v1/metrics/cities?from_date={end - timedelta(days=9)}&to_date={end}",
        schemas.CityMetricsReportOut,
    )
    assert body["window"] == {
        "start": (end - timedelta(days=9)).isoformat(),
        "end": end.isoformat(),
        "days": 10,
    }
    assert sum(c["trades"] for c in body["cities"]) == 0


async def test_strategy_metrics_cover_every_strategy(client: httpx.AsyncClient) -> None:
    body = await get_valid(
        client, "/api/v1/metrics/strategies?days=7", schemas.StrategyMetricsReportOut
    )
    rows = {s["strategy"]: s for s in body["strategies"]}
    # The account's strategies: those it runs (none listed in this database) and those it
    # traded.
    assert set(rows) == {"daily_high_temp"}
    main = rows["daily_high_temp"]
    assert (main["trades"], main["net_pnl_dollars"], main["wins"], main["losses"]) == (
        3, "6.98", 2, 1,
    )  # fmt: skip
    assert main["signals"] == 2 and main["settled_signals"] == 2
    assert main["brier_score"] == pytest.approx(0.065)


async def test_equity_curve_ends_at_bankroll_plus_net_pnl(client: httpx.AsyncClient) -> None:
    body = await get_valid(client, "/api/v1/equity?days=7", schemas.EquityCurveOut)
    points = body["points"]
    assert body["starting_bankroll_dollars"] == "992.10"
    assert points[-1]["equity_dollars"] == "999.08"
    assert sum(Decimal(p["daily_pnl_dollars"]) for p in points) == Decimal("6.98")
    assert points[-1]["date"] == today_utc().isoformat()
    assert body["summary"]["end_equity_dollars"] == "999.08"
    thin = await get_valid(client, "/api/v1/equity?days=7&max_points=2", schemas.EquityCurveOut)
    assert len(thin["points"]) == 2
    assert thin["summary"] == body["summary"]


async def test_calibration_bins_and_brier_score(client: httpx.AsyncClient) -> None:
    body = await get_valid(client, "/api/v1/calibration?days=7", schemas.CalibrationOut)
    assert len(body["bins"]) == 10
    filled = {b["bucket"]: b for b in body["bins"] if b["n"]}
    assert set(filled) == {2, 7}
    assert filled[7]["mean_prob"] == pytest.approx(0.7) and filled[7]["observed_freq"] == 1.0
    assert filled[2]["mean_prob"] == pytest.approx(0.2) and filled[2]["observed_freq"] == 0.0
    assert body["brier_score"] == pytest.approx(0.065)
    assert body["settled_signals"] == 2
    other = await get_valid(
        client, "/api/v1/calibration?days=7&strategy=nowcast", schemas.CalibrationOut
    )
    assert other["brier_score"] is None and all(b["n"] == 0 for b in other["bins"])


async def test_summary_has_the_overview_figures(client: httpx.AsyncClient) -> None:
    body = await get_valid(client, "/api/v1/summary", schemas.SummaryOut)
    assert body["equity_dollars"] == "999.08"
    assert body["total_pnl_dollars"] == "6.98"
    assert (body["net_pnl_dollars"], body["trades"], body["wins"], body["losses"]) == (
        "6.98", 3, 2, 1,
    )  # fmt: skip
    assert body["account"]["name"] == "default"
    assert body["win_rate"] == pytest.approx(2 / 3)
    assert body["window"]["days"] == 30
    assert body["health"] == "unhealthy"  # no heartbeat yet
    assert body["sparkline"][-1]["equity_dollars"] == "999.08"
    assert len(body["latest_trades"]) == 3


async def test_public_feed_lists_trades_newest_first(client: httpx.AsyncClient) -> None:
    body = await get_valid(client, "/api/v1/trades/public", schemas.PublicTradePageOut)
    assert body["delay_minutes"] == 60 and body["next_cursor"] is None
    assert [
        (t["account"], t["city"], t["side"], t["contracts"], t["price_dollars"])
        for t in body["trades"]
    ] == [
        ("default", "CHI", "yes", "4.00", "0.55"),
        ("default", "NYC", "no", "5.00", "0.30"),
        ("default", "NYC", "yes", "10.00", "0.40"),
    ]
    yes_only = await get_valid(client, "/api/v1/trades/public?side=no", schemas.PublicTradePageOut)
    assert [t["ticker"] for t in yes_only["trades"]] == [body["trades"][1]["ticker"]]
    chi = await get_valid(client, "/api/v1/trades/public?city=chi", schemas.PublicTradePageOut)
    assert [t["city"] for t in chi["trades"]] == ["CHI"]


async def test_cached_responses_say_so_and_health_is_never_cached(known_db: str) -> None:
    async with api_client(known_db, cache_ttl=5) as c:
        cities = await c.get("/api/v1/metrics/cities")
        again = await c.get("/api/v1/metrics/cities")
        health = await c.get("/api/v1/health")
        lb = await c.get("/health")
    assert cities.headers["cache-control"] == "public, max-age=5"
    assert again.content == cities.content
    assert health.headers["cache-control"] == "no-store"
    assert lb.headers["cache-control"] == "no-store"


async def test_large_bodies_are_gzipped(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/metrics/cities", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    raw = await client.get("/api/v1/metrics/cities", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content)
    small = await client.get("/api/v1/ping", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # below the threshold: sent as is


async def test_ping_needs_no_database(client: httpx.AsyncClient) -> None:
    assert await get_valid(client, "/api/v1/ping", schemas.PingOut) == {"status": "ok"}


async def test_openapi_documents_every_endpoint(known_db: str) -> None:
    async with operator_client(known_db) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    for path in (
        "/api/v1/metrics/cities",
        "/api/v1/metrics/strategies",
        "/api/v1/equity",
        "/api/v1/trades/public",
        "/api/v1/health",
        "/api/v1/summary",
        "/api/v1/calibration",
        "/api/v1/ping",
        "/api/v1/accounts",
        "/api/v1/comparison",
        "/health",
    ):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/api/v1/trades/public"]["get"]["parameters"]}
    assert params == {"limit", "cursor", "city", "side", "account"}
    assert "/" not in spec["paths"]  # pages are not part of the API
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_load_balancer_health_follows_the_components(db_url: str) -> None:
    async with api_client(db_url) as c:
        nothing = await c.get("/health")
        with psycopg.connect(db_url, autocommit=True) as conn:
            now = datetime.now(UTC)
            for component in ("trader", "market_data"):
                post_heartbeat(
                    conn, HeartbeatIn(account="default", component=component, observed_at=now)
                )
            conn.execute("UPDATE analytics.freshness SET updated_at = now()")
            healthy = await c.get("/health")
            detail = await get_valid(c, "/api/v1/health", schemas.HealthReportOut)
            late = now - timedelta(seconds=300)  # trader: degraded after 120 s
            conn.execute(
                "UPDATE ops.component_health SET observed_at = %s WHERE component = 'trader'",
                [late],
            )
            degraded = await c.get("/health")
            gone = now - timedelta(hours=2)  # trader: unhealthy after 600 s
            conn.execute(
                "UPDATE ops.component_health SET observed_at = %s WHERE component = 'trader'",
                [gone],
            )
            unhealthy = await c.get("/health")
    assert (nothing.status_code, nothing.json()["status"]) == (503, "unhealthy")
    assert nothing.json()["components"]["trader"] == "unhealthy"
    assert (healthy.status_code, healthy.json()["status"]) == (200, "healthy")
    # The public's health leaves out the pre-aggregates' freshness (it dates the last trade).
    assert {c["name"] for c in detail["components"]} == {"database", "trader", "market_data"}
    assert (degraded.status_code, degraded.json()["status"]) == (200, "degraded")
    assert (unhealthy.status_code, unhealthy.json()["components"]["trader"]) == (503, "unhealthy")


async def test_health_says_unhealthy_when_the_database_is_gone(
    make_database: Callable[[], str], server_url: str
) -> None:
    from tests.conftest import drop_database

    url = make_database()
    async with api_client(url, pool_timeout=1.0) as c:
        drop_database(server_url, psycopg.conninfo.conninfo_to_dict(url)["dbname"])
        response = await c.get("/health")
        detail = await c.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["components"]["database"] == "unhealthy"
    assert detail.status_code == 200 and detail.json()["status"] == "unhealthy"


PAGES = ("/", "/cities", "/performance", "/strategies", "/trades", "/status", "/compare")


@pytest.mark.parametrize("path", PAGES)
async def test_pages_render_their_numbers_server_side(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html.rstrip().endswith("</html>")
    for _, href, label in (("", "/cities", "Cities"), ("", "/trades", "Trades")):
        # the nav is on every page, every link for the account shown
        assert f'href="{href}?account=default"' in html and label in html
    expected = {
        "/": "$999.08",  # equity: 99,210 + 698 cents
        "/cities": "+$9.25",  # NYC net
        "/performance": "$999.08",
        "/strategies": "0.065",  # Brier score
        "/trades": "KXHIGHCHI-",
        "/status": '<span class="badge badge-unhealthy">unhealthy</span>',  # trader, unheard
        "/compare": "$999.08",  # the default account's equity
    }[path]
    assert expected in html


async def test_static_assets_are_versioned_and_the_chart_licence_ships(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/performance")).text
    start = html.index("/static/vendor/uplot/uPlot.iife.min.js?v=")
    url = html[start : html.index('"', start)]
    script = await client.get(url)
    assert script.status_code == 200
    assert "immutable" in script.headers["cache-control"]
    licence = await client.get("/static/vendor/uplot/LICENSE")
    assert licence.status_code == 200 and "MIT License" in licence.text


@pytest.mark.parametrize(
    "path", [*PAGES, "/api/v1/summary", "/api/v1/equity", "/api/v1/calibration"]
)
async def test_an_empty_database_still_renders(db_url: str, path: str) -> None:
    """`milkbot serve` on a database nobody has filled yet: every page and summary answers."""
    async with api_client(db_url) as c:
        response = await c.get(path)
    assert response.status_code == 200, response.text
    if path == "/":
        assert "$992.10" in response.text  # equity is the starting bankroll
        assert "No public trades yet." in response.text

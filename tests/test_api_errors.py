"""Every error path of the app answers in the one error shape,
``{"error": {"code", "message", "field"}}``, with the right status and no traceback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from structlog.testing import capture_logs

from tests.test_api import api_client

# (method, path, status, code, field): every way a request can be refused.
REFUSALS = [
    ("GET", "/no/such/page", 404, "not_found", None),
    ("GET", "/api/v1/nothing", 404, "not_found", None),
    ("POST", "/api/v1/summary", 405, "method_not_allowed", None),
    ("DELETE", "/health", 405, "method_not_allowed", None),
    # 422: a parameter fails its declared type or range.
    ("GET", "/api/v1/metrics/cities?days=0", 422, "invalid_parameter", "days"),
    ("GET", "/api/v1/metrics/cities?days=3651", 422, "invalid_parameter", "days"),
    ("GET", "/api/v1/metrics/cities?days=ten", 422, "invalid_parameter", "days"),
    ("GET", f"/api/v1/metrics/cities?strategy={'x' * 64}", 422, "invalid_parameter", "strategy"),
    ("GET", "/api/v1/metrics/cities?from_date=2026-13-01", 422, "invalid_parameter", "from_date"),
    ("GET", "/api/v1/metrics/strategies?to_date=yesterday", 422, "invalid_parameter", "to_date"),
    ("GET", "/api/v1/equity?max_points=1", 422, "invalid_parameter", "max_points"),
    ("GET", "/api/v1/equity?days=-5", 422, "invalid_parameter", "days"),
    ("GET", "/api/v1/trades/public?limit=0", 422, "invalid_parameter", "limit"),
    ("GET", "/api/v1/trades/public?limit=501", 422, "invalid_parameter", "limit"),
    ("GET", f"/api/v1/trades/public?city={'X' * 17}", 422, "invalid_parameter", "city"),
    ("GET", "/api/v1/calibration?days=x", 422, "invalid_parameter", "days"),
    ("GET", "/api/v1/summary?days=0", 422, "invalid_parameter", "days"),
    # 400: well-formed, but refused by the analytics.
    ("GET", "/api/v1/trades/public?cursor=not-a-cursor", 400, "bad_request", "cursor"),
    # An unknown value of an enumerated filter (the message lists the known ones).
    ("GET", "/api/v1/trades/public?city=XYZ", 400, "bad_request", "city"),
    ("GET", "/api/v1/trades/public?city=NEWYORK", 400, "bad_request", "city"),
    ("GET", "/api/v1/trades/public?side=maybe", 400, "bad_request", "side"),
    ("GET", "/api/v1/metrics/cities?strategy=unknown", 400, "bad_request", "strategy"),
    ("GET", "/api/v1/metrics/cities?strategy=Not-A-Name", 400, "bad_request", "strategy"),
    ("GET", "/api/v1/calibration?strategy=unknown", 400, "bad_request", "strategy"),
    ("GET", "/api/v1/metrics/cities?days=7&from_date=2026-01-01", 400, "bad_request", "days"),
    (
        "GET",
        "/api/v1/equity?from_date=2026-02-01&to_date=2026-01-01",
        400,
        "bad_request",
        "from_date",
    ),
]


# Every route that takes a date, and the dates it must refuse with a 400 naming the parameter:
# outside MIN_DATE..MAX_DATE (window.py), including date's own extremes that used to overflow.
DATE_ROUTES = [
    "/api/v1/metrics/cities",
    "/api/v1/metrics/strategies",
    "/api/v1/equity",
    "/api/v1/calibration",
]
OUT_OF_RANGE_DATES = ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"]
# Pages take no dates (unknown parameters are ignored) and at most MAX_DAYS days.
PAGES = ["/", "/cities", "/performance", "/strategies", "/trades", "/status"]


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "field"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    return error


async def test_every_refusal_has_the_error_shape(db_url: str) -> None:
    async with api_client(db_url) as client:
        for method, path, status, code, field in REFUSALS:
            response = await client.request(method, path)
            error = assert_error_shape(response, status, code)
            assert error["field"] == field, (path, error)
            if field:
                assert field in error["message"], (path, error)


async def test_dates_out_of_range_are_a_400_naming_the_parameter(db_url: str) -> None:
    async with api_client(db_url) as client:
        for route in DATE_ROUTES:
            for field in ("from_date", "to_date"):
                for day in OUT_OF_RANGE_DATES:
                    for extra in ("", "&days=3650", "&from_date=2020-01-01", "&to_date=2030-01-01"):
                        if extra.startswith(f"&{field}") or (
                            field == "from_date" and extra == "&days=3650"
                        ):
                            continue
                        path = f"{route}?{field}={day}{extra}"
                        error = assert_error_shape(await client.get(path), 400, "bad_request")
                        assert error["field"] == field, (path, error)
                        assert error["message"].startswith(f"{field}: {day} is out of range"), (
                            path,
                            error,
                        )
                        assert "2000-01-01" in error["message"] and "2100-12-31" in error["message"]


async def test_windows_at_the_date_bounds_are_answered(db_url: str) -> None:
    """The longest window ending at the lowest date (it starts there too: a window never
    reaches outside the accepted dates), the bounds themselves, and the longest window ending
    at the highest date."""
    async with api_client(db_url) as client:
        for route in DATE_ROUTES:
            for query in (
                "days=3650&to_date=2000-01-01",
                "days=3650&to_date=2100-12-31",
                "from_date=2000-01-01&to_date=2000-01-01",
                "from_date=2100-12-31&to_date=2100-12-31",
                "from_date=2091-01-03&to_date=2100-12-31",
            ):
                response = await client.get(f"{route}?{query}")
                assert response.status_code == 200, (route, query, response.text)
        curve = (await client.get("/api/v1/equity?days=3650&to_date=2000-01-01")).json()
        assert curve["window"] == {"start": "2000-01-01", "end": "2000-01-01", "days": 1}
        late = (await client.get("/api/v1/equity?days=3650&to_date=2100-12-31")).json()
        assert late["window"] == {"start": "2091-01-03", "end": "2100-12-31", "days": 3650}
        for days in ("1", "3650"):
            assert (await client.get(f"/api/v1/summary?days={days}")).status_code == 200


async def test_unknown_filter_values_are_a_400_listing_the_known_ones(db_url: str) -> None:
    cities = "NYC, CHI, LAX, MIA, AUS, DEN, PHL, BOS, SEA, SFO"
    strategies = "daily_high_temp, ensemble, mean_reversion, nowcast"
    async with api_client(db_url) as client:
        for path, field, listed in (
            ("/api/v1/trades/public?city=ZZZ", "city", cities),
            ("/api/v1/trades/public?side=maybe", "side", "yes, no"),
            ("/api/v1/metrics/cities?strategy=nope", "strategy", strategies),
            ("/api/v1/calibration?strategy=nope", "strategy", strategies),
        ):
            error = assert_error_shape(await client.get(path), 400, "bad_request")
            assert error["field"] == field, path
            assert error["message"].startswith(f"{field}: unknown {field} "), error
            assert error["message"].endswith(f"known: {listed}"), error
        # Known values in any case, and an empty value (a form's "All"), are accepted.
        for query in ("city=nyc", "city=NYC", "side=YES", "side=no", "city=&side="):
            response = await client.get(f"/api/v1/trades/public?{query}")
            assert response.status_code == 200, (query, response.text)


async def test_pages_ignore_dates_and_refuse_bad_days_without_a_500(db_url: str) -> None:
    async with api_client(db_url) as client:
        for page in PAGES:
            for day in [*OUT_OF_RANGE_DATES, "2000-01-01", "2100-12-31"]:
                response = await client.get(f"{page}?from_date={day}&to_date={day}")
                assert response.status_code == 200, (page, day, response.text)
                assert response.headers["content-type"].startswith("text/html")
        for page in ("/", "/cities", "/performance", "/strategies"):
            assert (await client.get(f"{page}?days=3650")).status_code == 200
            for days in ("0", "3651", "99999999999999999999", "1e3"):
                response = await client.get(f"{page}?days={days}")
                assert response.status_code == 422, (page, days)
                assert response.headers["content-type"].startswith("text/html")
                assert 'data-code="invalid_parameter"' in response.text


async def test_an_unexpected_failure_is_a_500_without_traceback(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP VIEW analytics.public_trades")
    async with api_client(db_url) as client:
        with capture_logs() as logs:
            response = await client.get("/api/v1/trades/public")
    error = assert_error_shape(response, 500, "internal_error")
    assert error["field"] is None
    assert "public_trades" not in response.text and "psycopg" not in response.text
    logged = [e for e in logs if e["event"] == "unhandled_error"]
    assert len(logged) == 1
    assert "UndefinedTable" in logged[0]["traceback"]
    assert logged[0]["path"] == "/api/v1/trades/public"


async def test_no_free_connection_is_a_503(db_url: str) -> None:
    """One pooled connection, held by a request that waits on a lock: the next request cannot
    get a connection within the pool timeout and is told so (503), not left hanging."""
    async with api_client(db_url, pool_size=1, max_overflow=0, pool_timeout=0.5) as client:
        with psycopg.connect(db_url) as locker:
            lock_analytics(locker)
            blocked = asyncio.create_task(client.get("/api/v1/metrics/cities?days=7"))
            await _until_waiting(db_url)
            refused = await client.get("/api/v1/metrics/strategies?days=7")
            locker.rollback()
            finished = await blocked
    error = assert_error_shape(refused, 503, "pool_exhausted")
    assert "MILKBOT_POOL_SIZE" in error["message"]
    assert refused.headers["retry-after"] == "1"
    assert finished.status_code == 200


async def test_a_query_past_the_statement_timeout_is_a_503(db_url: str) -> None:
    async with api_client(db_url, statement_timeout_ms=300) as client:
        with psycopg.connect(db_url) as locker:
            lock_analytics(locker)
            response = await client.get("/api/v1/metrics/cities?days=7")
            locker.rollback()
    error = assert_error_shape(response, 503, "query_timeout")
    assert "MILKBOT_STATEMENT_TIMEOUT_MS" in error["message"]


def lock_analytics(conn: psycopg.Connection) -> None:
    """Lock every table of the analytics schema (in this open transaction), so any analytics
    query waits until the transaction ends."""
    tables = [
        sql.Identifier("analytics", name)
        for (name,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'analytics'"
        ).fetchall()
    ]
    conn.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.SQL(", ").join(tables))
    )


async def _until_waiting(db_url: str) -> None:
    """Wait (bounded) until a session of this database waits on a lock."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        for _ in range(200):
            row = await (await conn.execute(query)).fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.025)
    pytest.fail("the first request never reached the lock")

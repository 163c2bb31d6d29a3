"""Health status of one account: each of its components by its age against its thresholds;
overall = the worst. Another account's heartbeats never count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from milkbot.analytics import HealthThresholds, Thresholds, UnknownAccountError, read_health
from milkbot.analytics.health import worst
from milkbot.settings import Settings
from milkbot.store.accounts import create_account
from milkbot.store.models import AccountIn, HeartbeatIn
from milkbot.store.writes import post_heartbeat

LIMITS = HealthThresholds(
    trader=Thresholds(60, 300), market_data=Thresholds(120, 600), analytics=Thresholds(600, 3600)
)


def server_now(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0].astimezone(UTC)


def beat(
    conn: psycopg.Connection,
    component: str,
    age_s: float,
    status: str = "healthy",
    message: str = "",
    account: str = "default",
) -> None:
    post_heartbeat(
        conn,
        HeartbeatIn(
            account=account,
            component=component,
            status=status,
            message=message,  # type: ignore[arg-type]
            observed_at=server_now(conn) - timedelta(seconds=age_s),
        ),
    )


def freshen(conn: psycopg.Connection, age_s: float) -> None:
    conn.execute(
        "UPDATE analytics.freshness SET updated_at = now() - make_interval(secs => %s)", [age_s]
    )


async def health(db_url: str, account: str = "default", timeout_ms: int | None = None) -> dict:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as aconn:
        report = await read_health(aconn, LIMITS, timeout_ms, account=account)
    assert report.account is not None and report.account.name == account
    return {"overall": report.status, **{c.name: c for c in report.components}}


@pytest.mark.parametrize(
    ("trader_age", "market_age", "analytics_age", "expected"),
    [
        (5, 5, 5, ("healthy", "healthy", "healthy", "healthy")),
        (90, 5, 5, ("degraded", "healthy", "healthy", "degraded")),
        (5, 200, 5, ("healthy", "degraded", "healthy", "degraded")),
        (5, 5, 4000, ("healthy", "healthy", "unhealthy", "unhealthy")),
        (400, 200, 700, ("unhealthy", "degraded", "degraded", "unhealthy")),
    ],
)
async def test_status_by_thresholds_and_overall_is_worst(
    db_url: str,
    conn: psycopg.Connection,
    trader_age: float,
    market_age: float,
    analytics_age: float,
    expected: tuple[str, ...],
) -> None:
    beat(conn, "trader", trader_age)
    beat(conn, "market_data", market_age)
    freshen(conn, analytics_age)
    h = await health(db_url)
    got = (h["trader"].status, h["market_data"].status, h["analytics"].status, h["overall"])
    assert got == expected
    assert h["database"].status == "healthy"
    assert h["trader"].age_seconds == pytest.approx(trader_age, abs=5)
    assert h["analytics"].age_seconds == pytest.approx(analytics_age, abs=5)
    for name in ("trader", "market_data", "analytics"):
        if h[name].status != "healthy":
            assert "degraded after" in h[name].message


async def test_missing_heartbeat_is_unhealthy(db_url: str, conn: psycopg.Connection) -> None:
    beat(conn, "market_data", 1)
    h = await health(db_url)
    assert h["trader"].status == "unhealthy" and h["trader"].age_seconds is None
    assert "trader" in h["trader"].message
    assert h["overall"] == "unhealthy"


async def test_a_component_reporting_trouble_keeps_it(
    db_url: str, conn: psycopg.Connection
) -> None:
    beat(conn, "trader", 1, status="degraded", message="exchange API slow")
    beat(conn, "market_data", 1)
    h = await health(db_url)
    assert h["trader"].status == "degraded" and h["trader"].message.startswith("exchange API slow")
    assert h["overall"] == "degraded"


async def test_each_account_has_its_own_components(db_url: str, conn: psycopg.Connection) -> None:
    create_account(
        conn,
        AccountIn(
            name="paper",
            display_name="Paper",
            mode="demo",
            environment="simulated",
            starting_bankroll_dollars=Decimal(500),
        ),
    )
    beat(conn, "trader", 1)
    beat(conn, "market_data", 1)
    beat(conn, "trader", 400, account="paper")
    assert (await health(db_url))["overall"] == "healthy"
    paper = await health(db_url, "paper", timeout_ms=1000)
    assert (paper["trader"].status, paper["market_data"].status) == ("unhealthy", "unhealthy")
    assert paper["market_data"].age_seconds is None  # the default account's does not count
    conn.execute("UPDATE ops.accounts SET is_public = false WHERE name = 'paper'")
    for name in ("paper", "nobody"):
        with pytest.raises(UnknownAccountError):
            await health(db_url, name)


def test_threshold_edges_and_worst() -> None:
    t = Thresholds(60, 300)
    assert [t.status(a) for a in (0, 60, 60.5, 300, 300.5)] == [
        "healthy",
        "healthy",
        "degraded",
        "degraded",
        "unhealthy",
    ]
    assert worst([]) == "healthy"
    assert worst(["healthy", "unhealthy", "degraded"]) == "unhealthy"


def test_thresholds_come_from_settings() -> None:
    s = Settings(trader_degraded_s=11, trader_unhealthy_s=22, analytics_unhealthy_s=99)
    limits = HealthThresholds.from_settings(s)
    assert limits.trader == Thresholds(11, 22)
    assert limits.analytics.unhealthy_s == 99
    assert limits.market_data == Thresholds(s.market_data_degraded_s, s.market_data_unhealthy_s)

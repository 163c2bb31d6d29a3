"""Health as the public sees it: statuses only, nothing that dates a trade. A trade recorded now
changes the pre-aggregates' freshness; the public's health (API, load balancer, status page,
overview) must not show it, while a signed-in operator sees every component with its age and
message."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg

from milkbot.analytics.window import today_utc
from milkbot.store.models import HeartbeatIn
from milkbot.store.writes import post_heartbeat, record_trade
from tests.helpers import add_event
from tests.test_api import api_client, operator_client, trade


def _heartbeats(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        now = datetime.now(UTC)
        for component in ("trader", "market_data"):
            post_heartbeat(
                conn,
                HeartbeatIn(
                    account="default", component=component, observed_at=now, message="cycle 42"
                ),
            )


async def test_the_public_sees_statuses_only_and_no_freshness(db_url: str) -> None:
    _heartbeats(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        # The pre-aggregates last changed two hours ago: the freshness component is unhealthy.
        conn.execute("UPDATE analytics.freshness SET updated_at = now() - interval '2 hours'")
    async with api_client(db_url) as client:
        before = (await client.get("/api/v1/health")).json()
        lb = (await client.get("/health")).json()
        status_page = (await client.get("/status")).text
        overview = (await client.get("/")).text
        summary = (await client.get("/api/v1/summary")).json()
        with psycopg.connect(db_url, autocommit=True) as conn:
            tickers = add_event(conn, "NYC", today_utc())
            record_trade(conn, trade(tickers[1], "now", "yes", 5, 40, datetime.now(UTC)))
        after = (await client.get("/api/v1/health")).json()
    for body in (before, after):
        assert body["status"] == "healthy"  # not the freshness's "unhealthy"
        assert [c["name"] for c in body["components"]] == ["database", "trader", "market_data"]
        assert all(c["age_seconds"] is None and c["message"] == "" for c in body["components"])
    # The trade recorded just now changed nothing the public sees but the time of the check.
    assert {**before, "checked_at": None} == {**after, "checked_at": None}
    assert lb == {
        "status": "healthy",
        "components": {"database": "healthy", "trader": "healthy", "market_data": "healthy"},
    }
    assert "<th>Age</th>" not in status_page and ">analytics<" not in status_page
    assert "cycle 42" not in status_page and "ago" not in status_page
    assert summary["health"] == "healthy"
    assert re.search(r'class="badge badge-healthy"', overview)

    async with operator_client(db_url) as client:
        full = (await client.get("/api/v1/health")).json()
        page = (await client.get("/status")).text
        mine = (await client.get("/api/v1/summary")).json()
    names = {c["name"]: c for c in full["components"]}
    assert set(names) == {"database", "trader", "market_data", "analytics"}
    # The trade just recorded refreshed the pre-aggregates: operators see it at once.
    assert names["analytics"]["age_seconds"] is not None
    assert names["analytics"]["age_seconds"] < timedelta(minutes=5).total_seconds()
    assert names["trader"]["message"] == "cycle 42"
    assert 'class="num">Age</th>' in page and "cycle 42" in page
    assert mine["health"] == full["status"]

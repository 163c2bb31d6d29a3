"""The analytics queries by name with realistic parameters, for EXPLAIN.

``milkbot db explain NAME`` runs ``EXPLAIN (ANALYZE, BUFFERS)`` on them, and the query
performance tests check their plans (no query may read the raw trades, except the public feed's
index scans). Windows are the last 30 settlement days that have data; the feed's cursor is
three days back, as a deep page would be. Per-account queries describe account ``default``
(id 1), which migration 0006 creates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg

from milkbot.analytics.feed import (
    PUBLIC_TRADES_ACCOUNT_AFTER_SQL,
    PUBLIC_TRADES_AFTER_SQL,
    PUBLIC_TRADES_CITY_AFTER_SQL,
    PUBLIC_TRADES_CITY_SQL,
    PUBLIC_TRADES_SQL,
)
from milkbot.analytics.health import HEALTH_SQL
from milkbot.analytics.queries import (
    CALIBRATION_SQL,
    CITY_METRICS_BY_STRATEGY_SQL,
    CITY_METRICS_SQL,
    COMPARISON_SQL,
    EQUITY_SQL,
    STRATEGY_METRICS_SQL,
)

LAST_DAY_SQL = "SELECT max(event_date) FROM analytics.pnl_by_day"
ACCOUNT_ID = 1


@dataclass(frozen=True, slots=True)
class ExplainCase:
    """One named query: its SQL, its parameters for a window ending at a day, and the index a
    feed query must scan (None: it must not touch ops.trades / ops.signals at all)."""

    sql: str
    params: Callable[[date], dict[str, Any]]
    index: str | None = None


def _window(end: date) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT_ID,
        "start": end - timedelta(days=29),
        "end": end,
        "end_ts": datetime.combine(end + timedelta(days=1), time(), UTC),
    }


def _comparison(end: date) -> dict[str, Any]:
    return {**_window(end), "mode": None}


def _feed(city: str | None) -> Callable[[date], dict[str, Any]]:
    def params(_end: date) -> dict[str, Any]:
        return {
            "delay": 60, "side": None, "limit": 101, "city": city, "account_id": ACCOUNT_ID,
            "before": datetime.now(UTC) - timedelta(days=3), "skip": 0,
        }  # fmt: skip

    return params


CASES: dict[str, ExplainCase] = {
    "city_metrics": ExplainCase(CITY_METRICS_SQL, _window),
    "city_metrics_by_strategy": ExplainCase(
        CITY_METRICS_BY_STRATEGY_SQL, lambda end: {**_window(end), "strategy_id": 1}
    ),
    "equity_curve": ExplainCase(EQUITY_SQL, _window),
    "strategy_metrics": ExplainCase(STRATEGY_METRICS_SQL, _window),
    "calibration": ExplainCase(CALIBRATION_SQL, _window),
    "comparison": ExplainCase(COMPARISON_SQL, _comparison),
    "health_status": ExplainCase(HEALTH_SQL, lambda _end: {"account_id": ACCOUNT_ID}),
    "public_trades": ExplainCase(PUBLIC_TRADES_SQL, _feed(None), "trades_created_idx"),
    "public_trades_deep": ExplainCase(PUBLIC_TRADES_AFTER_SQL, _feed(None), "trades_created_idx"),
    "public_trades_city": ExplainCase(
        PUBLIC_TRADES_CITY_SQL, _feed("NYC"), "trades_city_created_idx"
    ),
    "public_trades_city_deep": ExplainCase(
        PUBLIC_TRADES_CITY_AFTER_SQL, _feed("NYC"), "trades_city_created_idx"
    ),
    "public_trades_account_deep": ExplainCase(
        PUBLIC_TRADES_ACCOUNT_AFTER_SQL, _feed(None), "trades_account_created_idx"
    ),
}


def last_day(conn: psycopg.Connection) -> date:
    """The latest settlement day with data (today when the database is empty)."""
    row = conn.execute(LAST_DAY_SQL).fetchone()
    return row[0] if row and row[0] else datetime.now(UTC).date()


EXPLAIN_MODES = {
    "analyze": b"EXPLAIN (ANALYZE, BUFFERS) ",
    "json": b"EXPLAIN (FORMAT JSON) ",
}


def explain(conn: psycopg.Connection, name: str, mode: str = "analyze") -> list[Any]:
    """EXPLAIN of query ``name`` on this database: text lines with ANALYZE and BUFFERS
    (``mode="analyze"``, the query runs) or the JSON plan (``mode="json"``, it does not)."""
    case = CASES[name]
    query = EXPLAIN_MODES[mode] + case.sql.encode()
    return [r[0] for r in conn.execute(query, case.params(last_day(conn))).fetchall()]

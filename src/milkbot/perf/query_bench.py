"""The one way to benchmark the five queries, shared by ``milkbot bench queries``, the query
performance tests (``tests/performance``) and the profilers' entry (``python -m
milkbot.analytics``).

Latencies are wall-clock milliseconds of one call through the service's pool, warm, with the
cache bypassed. Two baselines frame them: the naive SQL a dashboard would run over the raw trades
(the guide's style: a GROUP BY over ``ops.trades`` filtered on ``created_at``), and the floor, a
``SELECT 1`` round trip through the same pool. The datasets are in :mod:`milkbot.perf.datasets`;
:func:`dataset_fingerprint` hashes the analytics outputs, so the regression gate can tell a real
speed-up from one that changed the numbers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, Final

from milkbot.analytics.feed import encode_cursor
from milkbot.analytics.service import Analytics
from milkbot.perf.records import QueryFigures, Timing

Call = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Guide:
    """A query's targets: the guide's target and critical threshold, and this project's goal
    (ms, P95)."""

    name: str
    title: str
    target_ms: float
    critical_ms: float
    goal_ms: float


GUIDE: Final[dict[str, Guide]] = {
    g.name: g
    for g in (
        Guide("city_metrics", "City Metrics", 100, 200, 5),
        Guide("equity_curve", "Equity Curve", 50, 100, 5),
        Guide("public_trades", "Public Trades", 50, 100, 5),
        Guide("health_status", "Health Status", 20, 50, 2),
        Guide("strategy_metrics", "Strategy Metrics", 100, 200, 5),
    )
}


def guide_of(name: str) -> Guide:
    """The targets of query ``name`` (``public_trades_deep`` has the feed's)."""
    return GUIDE[name.removesuffix("_deep")]


def query_figures(name: str, timing: Timing, iterations: int) -> QueryFigures:
    """``timing`` of query ``name`` beside its targets; FAIL when the P95 is past the guide's
    critical threshold."""
    guide = guide_of(name)
    return QueryFigures(
        **timing.model_dump(),
        iterations=iterations,
        goal_ms=guide.goal_ms,
        target_ms=guide.target_ms,
        critical_ms=guide.critical_ms,
        status="FAIL" if timing.p95 > guide.critical_ms else "ok",
    )


async def time_calls(
    calls: dict[str, Call], iterations: int, rounds: int = 1, warmup: int = 10
) -> dict[str, Timing]:
    """Time each call ``iterations`` times after ``warmup`` unmeasured calls, in ``rounds``
    interleaved blocks (a block of each call, then the next round), so that a burst of load on
    a shared machine falls on all of them alike and their ratios stay fair. Timings by key, in
    milliseconds."""
    for call in calls.values():
        for _ in range(warmup):
            await call()
    samples: dict[str, list[float]] = {key: [] for key in calls}
    per_round = max(iterations // rounds, 1)
    for _ in range(rounds):
        for key, call in calls.items():
            for _ in range(per_round):
                started = time.perf_counter()
                await call()
                samples[key].append((time.perf_counter() - started) * 1000)
    return {key: Timing.of(values) for key, values in samples.items()}


# --- what is measured -------------------------------------------------------------------------

NAIVE_CITY_SQL: Final = """
SELECT city_code, count(*), sum(quantity), sum(realized_pnl_cents),
       sum(fee_cents) FILTER (WHERE realized_pnl_cents IS NOT NULL),
       sum(realized_pnl_cents - fee_cents),
       count(*) FILTER (WHERE realized_pnl_cents - fee_cents > 0),
       count(*) FILTER (WHERE realized_pnl_cents - fee_cents < 0),
       sum(price * open_qty) FILTER (WHERE realized_pnl_cents IS NULL AND action = 'buy')
FROM ops.trades
WHERE created_at >= %(start_ts)s AND created_at < %(end_ts)s
GROUP BY city_code ORDER BY city_code
"""

NAIVE_EQUITY_SQL: Final = """
SELECT event_date, sum(sum(realized_pnl_cents - fee_cents)) OVER (ORDER BY event_date)
FROM ops.trades
WHERE realized_pnl_cents IS NOT NULL AND event_date <= %(end)s
GROUP BY event_date ORDER BY event_date
"""

NAIVE_PUBLIC_SQL: Final = """
SELECT date_trunc('minute', created_at), city_code, ticker, side, action, quantity, price
FROM ops.trades
WHERE created_at <= now() - make_interval(mins => %(delay)s)
ORDER BY created_at DESC LIMIT 100 OFFSET %(offset)s
"""

NAIVE_HEALTH_SQL: Final = """
SELECT (SELECT max(created_at) FROM ops.trades),
       (SELECT count(*) FROM ops.trades WHERE created_at >= now() - interval '1 hour'),
       (SELECT max(observed_at) FROM ops.heartbeats WHERE component = 'trader'),
       (SELECT max(observed_at) FROM ops.heartbeats WHERE component = 'market_data')
"""

NAIVE_STRATEGY_SQL: Final = """
WITH t AS (
    SELECT strategy_id, count(*) AS trades, sum(realized_pnl_cents - fee_cents) AS net,
           count(*) FILTER (WHERE realized_pnl_cents - fee_cents > 0) AS wins,
           count(*) FILTER (WHERE realized_pnl_cents - fee_cents < 0) AS losses,
           avg(model_prob - price / 100.0) AS avg_edge
    FROM ops.trades WHERE created_at >= %(start_ts)s AND created_at < %(end_ts)s
    GROUP BY strategy_id
), g AS (
    SELECT strategy_id, count(*) AS signals
    FROM ops.signals WHERE created_at >= %(start_ts)s AND created_at < %(end_ts)s
    GROUP BY strategy_id
)
SELECT s.name, t.trades, t.net, t.wins, t.losses, t.avg_edge, g.signals
FROM ops.strategies s LEFT JOIN t ON t.strategy_id = s.id LEFT JOIN g ON g.strategy_id = s.id
ORDER BY s.name
"""

DEEP_ROW_SQL: Final = """
SELECT executed_at, seq FROM analytics.public_trades
ORDER BY executed_at DESC, seq DESC OFFSET %s LIMIT 1
"""

DEEP_OFFSET = 10_000


@dataclass(frozen=True, slots=True)
class QueryCalls:
    """The calls of one benchmark run against one database: ``ours`` and ``naive`` by query
    name (``public_trades_deep``: a page 10,000 trades down), and ``floor``."""

    ours: dict[str, Call]
    naive: dict[str, Call]
    floor: Call


def service_calls(analytics: Analytics, days: int, to_date: date | None) -> dict[str, Call]:
    """The five queries of the analytics service by name, windows of ``days`` settlement days
    ending at ``to_date`` (``None``: the service's default, today)."""
    return {
        "city_metrics": lambda: analytics.city_metrics(
            days=days, to_date=to_date, bypass_cache=True
        ),
        "equity_curve": lambda: analytics.equity_curve(
            days=days, to_date=to_date, bypass_cache=True
        ),
        "public_trades": lambda: analytics.public_trades(bypass_cache=True),
        "health_status": lambda: analytics.health(bypass_cache=True),
        "strategy_metrics": lambda: analytics.strategy_metrics(
            days=days, to_date=to_date, bypass_cache=True
        ),
    }


async def make_calls(analytics: Analytics, end_date: date, days: int = 30) -> QueryCalls:
    """The calls to time on ``analytics``'s database, windows ending at ``end_date`` (the
    dataset's last settlement day) and ``days`` long. The cache is bypassed."""
    start = end_date - timedelta(days=days - 1)
    params = {
        "start_ts": datetime.combine(start, dtime(), UTC),
        "end_ts": datetime.combine(end_date + timedelta(days=1), dtime(), UTC),
        "end": end_date,
        "delay": analytics.settings.public_delay_minutes,
    }
    async with analytics.pool.connection() as conn:
        cur = await conn.execute(DEEP_ROW_SQL, [DEEP_OFFSET - 1])
        row = await cur.fetchone()
    deep = encode_cursor(row[0], row[1]) if row else None

    def sql_call(query: str, extra: dict[str, Any] | None = None) -> Call:
        args = {**params, **(extra or {})}

        async def run() -> Any:
            async with analytics.pool.connection() as conn:
                cur = await conn.execute(query, args)
                return await cur.fetchall()

        return run

    ours = service_calls(analytics, days, end_date)
    ours["public_trades_deep"] = lambda: analytics.public_trades(cursor=deep, bypass_cache=True)
    naive = {
        "city_metrics": sql_call(NAIVE_CITY_SQL),
        "equity_curve": sql_call(NAIVE_EQUITY_SQL),
        "public_trades": sql_call(NAIVE_PUBLIC_SQL, {"offset": 0}),
        "public_trades_deep": sql_call(NAIVE_PUBLIC_SQL, {"offset": DEEP_OFFSET}),
        "health_status": sql_call(NAIVE_HEALTH_SQL),
        "strategy_metrics": sql_call(NAIVE_STRATEGY_SQL),
    }
    return QueryCalls(ours, naive, sql_call("SELECT 1"))


# --- the fingerprint of the analytics outputs -------------------------------------------------


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if k != "as_of"}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


async def dataset_fingerprint(analytics: Analytics, end_date: date) -> str:
    """sha256 (first 16 hex digits) of city metrics, strategy metrics and the equity curve over
    the last settled year of a dataset whose last settlement day is ``end_date`` (its final two
    days may still be settling): an explicit window, not "the last 30 days", which moves with
    the calendar. ``as_of`` times are left out and floats rounded to 9 significant digits
    (summation order may differ in the last bits between plans); health and the public feed
    depend on the clock and are left out too."""
    last = end_date - timedelta(days=2)
    window = {"from_date": last - timedelta(days=364), "to_date": last, "bypass_cache": True}
    outputs = {
        "cities": (await analytics.city_metrics(**window)).to_dict(),  # type: ignore[arg-type]
        "strategies": (await analytics.strategy_metrics(**window)).to_dict(),  # type: ignore[arg-type]
        "equity": (await analytics.equity_curve(**window)).to_dict(),  # type: ignore[arg-type]
    }
    text = json.dumps(_canonical(outputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]

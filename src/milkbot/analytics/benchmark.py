"""Measuring the five queries: generated datasets, timing loops, percentiles, and baselines.

Shared by ``milkbot bench queries`` and ``tests/performance``. A dataset is a database on the
configured server named after its size and seed (``milkbot_perf_1000000_s42``), built once with
the package's generator and reused while its completion marker (a JSON comment on the database)
matches. Latencies are wall-clock milliseconds of one call through the service's pool, warm, with
the cache bypassed. Two baselines frame them: the naive SQL a dashboard would run over the raw
trades (the guide's style: a GROUP BY over ``ops.trades`` filtered on ``created_at``), and the
floor, a ``SELECT 1`` round trip through the same pool.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, Final

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from milkbot.analytics.feed import encode_cursor
from milkbot.analytics.service import Analytics
from milkbot.db.migrate import apply_migrations

MARKER_KIND = "milkbot-perf-dataset"


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


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Summary of one timing loop, in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Percentiles:
        """Percentiles (linear interpolation, numpy's default) of ``samples_ms``."""
        a = np.asarray(samples_ms, dtype=float)
        p50, p95, p99 = (float(v) for v in np.percentile(a, [50, 95, 99]))
        return cls(len(a), p50, p95, p99, float(a.mean()), float(a.min()), float(a.max()))


async def time_calls(
    call: Callable[[], Awaitable[Any]], iterations: int, warmup: int = 10
) -> Percentiles:
    """Run ``call`` ``warmup`` times unmeasured, then ``iterations`` times; return percentiles."""
    for _ in range(warmup):
        await call()
    samples: list[float] = []
    for _ in range(iterations):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return Percentiles.of(samples)


async def time_interleaved(
    calls: dict[str, Callable[[], Awaitable[Any]]],
    iterations: int,
    rounds: int = 10,
    warmup: int = 10,
) -> dict[str, Percentiles]:
    """Time several calls ``iterations`` times each, in ``rounds`` interleaved blocks (a block
    of each call, then the next round), so a burst of load on a shared machine falls on all of
    them alike and their ratios stay fair. Percentiles by key, in milliseconds."""
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
    return {key: Percentiles.of(values) for key, values in samples.items()}


# --- datasets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """A generated database: where it is, what it holds, and whether this run built it."""

    name: str
    url: str
    trades: int
    seed: int
    end_date: date
    built: bool
    build_seconds: float


def dataset_name(trades: int, seed: int) -> str:
    """Database name of the dataset with ``trades`` trades and ``seed``."""
    return f"milkbot_perf_{trades}_s{seed}"


# Benchmark datasets are generated for a fixed instant, so the same (trades, seed) gives the same
# rows on any day and the results' fingerprint of the analytics outputs is comparable across
# runs (the regression gate fails a run whose outputs changed).
DATASET_NOW = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)


def _read_marker(admin: psycopg.Connection, name: str) -> dict[str, Any] | None:
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
    ).fetchone()
    if row is None:
        return None
    try:
        marker = json.loads(row[0] or "")
    except ValueError:
        marker = {}
    return marker if isinstance(marker, dict) else {}


def ensure_dataset(
    server_url: str,
    trades: int,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """The dataset of ``trades`` trades and ``seed`` on the server at ``server_url`` (a URL that
    may CREATE DATABASE): reused when complete, else (re)built with the package's generator,
    analysed, and marked complete. Generation takes about 2 minutes per 10M trades."""
    from milkbot.generator import generate_dataset

    say = progress or (lambda _msg: None)
    name = dataset_name(trades, seed)
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        marker = _read_marker(admin, name)
        if (
            marker
            and marker.get("kind") == MARKER_KIND
            and marker.get("trades") == trades
            and marker.get("generated_for") == DATASET_NOW.isoformat()
        ):
            apply_migrations(url)
            return Dataset(
                name, url, trades, seed, date.fromisoformat(marker["end_date"]), False, 0.0
            )
        ident = sql.Identifier(name)
        if marker is not None:
            say(f"dropping incomplete dataset {name}")
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    say(f"generating {trades:,} trades (seed {seed}) into {name}")
    started = time.perf_counter()
    apply_migrations(url)
    report = generate_dataset(
        url, trades=trades, seed=seed, end_date=DATASET_NOW.date(), now=DATASET_NOW, reset=True
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT max(event_date) FROM analytics.pnl_by_day").fetchone()
        end = row[0] if row and row[0] else datetime.now(UTC).date()
    seconds = time.perf_counter() - started
    marker = {
        "kind": MARKER_KIND,
        "trades": trades,
        "seed": seed,
        "end_date": end.isoformat(),
        "generated_for": DATASET_NOW.isoformat(),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
        "report": _plain(report),
    }
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(marker))
            )
        )
    say(f"generated {name} in {seconds:.0f} s")
    return Dataset(name, url, trades, seed, end, True, seconds)


def _plain(value: Any) -> Any:
    try:
        return json.loads(json.dumps(asdict(value), default=str))
    except TypeError:
        return str(value)


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
class Plan:
    """The calls of one benchmark run against one dataset: ``ours`` and ``naive`` by query
    name (``public_trades_deep``: a page 10,000 trades down), and ``floor``."""

    ours: dict[str, Callable[[], Awaitable[Any]]]
    naive: dict[str, Callable[[], Awaitable[Any]]]
    floor: Callable[[], Awaitable[Any]]


async def make_plan(analytics: Analytics, end_date: date, days: int = 30) -> Plan:
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

    def sql_call(query: str, extra: dict[str, Any] | None = None) -> Callable[[], Awaitable[Any]]:
        args = {**params, **(extra or {})}

        async def run() -> Any:
            async with analytics.pool.connection() as conn:
                cur = await conn.execute(query, args)
                return await cur.fetchall()

        return run

    ours: dict[str, Callable[[], Awaitable[Any]]] = {
        "city_metrics": lambda: analytics.city_metrics(
            days=days, to_date=end_date, bypass_cache=True
        ),
        "equity_curve": lambda: analytics.equity_curve(
            days=days, to_date=end_date, bypass_cache=True
        ),
        "public_trades": lambda: analytics.public_trades(bypass_cache=True),
        "public_trades_deep": lambda: analytics.public_trades(cursor=deep, bypass_cache=True),
        "health_status": lambda: analytics.health(bypass_cache=True),
        "strategy_metrics": lambda: analytics.strategy_metrics(
            days=days, to_date=end_date, bypass_cache=True
        ),
    }
    naive = {
        "city_metrics": sql_call(NAIVE_CITY_SQL),
        "equity_curve": sql_call(NAIVE_EQUITY_SQL),
        "public_trades": sql_call(NAIVE_PUBLIC_SQL, {"offset": 0}),
        "public_trades_deep": sql_call(NAIVE_PUBLIC_SQL, {"offset": DEEP_OFFSET}),
        "health_status": sql_call(NAIVE_HEALTH_SQL),
        "strategy_metrics": sql_call(NAIVE_STRATEGY_SQL),
    }
    return Plan(ours, naive, sql_call("SELECT 1"))


# --- where it runs ----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory (GiB), OS, Python and the 1/5/15-minute load average of
    this machine (a busy machine's figures are not comparable with a quiet one's)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }


def database_info(url: str) -> dict[str, Any]:
    """PostgreSQL version and the data volume of the database at ``url`` (exact trade count)."""
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        trades = conn.execute("SELECT count(*) FROM ops.trades").fetchone()
        estimates: dict[str, int] = dict(
            conn.execute(
                "SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class"
                " WHERE oid IN ('ops.signals'::regclass, 'ops.markets'::regclass)"
            ).fetchall()
        )
        span = conn.execute(
            "SELECT min(event_date), max(event_date) FROM analytics.pnl_by_day"
        ).fetchone()
    return {
        "postgres": version[0] if version else "?",
        "trades": int(trades[0]) if trades else 0,
        "signals_estimate": int(estimates.get("signals", 0)),
        "markets_estimate": int(estimates.get("markets", 0)),
        "first_day": span[0].isoformat() if span and span[0] else None,
        "last_day": span[1].isoformat() if span and span[1] else None,
    }

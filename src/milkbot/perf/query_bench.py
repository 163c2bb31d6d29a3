"""The one way to benchmark the analytics queries, shared by ``milkbot bench queries``, the
query performance tests (``tests/performance``) and the profilers' entry (``python -m
milkbot.analytics``).

Latencies are wall-clock milliseconds of one call through the service's pool, warm, with the
cache bypassed. The per-account queries (city metrics, equity curve, public feed, health,
strategy metrics, calibration) are timed for one account at a time: the configured primary
account, and a typical generated account (:func:`typical_account`); the comparison view spans
every public account. Two baselines frame them: the naive SQL a dashboard would run over the raw
rows (the guide's style: a GROUP BY over ``ops.trades`` filtered on the account and
``created_at``), and the floor, a ``SELECT 1`` round trip through the same pool. The datasets are
in :mod:`milkbot.perf.datasets`; :func:`dataset_fingerprint` hashes the analytics outputs, so the
regression gate can tell a real speed-up from one that changed the numbers.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any, Final

from milkbot.analytics.feed import cursor_after
from milkbot.analytics.service import Analytics
from milkbot.analytics.window import Window
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


"""The guide's five queries (what ``python -m milkbot.analytics`` runs)."""

PROJECT: Final[dict[str, Guide]] = {
    g.name: g
    for g in (
        # Not in the guide. Calibration has the strategy metrics' thresholds (the same page
        # reads both); the comparison view's goal is issue 12's (P95 <= 20 ms).
        Guide("calibration", "Calibration", 100, 200, 5),
        Guide("comparison", "Account Comparison", 20, 100, 20),
    )
}
"""The project's own queries, timed beside the guide's."""

TARGETS: Final = GUIDE | PROJECT

TYPICAL: Final = "typical"
"""Role of the typical generated account; its queries are named ``<query>@typical``."""

FLOOR_RATIO_GOAL: Final = 5.0
"""Issue 12: a per-account query's P95 is within 5x the floor's P95."""

GROWTH_GOAL: Final = 1.5
"""Issue 12: a query's P95 grows at most 1.5x from 100k to 10M trades."""


def guide_of(name: str) -> Guide:
    """The targets of query ``name`` (``public_trades_deep`` has the feed's; a name ending
    ``@<role>`` has its query's)."""
    return TARGETS[name.partition("@")[0].removesuffix("_deep")]


def per_account(name: str) -> bool:
    """Whether query ``name`` reads one account (every query but the comparison)."""
    return name.partition("@")[0] != "comparison"


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

# The naive SQL over the raw rows, one account at a time (the keyset index of the account's
# trades, trades_account_created_idx, serves the window), in the schema's exact units.
NAIVE_CITY_SQL: Final = """
SELECT city_code, count(*), sum(quantity_centi), sum(realized_pnl_micros),
       sum(fee_micros) FILTER (WHERE realized_pnl_micros IS NOT NULL),
       sum(realized_pnl_micros - fee_micros),
       count(*) FILTER (WHERE realized_pnl_micros - fee_micros > 0),
       count(*) FILTER (WHERE realized_pnl_micros - fee_micros < 0),
       sum(price_micros * open_qty_centi / 100)
           FILTER (WHERE realized_pnl_micros IS NULL AND action = 'buy')
FROM ops.trades
WHERE account_id = %(account_id)s AND created_at >= %(start_ts)s AND created_at < %(end_ts)s
GROUP BY city_code ORDER BY city_code
"""

NAIVE_EQUITY_SQL: Final = """
SELECT event_date, sum(sum(realized_pnl_micros - fee_micros)) OVER (ORDER BY event_date)
FROM ops.trades
WHERE account_id = %(account_id)s AND realized_pnl_micros IS NOT NULL
  AND event_date <= %(end)s
GROUP BY event_date ORDER BY event_date
"""

NAIVE_PUBLIC_SQL: Final = """
SELECT date_trunc('minute', created_at), city_code, ticker, side, action, quantity_centi,
       price_micros
FROM ops.trades
WHERE account_id = %(account_id)s AND created_at <= now() - make_interval(mins => %(delay)s)
ORDER BY created_at DESC LIMIT 100 OFFSET %(offset)s
"""

NAIVE_HEALTH_SQL: Final = """
SELECT (SELECT max(created_at) FROM ops.trades WHERE account_id = %(account_id)s),
       (SELECT count(*) FROM ops.trades
        WHERE account_id = %(account_id)s AND created_at >= now() - interval '1 hour'),
       (SELECT max(observed_at) FROM ops.heartbeats
        WHERE account_id = %(account_id)s AND component = 'trader'),
       (SELECT max(observed_at) FROM ops.heartbeats
        WHERE account_id = %(account_id)s AND component = 'market_data')
"""

NAIVE_STRATEGY_SQL: Final = """
WITH t AS (
    SELECT strategy_id, count(*) AS trades, sum(realized_pnl_micros - fee_micros) AS net,
           count(*) FILTER (WHERE realized_pnl_micros - fee_micros > 0) AS wins,
           count(*) FILTER (WHERE realized_pnl_micros - fee_micros < 0) AS losses,
           avg(model_prob - price_micros / 1000000.0) AS avg_edge
    FROM ops.trades
    WHERE account_id = %(account_id)s AND created_at >= %(start_ts)s AND created_at < %(end_ts)s
    GROUP BY strategy_id
), g AS (
    SELECT strategy_id, count(*) AS signals
    FROM ops.signals
    WHERE account_id = %(account_id)s AND created_at >= %(start_ts)s AND created_at < %(end_ts)s
    GROUP BY strategy_id
)
SELECT s.name, t.trades, t.net, t.wins, t.losses, t.avg_edge, g.signals
FROM ops.strategies s LEFT JOIN t ON t.strategy_id = s.id LEFT JOIN g ON g.strategy_id = s.id
ORDER BY s.name
"""

NAIVE_CALIBRATION_SQL: Final = """
SELECT least(floor(s.model_prob * 10), 9) AS bucket, count(*), avg(s.model_prob),
       avg((m.result = 'yes')::int), avg((s.model_prob - (m.result = 'yes')::int) ^ 2)
FROM ops.signals s JOIN ops.markets m ON m.id = s.market_id
WHERE s.account_id = %(account_id)s AND s.event_date BETWEEN %(start)s AND %(end)s
  AND m.result IS NOT NULL
GROUP BY 1 ORDER BY 1
"""

# Every public account's figures over the window from the raw trades: net P&L, fees, trades,
# wins, and the drawdown of its daily equity (the comparison view's columns a GROUP BY can
# give; Sharpe and Sortino would need the same daily series again).
NAIVE_COMPARISON_SQL: Final = """
WITH daily AS (
    SELECT t.account_id, t.event_date,
           sum(t.realized_pnl_micros - t.fee_micros) AS net,
           sum(t.fee_micros) AS fees, count(*) AS trades,
           count(*) FILTER (WHERE t.realized_pnl_micros - t.fee_micros > 0) AS wins,
           count(*) FILTER (WHERE t.realized_pnl_micros IS NOT NULL) AS realized
    FROM ops.trades t JOIN ops.accounts a ON a.id = t.account_id AND a.is_public
    WHERE t.event_date BETWEEN %(start)s AND %(end)s
    GROUP BY t.account_id, t.event_date
), curve AS (
    SELECT d.*, a.starting_bankroll_micros
                + sum(d.net) OVER (PARTITION BY d.account_id ORDER BY d.event_date) AS equity
    FROM daily d JOIN ops.accounts a ON a.id = d.account_id
), peaks AS (
    SELECT c.*, max(c.equity) OVER (PARTITION BY c.account_id ORDER BY c.event_date) AS peak
    FROM curve c
)
SELECT a.name, sum(p.net), sum(p.fees), sum(p.trades), sum(p.wins), sum(p.realized),
       max((p.peak - p.equity)::float8 / nullif(p.peak, 0))
FROM peaks p JOIN ops.accounts a ON a.id = p.account_id
GROUP BY a.name ORDER BY a.name
"""

# The minutes of an account's first DEEP_OFFSET feed trades (the view's order).
DEEP_ROWS_SQL: Final = """
SELECT time FROM analytics.public_trades WHERE account_id = %s LIMIT %s
"""

DEEP_OFFSET = 10_000

ACCOUNT_ID_SQL: Final = "SELECT id FROM ops.accounts WHERE name = %s"

# The public account (not the primary one) whose trade count is the median of those that trade;
# ties broken by name, so the same data always gives the same account.
TYPICAL_ACCOUNT_SQL: Final = """
WITH t AS (
    SELECT a.name, sum(d.trades) AS trades
    FROM ops.accounts a JOIN analytics.pnl_by_day d ON d.account_id = a.id
    WHERE a.is_public AND a.name <> %(primary)s
    GROUP BY a.name HAVING sum(d.trades) > 0
)
SELECT name FROM t ORDER BY trades, name
OFFSET (SELECT count(*) / 2 FROM t) LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class QueryCalls:
    """The calls of one benchmark run against one database: ``ours`` and ``naive`` by query
    name (``public_trades_deep``: a page 10,000 trades down, when the account has them; a name
    ending ``@typical``: the typical account's), ``floor``, and the accounts timed by role."""

    ours: dict[str, Call]
    naive: dict[str, Call]
    floor: Call
    accounts: dict[str, str]


def service_calls(
    analytics: Analytics, days: int, to_date: date | None, account: str | None = None
) -> dict[str, Call]:
    """The guide's five queries of the analytics service by name, for ``account`` (``None``:
    the primary account), windows of ``days`` settlement days ending at ``to_date`` (``None``:
    the service's default, today)."""
    return {
        "city_metrics": lambda: analytics.city_metrics(
            days=days, to_date=to_date, account=account, bypass_cache=True
        ),
        "equity_curve": lambda: analytics.equity_curve(
            days=days, to_date=to_date, account=account, bypass_cache=True
        ),
        "public_trades": lambda: analytics.public_trades(account=account, bypass_cache=True),
        "health_status": lambda: analytics.health(account=account, bypass_cache=True),
        "strategy_metrics": lambda: analytics.strategy_metrics(
            days=days, to_date=to_date, account=account, bypass_cache=True
        ),
    }


def account_calls(
    analytics: Analytics, days: int, end_date: date, account: str, deep_cursor: str | None
) -> dict[str, Call]:
    """Every per-account query of ``account`` by name: the guide's five, calibration, and with
    ``deep_cursor`` the feed's page at that cursor (``public_trades_deep``)."""
    calls = service_calls(analytics, days, end_date, account)
    calls["calibration"] = lambda: analytics.calibration(
        days=days, to_date=end_date, account=account, bypass_cache=True
    )
    if deep_cursor is not None:
        calls["public_trades_deep"] = lambda: analytics.public_trades(
            cursor=deep_cursor, account=account, bypass_cache=True
        )
    return calls


async def typical_account(analytics: Analytics) -> str | None:
    """The typical generated account of ``analytics``'s database (see TYPICAL_ACCOUNT_SQL), or
    ``None`` when no other public account trades."""
    primary = analytics.settings.primary_account
    async with analytics.pool.connection() as conn:
        cur = await conn.execute(TYPICAL_ACCOUNT_SQL, {"primary": primary})
        row = await cur.fetchone()
    return None if row is None else str(row[0])


async def make_calls(
    analytics: Analytics,
    end_date: date,
    days: int = 30,
    accounts: dict[str, str] | None = None,
) -> QueryCalls:
    """The calls to time on ``analytics``'s database, windows ending at ``end_date`` (the
    dataset's last settlement day) and ``days`` long, the cache bypassed: the per-account
    queries for each account of ``accounts`` (by role; default: the primary account under
    ``primary`` and :func:`typical_account` under ``typical``), and the comparison."""
    window = Window.last(days, end_date)
    if accounts is None:
        accounts = {"primary": analytics.settings.primary_account}
        typical = await typical_account(analytics)
        if typical is not None:
            accounts[TYPICAL] = typical
    params = {
        "start_ts": datetime.combine(window.start, dtime(), UTC),
        "end_ts": datetime.combine(end_date + timedelta(days=1), dtime(), UTC),
        "start": window.start,
        "end": end_date,
        "delay": analytics.settings.public_delay_minutes,
    }

    def sql_call(query: str, extra: dict[str, Any] | None = None) -> Call:
        args = {**params, **(extra or {})}

        async def run() -> Any:
            async with analytics.pool.connection() as conn:
                cur = await conn.execute(query, args)
                return await cur.fetchall()

        return run

    ours: dict[str, Call] = {}
    naive: dict[str, Call] = {}
    for role, name in accounts.items():
        suffix = "" if role == "primary" else f"@{role}"
        async with analytics.pool.connection() as conn:
            cur = await conn.execute(ACCOUNT_ID_SQL, [name])
            found = await cur.fetchone()
            if found is None:
                raise ValueError(f"no account named {name!r} in the database")
            account_id = found[0]
            cur = await conn.execute(DEEP_ROWS_SQL, [account_id, DEEP_OFFSET])
            minutes = [row[0] for row in await cur.fetchall()]
        acct = {"account_id": account_id}
        deep = cursor_after(minutes, None) if len(minutes) == DEEP_OFFSET else None
        calls = account_calls(analytics, days, end_date, name, deep)
        sql = {
            "city_metrics": sql_call(NAIVE_CITY_SQL, acct),
            "equity_curve": sql_call(NAIVE_EQUITY_SQL, acct),
            "public_trades": sql_call(NAIVE_PUBLIC_SQL, {**acct, "offset": 0}),
            "health_status": sql_call(NAIVE_HEALTH_SQL, acct),
            "strategy_metrics": sql_call(NAIVE_STRATEGY_SQL, acct),
            "calibration": sql_call(NAIVE_CALIBRATION_SQL, acct),
        }
        if deep is not None:
            sql["public_trades_deep"] = sql_call(NAIVE_PUBLIC_SQL, {**acct, "offset": DEEP_OFFSET})
        ours |= {f"{key}{suffix}": call for key, call in calls.items()}
        naive |= {f"{key}{suffix}": call for key, call in sql.items()}
    ours["comparison"] = lambda: analytics.comparison(window, bypass_cache=True)
    naive["comparison"] = sql_call(NAIVE_COMPARISON_SQL)
    return QueryCalls(ours, naive, sql_call("SELECT 1"), dict(accounts))


# --- the fingerprint of the analytics outputs -------------------------------------------------


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if k != "as_of"}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


async def dataset_fingerprint(
    analytics: Analytics, end_date: date, accounts: Sequence[str | None] = (None,)
) -> str:
    """sha256 (first 16 hex digits) of city metrics, strategy metrics and the equity curve of
    each account of ``accounts`` (``None``: the primary account), and of the comparison of
    every account, over the last settled year of a dataset whose last settlement day is
    ``end_date`` (its final two days may still be settling): an explicit window, not "the last
    30 days", which moves with the calendar. ``as_of`` times are left out and floats rounded
    to 9 significant digits (summation order may differ in the last bits between plans);
    health and the public feed depend on the clock and are left out too."""
    last = end_date - timedelta(days=2)
    start = last - timedelta(days=364)
    outputs: dict[str, Any] = {}
    for account in accounts:
        window: dict[str, Any] = {
            "from_date": start,
            "to_date": last,
            "account": account,
            "bypass_cache": True,
        }
        outputs[account or ""] = {
            "cities": (await analytics.city_metrics(**window)).to_dict(),
            "strategies": (await analytics.strategy_metrics(**window)).to_dict(),
            "equity": (await analytics.equity_curve(**window)).to_dict(),
        }
    comparison = await analytics.comparison(Window(start, last), bypass_cache=True)
    outputs["comparison"] = comparison.to_dict()
    text = json.dumps(_canonical(outputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]

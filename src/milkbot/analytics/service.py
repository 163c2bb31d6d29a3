"""The analytics service the web layer and the CLI call: pool + cache + timing logs.

Every query describes one account, named by keyword ``account`` (None: the configured primary
account, MILKBOT_PRIMARY_ACCOUNT); an unknown or private name raises ``UnknownAccountError``.
:meth:`Analytics.accounts` lists the public accounts and :meth:`Analytics.comparison` sets them
side by side.

Each method validates its parameters (``AnalyticsInputError`` naming the bad one), builds a
cache key from *every* resolved parameter (a "last 30 days" window is resolved to its dates
first, so the key changes at midnight UTC), serves the value from the TTL single-flight cache or
runs the query on a pooled connection, and logs one structlog line per call::

    {"event": "analytics_query", "query": "city_metrics", "params": {...},
     "duration_ms": 0.41, "cached": false, ...}

``bypass_cache`` (per call, or for the whole service) skips the cache, for benchmarks. Health
is never cached: concurrent checks share one query, and each answers within
MILKBOT_HEALTH_TIMEOUT_S whatever the database does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg import AsyncConnection

from milkbot.analytics.cache import CacheStats, TTLCache
from milkbot.analytics.directory import AccountDirectory
from milkbot.analytics.feed import DEFAULT_PAGE_SIZE, read_public_trades
from milkbot.analytics.health import HealthThresholds, read_health, unreachable_report
from milkbot.analytics.pool import (
    AnalyticsPool,
    DatabaseBusyError,
    DatabaseUnavailableError,
    PoolExhaustedError,
    QueryTimeoutError,
)
from milkbot.analytics.queries import (
    COMPARISON_POINTS,
    Account,
    check_comparison,
    read_accounts,
    read_calibration,
    read_city_metrics,
    read_comparison,
    read_equity_curve,
    read_strategy_metrics,
)
from milkbot.analytics.results import (
    AccountSummary,
    CalibrationBin,
    CityMetricsReport,
    ComparisonReport,
    EquityCurve,
    HealthReport,
    PublicTradePage,
    StrategyMetricsReport,
)
from milkbot.analytics.window import Window
from milkbot.settings import Settings

T = TypeVar("T")
log = structlog.get_logger("milkbot.analytics")


class Analytics:
    """The five queries (and calibration) behind a pool and a cache, built from settings.

    ``url`` is the database (default: ``settings.database_url``; for the embedded server pass
    the URL that ``milkbot.db.open_database`` yields). ``on_query(name, seconds, cached)`` is
    called after every call (e.g. a Prometheus histogram); ``clock`` drives the cache's TTL.
    Use as ``async with Analytics(...)`` or call :meth:`open` and :meth:`close`.
    """

    def __init__(
        self,
        settings: Settings,
        url: str | None = None,
        *,
        bypass_cache: bool = False,
        on_query: Callable[[str, float, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        target = url or settings.database_url
        if not target:
            raise ValueError(
                "no database URL: set MILKBOT_DATABASE_URL or pass the embedded server's URL"
            )
        self.settings = settings
        self.bypass_cache = bypass_cache
        self.pool = AnalyticsPool.from_settings(settings, target)
        self.cache: TTLCache[Any] = TTLCache(settings.cache_ttl, clock=clock)
        # Kept even when a call bypasses the result cache: it holds accounts, not results.
        self.accounts_directory = AccountDirectory(settings.cache_ttl, clock=clock)
        # TTL 0: nothing stored, but concurrent health checks share one flight.
        self._health_flights: TTLCache[HealthReport] = TTLCache(0, clock=clock)
        self.on_query = on_query
        self.thresholds = HealthThresholds.from_settings(settings)

    async def open(self) -> None:
        """Open the pool (its first connections). It writes nothing: the public delay is each
        account's, in the database, and only an operator changes it."""
        await self.pool.open()

    async def close(self) -> None:
        """Close the pool."""
        await self.pool.close()

    async def __aenter__(self) -> Analytics:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def account_name(self, account: str | None) -> str:
        """``account``, or the configured primary account when it is None."""
        return self.settings.primary_account if account is None else account

    def _for_account(
        self, name: str, read: Callable[[AsyncConnection[Any], Account], Awaitable[T]]
    ) -> Callable[[AsyncConnection[Any]], Awaitable[T]]:
        """A pool callback that resolves public account ``name`` (through the directory) and
        runs ``read`` for it."""

        async def run(conn: AsyncConnection[Any]) -> T:
            return await read(conn, await self.accounts_directory.resolve(conn, name))

        return run

    def cache_stats(self) -> CacheStats:
        """Cache hit / miss / coalesced counters."""
        return self.cache.stats()

    async def _run(
        self,
        name: str,
        params: dict[str, Any],
        query: Callable[[AsyncConnection[Any]], Awaitable[T]],
        bypass_cache: bool,
    ) -> T:
        started = time.perf_counter()

        async def load() -> T:
            return await self.pool.read(query)

        cached = False
        error: str | None = None
        try:
            if bypass_cache or self.bypass_cache:
                return await load()
            key = (name, *sorted(params.items()))
            value, cached = await self.cache.get(key, load)
            result: T = value  # the cache holds every query's result type
            return result
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            seconds = time.perf_counter() - started
            fields = {k: _loggable(v) for k, v in params.items()}
            if error is None:
                log.info(
                    "analytics_query",
                    query=name,
                    params=fields,
                    duration_ms=round(seconds * 1000, 3),
                    cached=cached,
                )
            else:
                log.warning(
                    "analytics_query",
                    query=name,
                    params=fields,
                    duration_ms=round(seconds * 1000, 3),
                    cached=cached,
                    error=error,
                )
            if self.on_query is not None:
                self.on_query(name, seconds, cached)

    async def city_metrics(
        self,
        *,
        days: int | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        strategy: str | None = None,
        account: str | None = None,
        bypass_cache: bool = False,
    ) -> CityMetricsReport:
        """Per-city metrics of an account over a window (see :func:`read_city_metrics`)."""
        window = Window.resolve(days, from_date, to_date)
        name = self.account_name(account)
        params = {"account": name, "start": window.start, "end": window.end, "strategy": strategy}
        return await self._run(
            "city_metrics",
            params,
            self._for_account(name, lambda c, a: read_city_metrics(c, window, strategy, account=a)),
            bypass_cache,
        )

    async def equity_curve(
        self,
        *,
        days: int | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        max_points: int | None = None,
        account: str | None = None,
        bypass_cache: bool = False,
    ) -> EquityCurve:
        """An account's equity curve over a window, from its own starting bankroll and
        transfers (see :func:`read_equity_curve`)."""
        window = Window.resolve(days, from_date, to_date)
        name = self.account_name(account)
        params = {
            "account": name,
            "start": window.start,
            "end": window.end,
            "max_points": max_points,
        }
        return await self._run(
            "equity_curve",
            params,
            self._for_account(
                name, lambda c, a: read_equity_curve(c, window, max_points, account=a)
            ),
            bypass_cache,
        )

    async def public_trades(
        self,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        city: str | None = None,
        side: str | None = None,
        delay_minutes: int | None = None,
        account: str | None = None,
        bypass_cache: bool = False,
    ) -> PublicTradePage:
        """A page of the delayed public feed (see :func:`read_public_trades`): every public
        account's trades, or only ``account``'s (here None means every account, not the
        primary one). Each trade waits its account's public delay, and at least
        ``delay_minutes`` and this server's MILKBOT_PUBLIC_DELAY_MINUTES."""
        delay = max(delay_minutes or 0, self.settings.public_delay_minutes)
        params = {
            "account": account,
            "limit": limit,
            "cursor": cursor,
            "city": city,
            "side": side,
            "delay": delay,
        }

        async def page(conn: AsyncConnection[Any]) -> PublicTradePage:
            found = None
            if account is not None:
                found = await self.accounts_directory.resolve(conn, account)
            return await read_public_trades(
                conn,
                delay,
                limit,
                cursor,
                city,
                side,
                account=found,
                names=self.accounts_directory.names,
                least_delay=self.accounts_directory.least_delay,
            )

        return await self._run(
            "public_trades",
            params,
            page,
            bypass_cache,
        )

    async def health(
        self, *, account: str | None = None, bypass_cache: bool = False
    ) -> HealthReport:
        """Health of an account's components (see :func:`read_health`), never from the cache
        (``bypass_cache`` is accepted for symmetry). The check has its own statement and lock
        timeouts and the whole call answers within MILKBOT_HEALTH_TIMEOUT_S seconds: when the
        database cannot be reached, no connection is free or the check is too slow, the report
        says so (everything unhealthy, with the reason) instead of raising."""
        del bypass_cache
        timeout_s = self.settings.health_timeout_s
        timeout_ms = max(1, round(timeout_s * 1000))
        started = time.perf_counter()
        error: str | None = None

        name = self.account_name(account)

        async def load() -> HealthReport:
            return await self.pool.read(
                lambda c: read_health(c, self.thresholds, timeout_ms, account=name)
            )

        try:
            # wait_for cancels only this caller's wait; the shared flight goes on (shielded).
            flight = self._health_flights.get(("health", name), load)
            report, _ = await asyncio.wait_for(flight, timeout_s)
            return report
        except TimeoutError:
            error = "TimeoutError"
            return unreachable_report(
                datetime.now(UTC),
                f"the database did not answer within {timeout_s:g} s (MILKBOT_HEALTH_TIMEOUT_S)",
            )
        except (
            psycopg.OperationalError,
            DatabaseUnavailableError,
            DatabaseBusyError,
            PoolExhaustedError,
            QueryTimeoutError,
        ) as exc:
            error = type(exc).__name__
            return unreachable_report(datetime.now(UTC), f"database unreachable: {exc}")
        finally:
            seconds = time.perf_counter() - started
            fields = {"query": "health", "params": {"account": name}, "cached": False}
            if error is None:
                log.info("analytics_query", duration_ms=round(seconds * 1000, 3), **fields)
            else:
                log.warning(
                    "analytics_query", duration_ms=round(seconds * 1000, 3), error=error, **fields
                )
            if self.on_query is not None:
                self.on_query("health", seconds, False)

    async def strategy_metrics(
        self,
        *,
        days: int | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        account: str | None = None,
        bypass_cache: bool = False,
    ) -> StrategyMetricsReport:
        """Per-strategy metrics of an account over a window (see
        :func:`read_strategy_metrics`)."""
        window = Window.resolve(days, from_date, to_date)
        name = self.account_name(account)
        params = {"account": name, "start": window.start, "end": window.end}
        return await self._run(
            "strategy_metrics",
            params,
            self._for_account(name, lambda c, a: read_strategy_metrics(c, window, account=a)),
            bypass_cache,
        )

    async def calibration(
        self,
        *,
        days: int | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        strategy: str | None = None,
        account: str | None = None,
        bypass_cache: bool = False,
    ) -> list[CalibrationBin]:
        """Calibration bins of an account's model probabilities (see
        :func:`read_calibration`)."""
        window = Window.resolve(days, from_date, to_date)
        name = self.account_name(account)
        params = {"account": name, "start": window.start, "end": window.end, "strategy": strategy}
        return await self._run(
            "calibration",
            params,
            self._for_account(name, lambda c, a: read_calibration(c, window, strategy, account=a)),
            bypass_cache,
        )

    async def accounts(self, *, bypass_cache: bool = False) -> list[AccountSummary]:
        """Every public account, by name (see :func:`read_accounts`); the primary account is
        flagged."""
        primary = self.settings.primary_account
        return await self._run(
            "accounts", {"primary": primary}, lambda c: read_accounts(c, primary), bypass_cache
        )

    async def comparison(
        self,
        window: Window,
        *,
        mode: str | None = None,
        sort: str = "return_on_bankroll",
        descending: bool = True,
        max_points: int = COMPARISON_POINTS,
        bypass_cache: bool = False,
    ) -> ComparisonReport:
        """Every public account (or one mode's) side by side over ``window``, sorted by
        ``sort`` (see :func:`read_comparison`)."""
        check_comparison(mode, sort, max_points)
        params = {
            "start": window.start,
            "end": window.end,
            "mode": mode,
            "sort": sort,
            "descending": descending,
            "max_points": max_points,
        }
        return await self._run(
            "comparison",
            params,
            lambda c: read_comparison(
                c, window, mode=mode, sort=sort, descending=descending, max_points=max_points
            ),
            bypass_cache,
        )


def _loggable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value

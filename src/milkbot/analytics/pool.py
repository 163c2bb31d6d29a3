"""The async connection pool the analytics read through.

``pool_size`` connections are kept open and up to ``max_overflow`` more are opened under load
(the guide's SQLALCHEMY_POOL_SIZE / MAX_OVERFLOW). A caller waits at most ``pool_timeout`` seconds
for a connection and then gets :class:`PoolExhaustedError`, never an endless wait. Every
connection is in autocommit mode (each read is its own snapshot), in UTC, with the server-side
``statement_timeout``; a query past it raises :class:`QueryTimeoutError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from milkbot.settings import Settings


class PoolExhaustedError(RuntimeError):
    """No connection became free within the pool timeout."""


class QueryTimeoutError(RuntimeError):
    """A query ran past the statement timeout and was cancelled by the server."""


class AnalyticsPool:
    """An opened-on-demand psycopg pool with the settings above. Use ``async with`` or
    :meth:`open` / :meth:`close`, and :meth:`connection` to borrow a connection."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 20,
        max_size: int = 30,
        timeout: float = 30.0,
        statement_timeout_ms: int = 10_000,
        name: str = "milkbot-analytics",
    ) -> None:
        self.timeout = timeout
        self.statement_timeout_ms = statement_timeout_ms
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            name=name,
            kwargs={"autocommit": True, "application_name": name},
            configure=self._configure,
        )

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> AnalyticsPool:
        """A pool sized by MILKBOT_POOL_SIZE / MAX_OVERFLOW / POOL_TIMEOUT and
        MILKBOT_STATEMENT_TIMEOUT_MS, on database ``url``."""
        return cls(
            url,
            min_size=settings.pool_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
            statement_timeout_ms=settings.statement_timeout_ms,
        )

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        # SET, not libpq "options": it also passes through connection poolers.
        await conn.execute("SET TimeZone = 'UTC'")
        await conn.execute(
            "SELECT set_config('statement_timeout', %s, false)", [str(self.statement_timeout_ms)]
        )

    async def open(self) -> None:
        """Open the pool and wait (at most the pool timeout) for its first connections; an
        unreachable database raises ``psycopg.OperationalError``."""
        try:
            await self._pool.open(wait=True, timeout=self.timeout)
        except PoolTimeout as exc:
            raise psycopg.OperationalError(f"cannot connect to the database: {exc}") from exc

    async def close(self) -> None:
        """Close every connection."""
        await self._pool.close()

    async def __aenter__(self) -> AnalyticsPool:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """Borrow a connection for the ``async with`` block. Waits at most the pool timeout,
        then raises PoolExhaustedError; a cancelled statement raises QueryTimeoutError."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise PoolExhaustedError(
                f"no database connection free after {self.timeout:g} s: all "
                f"{self._pool.max_size} are busy (raise MILKBOT_POOL_SIZE / MILKBOT_MAX_OVERFLOW"
                f" or MILKBOT_POOL_TIMEOUT)"
            ) from exc
        except errors.QueryCanceled as exc:
            raise QueryTimeoutError(
                f"query cancelled after the {self.statement_timeout_ms} ms statement timeout"
                f" (MILKBOT_STATEMENT_TIMEOUT_MS)"
            ) from exc

    def stats(self) -> dict[str, int]:
        """psycopg_pool's counters (pool_size, pool_available, requests_waiting, ...)."""
        return self._pool.get_stats()

    @property
    def max_size(self) -> int:
        """Most connections the pool opens (pool_size + max_overflow)."""
        return self._pool.max_size

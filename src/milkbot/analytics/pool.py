"""The async connection pool the analytics read through, and what it does when the database
goes away.

``pool_size`` connections are kept open and up to ``max_overflow`` more are opened under load
(the guide's SQLALCHEMY_POOL_SIZE / MAX_OVERFLOW). Every connection is in autocommit mode (each
read is its own snapshot), in UTC, with the server-side ``statement_timeout`` and
``lock_timeout``, and is checked (an empty query) before it is handed out.

Errors are honest and quick:

- no connection free within ``pool_timeout`` while the database answers:
  :class:`PoolExhaustedError`;
- the database refused or lost a connection (stopped, crashed, restarting):
  :class:`DatabaseUnavailableError`, at once rather than after the pool timeout;
- a statement cancelled by the statement timeout: :class:`QueryTimeoutError`;
- a lock not granted within the lock timeout, a deadlock or a serialization failure:
  :class:`DatabaseBusyError`.

How an outage is handled: any connect failure, failed check or connection lost under a query
marks the current psycopg pool *lost* and wakes every caller waiting on it. While it is lost,
one direct connect at a time (at most every ``PROBE_INTERVAL_S``) decides: failure - the callers
get :class:`DatabaseUnavailableError`; success - a fresh psycopg pool replaces the lost one
(whose stale connections and backed-off reconnect attempts would otherwise be served or waited
for one by one) and the callers go on. So the pool recovers within a probe interval of the
database coming back, with or without traffic. A read that fails on a connection lost under it
is retried once, on a connection of the fresh pool.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, TypeVar

import psycopg
import structlog
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from milkbot.settings import Settings

T = TypeVar("T")
log = structlog.get_logger("milkbot.analytics.pool")

# How often, at most, a direct connect asks a lost database whether it is back (seconds).
PROBE_INTERVAL_S: Final = 0.1
# Seconds a replaced pool gets to close its idle connections and stop its workers.
RETIRE_TIMEOUT_S: Final = 5.0
# SQLSTATEs of a connection the server ended: admin shutdown, crash shutdown, starting up.
_LOST_STATES: Final = frozenset({"57P01", "57P02", "57P03"})


class PoolExhaustedError(RuntimeError):
    """No connection became free within the pool timeout while the database answered."""


class QueryTimeoutError(RuntimeError):
    """A query ran past the statement timeout and was cancelled by the server."""


class DatabaseUnavailableError(RuntimeError):
    """The database refused or lost the connection (stopped, crashed or restarting)."""


class ConnectionLostError(DatabaseUnavailableError):
    """The connection under a query was lost; the read may be tried again on a fresh one."""


class DatabaseBusyError(RuntimeError):
    """The database gave up on a statement that waited on others: a lock not granted within
    the lock timeout, a deadlock or a serialization failure. Trying again later may succeed."""


def connection_lost(exc: BaseException, conn: AsyncConnection[Any] | None = None) -> bool:
    """Whether ``exc`` means the connection itself is gone (server shut down, crashed, socket
    closed), as opposed to an error of the statement."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate or ""
    if state in _LOST_STATES or state.startswith("08"):
        return True
    return conn is not None and conn.closed


def describe_failure(exc: BaseException) -> str:
    """A short public description of a connect or connection failure (the full error, with
    hosts and socket paths, goes to the log only)."""
    state = getattr(exc, "sqlstate", None) or ""
    text = str(exc).lower()
    if state == "57P03" or "starting up" in text or "shutting down" in text:
        return "the server is starting or shutting down"
    if state in _LOST_STATES or "terminating connection" in text:
        return "the server ended the connection"
    if isinstance(exc, TimeoutError) or "timeout expired" in text:
        return "the connection attempt timed out (MILKBOT_CONNECT_TIMEOUT_S)"
    if "refused" in text or "no such file" in text:
        return "the server refused the connection"
    if state == "53300" or "too many" in text:
        return "the server has no connection slot free"
    return "the connection failed"


def _tracking_class(on_failure: Callable[[BaseException], None]) -> type[AsyncConnection[Any]]:
    """An AsyncConnection class that reports its failed connects (the psycopg pool's own
    reconnect attempts included) to ``on_failure``."""

    class TrackedConnection(AsyncConnection[Any]):
        @classmethod
        async def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().connect(*args, **kwargs)
            except psycopg.OperationalError as exc:
                on_failure(exc)
                raise

    return TrackedConnection


@dataclass(eq=False)
class _Generation:
    """One psycopg pool and whether it has been judged lost (set once, never cleared: a
    recovered database gets a new generation)."""

    number: int
    pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    lost_at: float = 0.0
    reason: str = ""


class AnalyticsPool:
    """An opened-on-demand psycopg pool with the settings above. Use ``async with`` or
    :meth:`open` / :meth:`close`; :meth:`read` runs a read (retried once on a lost
    connection), :meth:`connection` lends a connection for a block."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 20,
        max_size: int = 30,
        timeout: float = 30.0,
        statement_timeout_ms: int = 10_000,
        lock_timeout_ms: int = 2_000,
        connect_timeout_s: int = 2,
        name: str = "milkbot-analytics",
    ) -> None:
        self.url = url
        self.min_size = min_size
        self._max_size = max_size
        self.timeout = timeout
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms
        self.connect_timeout_s = connect_timeout_s
        self.name = name
        self._current = self._new_generation(0)
        self._background: set[asyncio.Task[Any]] = set()
        self._probe: asyncio.Task[bool] | None = None
        self._probe_of: _Generation | None = None
        self._probe_started = -math.inf
        self._probe_finished = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings, url: str) -> AnalyticsPool:
        """A pool sized by MILKBOT_POOL_SIZE / MAX_OVERFLOW / POOL_TIMEOUT, with
        MILKBOT_STATEMENT_TIMEOUT_MS, MILKBOT_LOCK_TIMEOUT_MS and MILKBOT_CONNECT_TIMEOUT_S, on
        database ``url``."""
        return cls(
            url,
            min_size=settings.pool_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
            statement_timeout_ms=settings.statement_timeout_ms,
            lock_timeout_ms=settings.lock_timeout_ms,
            connect_timeout_s=settings.connect_timeout_s,
        )

    def _new_generation(self, number: int) -> _Generation:
        gen = _Generation(number)
        gen.pool = AsyncConnectionPool(
            self.url,
            connection_class=_tracking_class(partial(self._mark_lost, gen)),
            min_size=self.min_size,
            max_size=self._max_size,
            timeout=self.timeout,
            open=False,
            name=self.name,
            kwargs={
                "autocommit": True,
                "application_name": self.name,
                "connect_timeout": self.connect_timeout_s,
            },
            configure=self._configure,
            check=partial(self._check, gen),
        )
        return gen

    @staticmethod
    def _pool_of(gen: _Generation) -> AsyncConnectionPool[AsyncConnection[Any]]:
        assert gen.pool is not None  # set by _new_generation
        return gen.pool

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        # SET, not libpq "options": it also passes through connection poolers.
        await conn.execute("SET TimeZone = 'UTC'")
        await conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false)",
            [str(self.statement_timeout_ms), str(self.lock_timeout_ms)],
        )

    async def _check(self, gen: _Generation, conn: AsyncConnection[Any]) -> None:
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error as exc:
            self._mark_lost(gen, exc)
            raise

    def _mark_lost(self, gen: _Generation, exc: BaseException) -> None:
        """Judge ``gen`` lost (only the current generation: an old pool's stragglers don't
        count) and wake everyone waiting on it."""
        if gen is not self._current or gen.lost.is_set():
            return
        gen.reason = describe_failure(exc)
        gen.lost_at = time.monotonic()
        gen.lost.set()
        log.warning("database_unavailable", reason=gen.reason, error=str(exc).strip())

    async def open(self) -> None:
        """Open the pool and wait (at most the pool timeout) for its first connections; an
        unreachable database raises ``psycopg.OperationalError``."""
        try:
            await self._pool_of(self._current).open(wait=True, timeout=self.timeout)
        except PoolTimeout as exc:
            raise psycopg.OperationalError(f"cannot connect to the database: {exc}") from exc

    async def close(self) -> None:
        """Close every connection (and any pool being retired)."""
        if self._probe is not None:
            self._probe.cancel()
        await self._pool_of(self._current).close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def __aenter__(self) -> AnalyticsPool:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def available(self) -> bool:
        """False while the database is judged unreachable (until a probe finds it back)."""
        return not self._current.lost.is_set()

    async def read(self, query: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``query`` on a borrowed connection and return its result. A connection lost
        under it (a stale connection after a restart, or the server going away) is retried
        once on a fresh one; errors as in :meth:`connection`."""
        try:
            async with self.connection() as conn:
                return await query(conn)
        except ConnectionLostError:
            async with self.connection() as conn:
                return await query(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """Borrow a connection for the ``async with`` block. Raises PoolExhaustedError after
        the pool timeout, DatabaseUnavailableError at once when the database is unreachable,
        QueryTimeoutError / DatabaseBusyError when the server cancels a statement."""
        conn, gen = await self._acquire()
        try:
            yield conn
        except psycopg.Error as exc:
            translated = self._translate(exc, conn, gen)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            await self._pool_of(gen).putconn(conn)

    def _translate(
        self, exc: psycopg.Error, conn: AsyncConnection[Any], gen: _Generation
    ) -> Exception:
        if isinstance(exc, errors.LockNotAvailable):
            return DatabaseBusyError(
                f"the data is locked by maintenance: gave up after the {self.lock_timeout_ms} ms"
                " lock timeout (MILKBOT_LOCK_TIMEOUT_MS); try again shortly"
            )
        if isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure):
            return DatabaseBusyError(
                "the database aborted the query in a conflict with another; try again"
            )
        if isinstance(exc, errors.QueryCanceled):
            return QueryTimeoutError(
                f"query cancelled after the {self.statement_timeout_ms} ms statement timeout"
                f" (MILKBOT_STATEMENT_TIMEOUT_MS)"
            )
        if connection_lost(exc, conn):
            self._mark_lost(gen, exc)
            return ConnectionLostError(_unavailable_message(describe_failure(exc)))
        return exc

    async def _acquire(self) -> tuple[AsyncConnection[Any], _Generation]:
        arrived = time.monotonic()
        deadline = arrived + self.timeout
        while True:
            gen = self._current
            if gen.lost.is_set():
                await self._recover(gen, arrived)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._exhausted()
            conn = await self._getconn(gen, remaining)
            if conn is not None:
                return conn, gen

    async def _getconn(self, gen: _Generation, timeout: float) -> AsyncConnection[Any] | None:
        """A connection of ``gen`` within ``timeout`` seconds, or None as soon as ``gen`` is
        judged lost (or replaced) while waiting."""
        pool = self._pool_of(gen)
        getter = asyncio.ensure_future(pool.getconn(timeout=timeout))
        watcher = asyncio.ensure_future(gen.lost.wait())
        try:
            await asyncio.wait((getter, watcher), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled (client gone): hand back what the getter may get
            watcher.cancel()
            getter.cancel()
            getter.add_done_callback(partial(self._give_back, pool))
            raise
        watcher.cancel()
        if not getter.done():
            getter.cancel()
            getter.add_done_callback(partial(self._give_back, pool))
            return None
        try:
            return getter.result()
        except PoolClosed:  # replaced by a fresh pool meanwhile
            return None
        except PoolTimeout:
            if gen.lost.is_set() or gen is not self._current:
                return None
            raise self._exhausted() from None

    def _give_back(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        task: asyncio.Task[AsyncConnection[Any]],
    ) -> None:
        if not task.cancelled() and task.exception() is None:
            self._spawn(pool.putconn(task.result()))

    def _exhausted(self) -> PoolExhaustedError:
        return PoolExhaustedError(
            f"no database connection free after {self.timeout:g} s: all {self._max_size} are"
            " busy (raise MILKBOT_POOL_SIZE / MILKBOT_MAX_OVERFLOW or MILKBOT_POOL_TIMEOUT)"
        )

    async def _recover(self, gen: _Generation, arrived: float) -> None:
        """Return once ``gen`` is replaced by a fresh pool; raise DatabaseUnavailableError when
        a probe that ended after ``arrived`` (this caller's arrival) failed."""
        while gen.lost.is_set() and gen is self._current:
            probe = self._probe
            fresh = (
                probe is not None
                and self._probe_of is gen
                and (not probe.done() or self._probe_finished >= arrived)
            )
            if probe is None or not fresh:
                wait = self._probe_started + PROBE_INTERVAL_S - time.monotonic()
                if wait > 0:  # rate limit: at most one connect per interval
                    await asyncio.sleep(wait)
                    continue
                probe = self._probe = asyncio.ensure_future(self._run_probe(gen))
                self._probe_of = gen
            # shield: a caller that gives up must not cancel the others' probe.
            if not await asyncio.shield(probe):
                raise DatabaseUnavailableError(_unavailable_message(gen.reason))

    async def _run_probe(self, gen: _Generation) -> bool:
        self._probe_started = time.monotonic()
        try:
            async with asyncio.timeout(self.connect_timeout_s + 1):
                conn = await AsyncConnection.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=self.connect_timeout_s,
                    application_name=f"{self.name}-probe",
                )
                await conn.close()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            gen.reason = describe_failure(exc)
            return False
        finally:
            self._probe_finished = time.monotonic()
        await self._replace(gen)
        return True

    async def _replace(self, old: _Generation) -> None:
        fresh = self._new_generation(old.number + 1)
        await self._pool_of(fresh).open(wait=False)
        self._current = fresh
        self._spawn(self._pool_of(old).close(timeout=RETIRE_TIMEOUT_S))
        log.warning(
            "database_available",
            outage_s=round(time.monotonic() - old.lost_at, 3),
            generation=fresh.number,
        )

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def stats(self) -> dict[str, int]:
        """psycopg_pool's counters (pool_size, pool_available, requests_waiting, ...) of the
        current pool."""
        return self._pool_of(self._current).get_stats()

    @property
    def max_size(self) -> int:
        """Most connections the pool opens (pool_size + max_overflow)."""
        return self._max_size


def _unavailable_message(reason: str) -> str:
    return f"the database is unavailable ({reason}); try again in a few seconds"

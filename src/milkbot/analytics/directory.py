"""The public accounts by name, kept in memory for a few seconds.

Every per-account query names its account. Looking the name up in ``ops.accounts`` on each call
cost a statement per query (a pipelined second statement, about a third of a 30-day equity
curve's time); :class:`AccountDirectory` reads every public account in one statement and answers
from memory until the copy is ``ttl`` seconds old, the same staleness the result cache allows
(``MILKBOT_CACHE_TTL``). So:

- an account made private (or whose bankroll changes) is seen within ``ttl`` seconds;
- a name the copy does not hold (a new account, one just made public, or any unknown or private
  name) reloads the copy first, at most once every ``retry_s`` seconds, so a flood of made-up
  names costs one statement a second, and the memory held is bounded by the number of public
  accounts in the database, never by what callers ask for;
- with ``ttl`` 0 nothing is kept: each call looks its account up
  (:func:`~milkbot.analytics.queries.resolve_account`).

The public feed names each trade's account from the same copy (:meth:`AccountDirectory.names`);
an id it lacks is read from ``ops.accounts`` for that page.

Concurrent reloads share one statement (the first caller's connection).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from typing import Any, Final

from psycopg import AsyncConnection

from milkbot.analytics.feed import account_names, least_public_delay
from milkbot.analytics.queries import Account, account_from_row, resolve_account
from milkbot.analytics.window import UnknownAccountError

PUBLIC_ACCOUNTS_SQL: Final = """
SELECT id, name, display_name, mode, starting_bankroll_micros, public_delay_minutes
FROM ops.accounts WHERE is_public
"""
# A name the copy lacks reloads it at most this often (seconds).
RETRY_S: Final = 1.0


class AccountDirectory:
    """Public accounts by name, reloaded whole when ``ttl`` seconds old (see the module)."""

    def __init__(
        self,
        ttl: float,
        *,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.retry_s = min(retry_s, ttl)
        self._clock = clock
        self._accounts: dict[str, Account] = {}
        self._by_id: dict[int, str] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self.loads = 0

    async def resolve(self, conn: AsyncConnection[Any], name: str) -> Account:
        """The public account ``name``; any other name raises UnknownAccountError."""
        if not isinstance(name, str):
            raise UnknownAccountError(repr(name))
        if self.ttl <= 0:
            return await resolve_account(conn, name)
        await self._refresh(conn, lambda: name not in self._accounts)
        found = self._accounts.get(name)
        if found is None:
            raise UnknownAccountError(name)
        return found

    async def names(self, conn: AsyncConnection[Any], ids: Collection[int]) -> dict[int, str]:
        """The names of accounts ``ids`` (ids the feed returned, so public ones): from the
        copy, reloaded as :meth:`resolve` would for a name it lacks; ids still missing then
        are read for this call alone (:func:`~milkbot.analytics.feed.account_names`)."""
        wanted = set(ids)
        if self.ttl > 0:
            await self._refresh(conn, lambda: not wanted.issubset(self._by_id))
            named = {i: self._by_id[i] for i in wanted if i in self._by_id}
        else:
            named = {}
        missing = [i for i in wanted if i not in named]
        if missing:
            named |= await account_names(conn, missing)
        return named

    async def least_delay(self, conn: AsyncConnection[Any]) -> int:
        """The shortest public delay of any public account (minutes; 0 when there is none):
        what the feed of every public account is delayed by at least."""
        if self.ttl > 0:
            await self._refresh(conn, lambda: False)
            delays = [a.public_delay_minutes for a in self._accounts.values()]
            return min(delays, default=0)
        return await least_public_delay(conn)

    async def _refresh(self, conn: AsyncConnection[Any], lacking: Callable[[], bool]) -> None:
        """Reload the copy when it is ``ttl`` old, or when it ``lacking()`` what a caller
        asks for and is ``retry_s`` old."""
        if self._age() < self.ttl and not lacking():
            return
        async with self._lock:
            # Another caller may have reloaded while this one waited.
            age = self._age()
            if age >= self.ttl or (lacking() and age >= self.retry_s):
                await self._load(conn)

    def _age(self) -> float:
        if self._loaded_at is None:
            return float("inf")
        return self._clock() - self._loaded_at

    async def _load(self, conn: AsyncConnection[Any]) -> None:
        cur = await conn.execute(PUBLIC_ACCOUNTS_SQL)
        rows = await cur.fetchall()
        self._accounts = {row[1]: account_from_row(row) for row in rows}
        self._by_id = {account.id: name for name, account in self._accounts.items()}
        self._loaded_at = self._clock()
        self.loads += 1

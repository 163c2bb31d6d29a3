"""A time-to-live cache with single-flight loading, for analytics results.

The guide's policy: results live ``ttl`` seconds (5 by default), the key holds every parameter
of the query, and expiry is the only invalidation. Single flight: when a key is missing or
expired, the first caller starts one load and every caller that arrives while it runs awaits
that same load, so 200 concurrent requests at expiry cost one database query, not 200. A failed
load is not cached; its callers all see the error and the next caller tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was made: ``hits`` served a stored value, ``misses`` started a
    load (one database query each), ``coalesced`` awaited another caller's load."""

    hits: int
    misses: int
    coalesced: int
    size: int

    @property
    def hit_ratio(self) -> float | None:
        """Share of lookups that did not start a load (hits + coalesced over all)."""
        total = self.hits + self.misses + self.coalesced
        return (self.hits + self.coalesced) / total if total else None


class TTLCache(Generic[T]):
    """Values by key for ``ttl`` seconds (0: never stored, but concurrent loads still share
    one flight), at most ``max_entries`` of them (expired entries go first, then the oldest)."""

    def __init__(
        self, ttl: float, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, T]] = {}
        self._flights: dict[Hashable, asyncio.Task[T]] = {}
        self._hits = self._misses = self._coalesced = 0

    def stats(self) -> CacheStats:
        """Current counters and number of stored entries."""
        return CacheStats(self._hits, self._misses, self._coalesced, len(self._entries))

    def clear(self) -> None:
        """Forget every stored value (counters are kept; running loads finish)."""
        self._entries.clear()

    def peek(self, key: Hashable) -> T | None:
        """The stored, unexpired value of ``key`` or None (counts nothing)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The value of ``key`` and whether it came without a load of this caller's own
        (a stored value or another caller's flight). ``load`` runs only on a miss."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            self._hits += 1
            return entry[1], True
        flight = self._flights.get(key)
        if flight is not None:
            self._coalesced += 1
            return await asyncio.shield(flight), True
        self._misses += 1
        flight = asyncio.ensure_future(self._load(key, load))
        self._flights[key] = flight
        flight.add_done_callback(lambda task: self._landed(key, task))
        # shield: a caller that is cancelled (client gone) must not cancel the others' load.
        return await asyncio.shield(flight), False

    async def _load(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        value = await load()
        if self.ttl > 0:
            self._store(key, value)
        return value

    def _landed(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: callers re-raise it themselves

    def _store(self, key: Hashable, value: T) -> None:
        now = self._clock()
        if len(self._entries) >= self.max_entries:
            for k in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                del self._entries[k]
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries.pop(key, None)  # re-insert so dict order stays oldest-first
        self._entries[key] = (now + self.ttl, value)

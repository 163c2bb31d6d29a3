"""A time-to-live cache with single-flight loading, for analytics results, and the bounded
store it (and the web layer's caches) keep their entries in.

The guide's policy: results live ``ttl`` seconds (5 by default), the key holds every parameter
of the query, and expiry is the only invalidation. Single flight: when a key is missing or
expired, the first caller starts one load and every caller that arrives while it runs awaits
that same load, so 200 concurrent requests at expiry cost one database query, not 200. A failed
load is not cached; its callers all see the error and the next caller tries again.

Memory is bounded whatever the traffic: every key a client can make up (windows, point budgets,
cursors) is an entry, so a :class:`BoundedStore` holds at most ``max_entries`` entries and
``max_bytes`` bytes, and drops expired entries as it goes, not only when full.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 4096
# Analytics results of a 5 s TTL: a page's worth of keys is a few kilobytes; 32 MiB holds about
# thirty of the largest results there are (3,650-day equity curves, ~1 MiB of objects each).
MAX_BYTES = 32 << 20

# Estimates of a collection's size measure this many of its items and scale up.
SIZE_SAMPLE = 8
_ATOMS = (str, bytes, int, float, bool, type(None), date, datetime)


def estimate_size(value: object, depth: int = 6) -> int:
    """Approximate bytes held by ``value``: ``sys.getsizeof`` of it and, ``depth`` levels down,
    of its dataclass fields, list/tuple items and dict keys and values. A collection of more
    than 8 items is measured on 8 evenly spaced ones and scaled to its length, so a result of
    any size costs about a hundred ``getsizeof`` calls. Objects shared with others (small ints,
    interned strings, one Window in several results) count each time they appear, so the
    estimate errs high; allocator overhead is not counted."""
    size = sys.getsizeof(value)
    if depth <= 0 or isinstance(value, _ATOMS):
        return size
    if isinstance(value, list | tuple):
        return size + _sampled(value, depth - 1)
    if isinstance(value, dict):
        return (
            size
            + _sampled(list(value.keys()), depth - 1)
            + _sampled(list(value.values()), depth - 1)
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return size + sum(
            estimate_size(getattr(value, f.name), depth - 1) for f in dataclasses.fields(value)
        )
    return size


def _sampled(items: list[Any] | tuple[Any, ...], depth: int) -> int:
    n = len(items)
    if n <= SIZE_SAMPLE:
        return sum(estimate_size(item, depth) for item in items)
    step = n / SIZE_SAMPLE
    sample = [items[int(i * step)] for i in range(SIZE_SAMPLE)]
    return sum(estimate_size(item, depth) for item in sample) * n // SIZE_SAMPLE


class BoundedStore(Generic[K, V]):
    """Values by key with an expiry time and a size in bytes, at most ``max_entries`` of them
    and ``max_bytes`` in all (the sizes the callers give; a value larger than the whole budget
    is not stored).

    Entries are kept in insertion order. Every insert first drops the expired entries at the
    front, then the oldest ones until the new entry fits: amortised O(1), no scan. When every
    entry lives the same TTL (the analytics cache) insertion order is expiry order, so nothing
    expired is ever kept behind a live entry; with mixed lifetimes (whole responses: the shorter
    of max-age and the TTL) an expired entry waits at most the longest lifetime to be dropped.
    A lookup is one dict lookup and a comparison.
    """

    __slots__ = ("_entries", "bytes", "max_bytes", "max_entries")

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a bounded store needs max_entries and max_bytes of at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[K, tuple[float, int, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, now: float) -> V | None:
        """The value of ``key`` if stored and not expired at ``now`` (seconds), else None."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[2]
        return None

    def put(self, key: K, value: V, size: int, expires: float, now: float) -> bool:
        """Store ``value`` (``size`` bytes) under ``key`` until ``expires``, after dropping
        expired entries and, oldest first, any that would not leave room. False if ``size``
        alone exceeds the budget (then nothing is stored and the old value is gone)."""
        self.discard(key)
        self.purge(now)
        if size > self.max_bytes:
            return False
        entries = self._entries
        while entries and (len(entries) >= self.max_entries or self.bytes + size > self.max_bytes):
            self.bytes -= entries.popitem(last=False)[1][1]
        entries[key] = (expires, size, value)
        self.bytes += size
        return True

    def purge(self, now: float) -> None:
        """Drop the expired entries at the front (oldest first), stopping at the first live one."""
        entries = self._entries
        while entries:
            key, (expires, size, _) = next(iter(entries.items()))
            if expires > now:
                return
            del entries[key]
            self.bytes -= size

    def discard(self, key: K) -> None:
        """Forget ``key`` if stored."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self.bytes = 0


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was made: ``hits`` served a stored value, ``misses`` started a
    load (one database query each), ``coalesced`` awaited another caller's load; ``size``
    stored entries now, ``bytes`` their estimated size (see :func:`estimate_size`)."""

    hits: int
    misses: int
    coalesced: int
    size: int
    bytes: int = 0

    @property
    def hit_ratio(self) -> float | None:
        """Share of lookups that did not start a load (hits + coalesced over all)."""
        total = self.hits + self.misses + self.coalesced
        return (self.hits + self.coalesced) / total if total else None


class TTLCache(Generic[T]):
    """Values by key for ``ttl`` seconds (0: never stored, but concurrent loads still share
    one flight), at most ``max_entries`` of them and ``max_bytes`` of their estimated size
    (:func:`estimate_size` of the key and the value): expired entries go first, then the
    oldest."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: BoundedStore[Hashable, T] = BoundedStore(max_entries, max_bytes)
        self._flights: dict[Hashable, asyncio.Task[T]] = {}
        self._hits = self._misses = self._coalesced = 0

    def stats(self) -> CacheStats:
        """Current counters and number of stored entries."""
        entries = self._entries
        return CacheStats(self._hits, self._misses, self._coalesced, len(entries), entries.bytes)

    def clear(self) -> None:
        """Forget every stored value (counters are kept; running loads finish)."""
        self._entries.clear()

    def peek(self, key: Hashable) -> T | None:
        """The stored, unexpired value of ``key`` or None (counts nothing)."""
        return self._entries.get(key, self._clock())

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The value of ``key`` and whether it came without a load of this caller's own
        (a stored value or another caller's flight). ``load`` runs only on a miss."""
        value = self._entries.get(key, self._clock())
        if value is not None:
            self._hits += 1
            return value, True
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
        if self.ttl > 0 and value is not None:  # None is the store's "absent"
            self._store(key, value)
        return value

    def _landed(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: callers re-raise it themselves

    def _store(self, key: Hashable, value: T) -> None:
        now = self._clock()
        size = estimate_size(key) + estimate_size(value)
        self._entries.put(key, value, size, now + self.ttl, now)

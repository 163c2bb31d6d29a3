"""The TTL single-flight cache on its own: one load per key however many wait, expiry, errors,
cancellation, bounded size in entries and bytes, expired entries dropped as it goes."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from milkbot.analytics import TTLCache
from milkbot.analytics.cache import BoundedStore, estimate_size
from milkbot.analytics.equity import build_days, summarise, to_points
from milkbot.analytics.results import AccountRef, EquityCurve
from milkbot.analytics.window import Window
from milkbot.money import to_dollars


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Counts its calls; each call waits for ``gate`` so callers pile up behind it."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        await self.gate.wait()
        return f"value-{self.calls}"


async def until(condition) -> None:  # type: ignore[no-untyped-def]
    """Yield to the loop until ``condition()`` holds (the callers have queued up)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_two_hundred_concurrent_callers_share_one_load() -> None:
    cache: TTLCache[str] = TTLCache(5.0)
    load = Loader()
    tasks = [asyncio.ensure_future(cache.get("k", load)) for _ in range(200)]
    await until(lambda: cache.stats().coalesced == 199)
    load.gate.set()
    results = await asyncio.gather(*tasks)
    assert load.calls == 1
    assert {value for value, _ in results} == {"value-1"}
    assert sum(1 for _, shared in results if not shared) == 1
    stats = cache.stats()
    assert (stats.misses, stats.coalesced, stats.hits) == (1, 199, 0)


async def test_value_expires_after_ttl_and_one_caller_reloads() -> None:
    clock = Clock()
    cache: TTLCache[str] = TTLCache(5.0, clock=clock)
    load = Loader()
    load.gate.set()
    assert await cache.get("k", load) == ("value-1", False)
    clock.now += 4.9
    assert await cache.get("k", load) == ("value-1", True)
    clock.now += 0.2
    load.gate.clear()
    tasks = [asyncio.ensure_future(cache.get("k", load)) for _ in range(50)]
    await until(lambda: cache.stats().coalesced == 49)
    load.gate.set()
    assert {v for v, _ in await asyncio.gather(*tasks)} == {"value-2"}
    assert load.calls == 2 and cache.stats().hits == 1


async def test_keys_are_separate() -> None:
    cache: TTLCache[str] = TTLCache(5.0)
    load = Loader()
    load.gate.set()
    await cache.get(("city_metrics", ("days", 30)), load)
    await cache.get(("city_metrics", ("days", 7)), load)
    await cache.get(("city_metrics", ("days", 30)), load)
    assert load.calls == 2 and cache.stats().hits == 1


async def test_failed_load_is_shared_but_not_cached() -> None:
    cache: TTLCache[str] = TTLCache(5.0)
    gate = asyncio.Event()
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise RuntimeError("database said no")

    tasks = [asyncio.ensure_future(cache.get("k", failing)) for _ in range(10)]
    await until(lambda: cache.stats().coalesced == 9)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and calls == 1
    with pytest.raises(RuntimeError):
        await cache.get("k", failing)
    assert calls == 2


async def test_cancelled_first_caller_does_not_cancel_the_others() -> None:
    cache: TTLCache[str] = TTLCache(5.0)
    load = Loader()
    first = asyncio.ensure_future(cache.get("k", load))
    others = [asyncio.ensure_future(cache.get("k", load)) for _ in range(3)]
    await until(lambda: cache.stats().coalesced == 3)
    first.cancel()
    load.gate.set()
    assert [v for v, _ in await asyncio.gather(*others)] == ["value-1"] * 3
    assert load.calls == 1


async def test_zero_ttl_stores_nothing_but_still_single_flights() -> None:
    cache: TTLCache[str] = TTLCache(0)
    load = Loader()
    tasks = [asyncio.ensure_future(cache.get("k", load)) for _ in range(5)]
    await until(lambda: cache.stats().coalesced == 4)
    load.gate.set()
    await asyncio.gather(*tasks)
    assert await cache.get("k", load) == ("value-2", False)
    assert cache.stats().size == 0


async def test_size_is_bounded_oldest_first() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache(60, max_entries=3, clock=clock)

    for i in range(5):
        clock.now += 1

        async def value(i: int = i) -> int:
            return i

        await cache.get(i, value)
    assert cache.stats().size == 3
    assert [cache.peek(i) for i in range(5)] == [None, None, 2, 3, 4]


async def test_expired_entries_are_dropped_as_new_ones_arrive_not_only_when_full() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache(5.0, max_entries=1000, clock=clock)
    for i in range(100):

        async def value(i: int = i) -> int:
            return i

        await cache.get(i, value)
        clock.now += 0.125  # each entry outlives the next 39 inserts, not the 40th
    assert cache.stats().size == 40  # 60..99: the 60 expired ones went as the others came
    assert [cache.peek(i) for i in (59, 61, 99)] == [None, 61, 99]
    clock.now += 5.0

    async def last() -> int:
        return -1

    await cache.get("late", last)
    assert cache.stats().size == 1
    assert cache.stats().bytes == estimate_size("late") + estimate_size(-1)


async def test_the_byte_budget_bounds_the_cache_oldest_first() -> None:
    value = list(range(1000, 2000))  # ~36 kB by the estimate
    size = estimate_size(value)
    cache: TTLCache[list[int]] = TTLCache(60, max_bytes=int(size * 3.5))

    for i in range(10):

        async def load() -> list[int]:
            return list(value)

        await cache.get(i, load)
    stats = cache.stats()
    assert stats.size == 3 and stats.bytes <= int(size * 3.5)
    assert [cache.peek(i) is not None for i in range(10)] == [False] * 7 + [True] * 3


async def test_a_value_larger_than_the_budget_is_served_but_not_stored() -> None:
    cache: TTLCache[bytes] = TTLCache(60, max_bytes=1000)
    load = Loader()
    load.gate.set()

    async def big() -> bytes:
        await load()
        return b"x" * 5000

    assert (await cache.get("k", big))[0] == b"x" * 5000
    await cache.get("k", big)
    assert load.calls == 2 and cache.stats().size == 0 and cache.stats().bytes == 0


def test_bounded_store_keeps_its_byte_count_through_replace_discard_and_clear() -> None:
    store: BoundedStore[str, str] = BoundedStore(max_entries=3, max_bytes=100)
    assert store.put("a", "A", 10, expires=10, now=0)
    assert store.put("b", "B", 20, expires=10, now=0)
    assert store.put("a", "A2", 30, expires=10, now=0)  # replaces: 20 + 30
    assert (len(store), store.bytes) == (2, 50)
    assert store.put("c", "C", 60, expires=10, now=0)  # 110 > 100: b goes, the oldest
    assert (store.get("b", 0), store.get("a", 0), store.get("c", 0)) == (None, "A2", "C")
    assert store.bytes == 90
    assert store.get("a", now=10) is None  # expired at 10
    assert not store.put("d", "D", 101, expires=20, now=0)
    store.discard("a")
    assert (len(store), store.bytes) == (1, 60)
    store.clear()
    assert (len(store), store.bytes) == (0, 0)


def _exact_size(value: object, seen: set[int] | None = None) -> int:
    """Every object reachable from ``value``, each counted once (what the estimate samples)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, list | tuple):
        size += sum(_exact_size(v, seen) for v in value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        size += sum(_exact_size(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    return size


def test_the_size_estimate_of_a_large_result_is_close_to_its_real_size() -> None:
    """A 3,650-day equity curve (the largest result) measured on 8 sampled points per list is
    within 25 % of every object it holds, counted one by one; and the estimate is cheap."""
    rng = random.Random(3)
    first = date(2091, 1, 3)
    bankroll = 992_100_000
    days = build_days(
        first, [rng.randrange(-50_000_000, 50_000_000) for _ in range(3650)], bankroll
    )
    window = Window(first, first + timedelta(days=3649))
    curve = EquityCurve(
        datetime.now(UTC),
        AccountRef("default", "Default account", "live"),
        window,
        to_dollars(bankroll),
        to_dollars(0),
        to_points(days),
        summarise(first, days, bankroll),
    )
    exact = _exact_size(curve)
    assert 0.75 * exact <= estimate_size(curve) <= 1.25 * exact
    calls = 0
    real_getsizeof = sys.getsizeof

    def counting(obj: object, *default: int) -> int:
        nonlocal calls
        calls += 1
        return real_getsizeof(obj, *default)

    sys.getsizeof = counting  # type: ignore[assignment]
    try:
        estimate_size(curve)
    finally:
        sys.getsizeof = real_getsizeof
    assert calls < 200  # sampled: not one per point

"""The TTL single-flight cache on its own: one load per key however many wait, expiry, errors,
cancellation, bounded size."""

from __future__ import annotations

import asyncio

import pytest

from milkbot.analytics import TTLCache


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

"""Hostile cache filling against a real server: ``milkbot serve`` (granian, one worker) on a
generated database, 10,000 anonymous requests whose parameters are all distinct, so every one
is a cache miss that leaves an entry behind. The worker's memory must stay bounded: the caches
drop expired entries as they go and hold at most their byte budgets.

Run with ``-s`` to see the measured RSS growth.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import psutil
import pytest

from milkbot.analytics.feed import encode_cursor
from milkbot.analytics.window import MAX_DATE
from milkbot.generator import generate_dataset
from tests.net import await_status, free_port

pytestmark = pytest.mark.slow

TRADES = 20_000
REQUESTS = 10_000
CONCURRENCY = 16
RSS_GROWTH_LIMIT = 100 * 2**20  # bytes
MiB = 2**20


@pytest.fixture(scope="module")
def hostile_db(make_database: Callable[[], str]) -> str:
    url = make_database()
    generate_dataset(url, trades=TRADES, seed=11)
    return url


@pytest.fixture(scope="module")
def served(hostile_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(base URL, pid of `milkbot serve`) with the default cache settings, one worker."""
    port = free_port()
    log = tmp_path_factory.mktemp("hostile") / "serve.log"
    env = os.environ | {
        "MILKBOT_DATABASE_URL": hostile_db,
        "MILKBOT_LOG_LEVEL": "WARNING",
        "MILKBOT_WORKERS": "1",
        "MILKBOT_POOL_SIZE": "4",
        "MILKBOT_MAX_OVERFLOW": "2",
    }
    env.pop("MILKBOT_CACHE_TTL", None)  # the default TTL: entries must expire on their own
    cmd = [sys.executable, "-m", "milkbot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        await_status(proc, f"{base}/api/v1/ping", timeout_s=60, log=log)
        yield base, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def worker_rss(serve_pid: int) -> int:
    """Resident bytes of the granian worker process(es): the serve process's children."""
    total = 0
    for child in psutil.Process(serve_pid).children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def hostile_paths(count: int) -> list[str]:
    """``count`` distinct analytics requests: every window, page size, cursor and point budget
    a different value. One in sixteen is the largest result there is: a 3,650-day equity curve
    reaching into the future with every point (a point per day, ~1 MiB of objects, ~0.5 MB of
    JSON; the slowest request too, so the others are smaller to keep the run short)."""
    paths: list[str] = []
    last = MAX_DATE
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        n = i // 8
        end = last - timedelta(days=n)
        match i % 8:
            case 0:
                points = 10_000 - n if n % 2 == 0 else 2 + n  # all 3,650 points, or thinned
                paths.append(f"/api/v1/equity?days=3650&to_date={end}&max_points={points}")
            case 1:
                start = end - timedelta(days=30 + n % 365)
                paths.append(f"/api/v1/equity?from_date={start}&to_date={end}")
            case 2:
                paths.append(f"/api/v1/metrics/cities?days={3650 - n}&to_date={end}")
            case 3:
                start = end - timedelta(days=n % 365)
                paths.append(f"/api/v1/metrics/strategies?from_date={start}&to_date={end}")
            case 4:
                paths.append(f"/api/v1/calibration?days={1 + n % 3650}&to_date={end}")
            case 5:
                cursor = encode_cursor(t0 - timedelta(minutes=n), n)
                paths.append(f"/api/v1/trades/public?limit={1 + n % 500}&cursor={cursor}")
            case 6:
                paths.append(f"/api/v1/summary?days={1 + n}")
            case _:
                paths.append(f"/performance?days={1 + n}")
    assert len(set(paths)) == count
    return paths


async def _send_all(base: str, paths: list[str]) -> dict[int, int]:
    statuses: dict[int, int] = {}
    queue = iter(paths)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker() -> None:
            for path in queue:
                response = await client.get(path, headers={"Accept-Encoding": "identity"})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


class PeakSampler:
    """Samples the workers' RSS every 0.2 s in a thread; ``peak`` is the highest seen."""

    def __init__(self, serve_pid: int) -> None:
        self.serve_pid = serve_pid
        self.peak = worker_rss(serve_pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, worker_rss(self.serve_pid))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, worker_rss(self.serve_pid))


async def test_hostile_cache_filling_keeps_the_worker_rss_bounded(
    served: tuple[str, int],
) -> None:
    base, pid = served
    # Warm up: every route once, each kind of result encoded, the pool's connections open.
    warm = await _send_all(base, hostile_paths(REQUESTS + 400)[REQUESTS:])
    assert set(warm) == {200}, warm
    before = worker_rss(pid)
    assert before > 0, "no granian worker process found under milkbot serve"
    started = time.monotonic()
    with PeakSampler(pid) as sampler:
        statuses = await _send_all(base, hostile_paths(REQUESTS))
    seconds = time.monotonic() - started
    after = worker_rss(pid)
    print(
        f"\nhostile cache filling: {REQUESTS:,} distinct requests in {seconds:.1f} s on "
        f"{TRADES:,} trades; worker RSS {before / MiB:.0f} MiB before, "
        f"{after / MiB:.0f} MiB after (+{(after - before) / MiB:.1f} MiB), "
        f"peak {sampler.peak / MiB:.0f} MiB (+{(sampler.peak - before) / MiB:.1f} MiB)"
    )
    assert statuses == {200: REQUESTS}, statuses
    assert sampler.peak - before <= RSS_GROWTH_LIMIT


def test_the_hostile_requests_are_distinct_and_inside_the_date_bounds() -> None:
    """The load above is only hostile if no two requests share a cache key, and it must be
    accepted (200), so its dates stay inside the accepted range."""
    paths = hostile_paths(REQUESTS)
    assert len(set(paths)) == REQUESTS
    assert all(date.fromisoformat(p.split("to_date=")[1][:10]) <= MAX_DATE
               for p in paths if "to_date=" in p)  # fmt: skip

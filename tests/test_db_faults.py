"""Whatever the database does, every request answers within seconds, honestly.

A real `milkbot serve` on an embedded PostgreSQL of this module's own, under concurrent load,
while the database is stopped (fast, immediate) or its postmaster killed, then started again:
no 500 ever, every answer within 3 s, 503 ``database_unavailable`` during the outage, /health
503 quickly, and everything good again soon after the restart without restarting the app.
The lock, exhaustion and lost-connection cases run in-process on the test server.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from milkbot.analytics import Analytics, DatabaseUnavailableError
from milkbot.db.embedded import EmbeddedPostgres
from milkbot.db.migrate import apply_migrations
from milkbot.generator import generate_dataset
from milkbot.perf.drill import MODES, Mode, Sample, poll_health, send_load, stop_database
from milkbot.settings import Settings
from tests.net import free_port
from tests.test_api import api_client
from tests.test_api_errors import assert_error_shape, lock_analytics

ANSWER_BOUND_S = 3.0  # the goal is "within seconds, never the 30 s pool timeout"
HEALTH_BOUND_S = 3.0  # the goal is 2 s; a loaded machine gets some slack


def _own_home() -> Path:
    """A fresh home for this module's server: beside MILKBOT_TEST_HOME when set, so helpers
    running in parallel never share one."""
    test_home = os.environ.get("MILKBOT_TEST_HOME")
    if test_home:
        parent = Path(test_home).parent
        return Path(tempfile.mkdtemp(prefix=f"{Path(test_home).name}-faults-", dir=parent))
    return Path(tempfile.mkdtemp(prefix="milkbot-faults-"))


@pytest.fixture(scope="module")
def faulty_db() -> Iterator[tuple[EmbeddedPostgres, str]]:
    """An embedded server that tests may stop and kill, with a small generated dataset."""
    home = _own_home()
    server = EmbeddedPostgres(home)
    url = server.start()
    try:
        apply_migrations(url)
        generate_dataset(url, trades=2000, seed=7)
        yield server, url
    finally:
        server.stop()
        # A restarted postmaster is not the one the handle started: stop it too.
        server.stop_server("fast")
        shutil.rmtree(home, ignore_errors=True)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


@pytest.fixture(scope="module")
def served(faulty_db: tuple[EmbeddedPostgres, str]) -> Iterator[str]:
    """`milkbot serve` on that database (analytics cache off: every request reads it)."""
    port = free_port()
    env = {
        **os.environ,
        "MILKBOT_DATABASE_URL": faulty_db[1],
        "MILKBOT_PORT": str(port),
        "MILKBOT_CACHE_TTL": "0",
        "MILKBOT_LOG_LEVEL": "WARNING",
    }
    log = faulty_db[0].home / "serve.log"
    # A file, not a pipe nobody reads: an outage logs a line per request, and a full pipe
    # would block the server.
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "milkbot", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _status(f"{base}/health") != 200:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "milkbot serve did not become healthy"
            time.sleep(0.2)  # readiness poll
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)


async def until(condition: Callable[[], bool], deadline_s: float, what: str) -> float:
    """Poll ``condition`` every 20 ms; the seconds it took, or fail after ``deadline_s``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > deadline_s:
            pytest.fail(f"{what}: not within {deadline_s:g} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def answered(samples: list[Sample], after: float, status: int, code: str | None = None) -> int:
    """Answers with ``status`` (and ``code``) to requests sent at or after ``after``."""
    return sum(
        s.started >= after and s.status == status and (code is None or s.code == code)
        for s in samples
    )


@pytest.mark.parametrize("mode", MODES)
async def test_an_outage_is_a_quick_503_and_recovers_without_restarting_the_app(
    mode: Mode, faulty_db: tuple[EmbeddedPostgres, str], served: str
) -> None:
    server, _ = faulty_db
    stop = asyncio.Event()
    load: list[Sample] = []
    health: list[Sample] = []
    tasks = [
        asyncio.create_task(send_load(served, 4, 11, stop, load)),
        asyncio.create_task(poll_health(served, stop, health)),
    ]
    try:
        await until(lambda: answered(load, 0, 200) >= 20, 30, "answers before the fault")
        fault = time.monotonic()
        await asyncio.to_thread(stop_database, server, mode)
        noticed = await until(
            lambda: any(s.ended >= fault and s.status == 503 for s in health),
            10,
            "/health 503 after the fault",
        )
        assert noticed <= HEALTH_BOUND_S
        await until(
            lambda: answered(load, fault, 503, "database_unavailable") >= 10,
            10,
            "503 database_unavailable under load",
        )
        async with httpx.AsyncClient(base_url=served, timeout=10) as client:
            api = await client.get("/api/v1/equity?days=3")
            page = await client.get("/trades")
        error = assert_error_shape(api, 503, "database_unavailable")
        assert "try again" in error["message"] and api.headers["retry-after"] == "2"
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        assert "Database unavailable" in page.text and page.headers["retry-after"] == "2"

        await asyncio.to_thread(server.start_server)
        back = time.monotonic()
        healthy = await until(
            lambda: any(s.started >= back and s.status == 200 for s in health),
            10,
            "/health 200 after the restart",
        )
        assert healthy <= HEALTH_BOUND_S
        await until(lambda: answered(load, back, 200) >= 40, 30, "answers after the restart")
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    after = [s for s in load if s.started >= back]
    assert all(s.status == 200 for s in after), sorted({(s.status, s.code) for s in after})
    statuses = {(s.status, s.code) for s in load + health}
    assert statuses <= {(200, ""), (503, "database_unavailable"), (503, "unhealthy")}, statuses
    slowest = max(s.ended - s.started for s in load + health)
    assert slowest <= ANSWER_BOUND_S, slowest


async def test_a_read_blocked_by_maintenance_is_database_busy(db_url: str) -> None:
    """An ACCESS EXCLUSIVE lock (as `generate-data --reset` takes): 503 database_busy after
    the lock timeout, not a wait for the statement timeout; pages answer an HTML 503."""
    async with api_client(db_url, lock_timeout_ms=300, statement_timeout_ms=20_000) as client:
        with psycopg.connect(db_url) as locker:
            lock_analytics(locker)
            started = time.monotonic()
            api = await client.get("/api/v1/metrics/cities?days=7")
            page = await client.get("/cities?days=8")
            waited = time.monotonic() - started
            locker.rollback()
        after = await client.get("/api/v1/metrics/cities?days=7")
    error = assert_error_shape(api, 503, "database_busy")
    assert "MILKBOT_LOCK_TIMEOUT_MS" in error["message"]
    assert api.headers["retry-after"] == "1"
    assert page.status_code == 503 and "Database busy" in page.text
    assert waited < 10
    assert after.status_code == 200


async def test_an_exhausted_pool_is_pool_exhausted_not_unavailable(db_url: str) -> None:
    async with api_client(db_url, pool_size=1, max_overflow=0, pool_timeout=0.5) as client:
        app = client._transport.app  # type: ignore[attr-defined]
        async with app.state.web.analytics.pool.connection():
            response = await client.get("/api/v1/metrics/strategies?days=9")
    error = assert_error_shape(response, 503, "pool_exhausted")
    assert "all 1 are busy" in error["message"]


async def test_a_read_on_a_connection_lost_under_it_is_retried_on_a_fresh_one(
    db_url: str,
) -> None:
    service = Analytics(Settings(database_url=db_url, pool_size=2, max_overflow=0))
    await service.open()
    pids: list[int] = []

    async def slow_read(conn: psycopg.AsyncConnection) -> int:
        cur = await conn.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None
        pids.append(row[0])
        await conn.execute("SELECT pg_sleep(0.5)")
        return int(row[0])

    try:
        reading = asyncio.create_task(service.pool.read(slow_read))
        await until(lambda: len(pids) == 1, 10, "the read started")
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pids[0]])
        answered_by = await asyncio.wait_for(reading, 10)
        assert len(pids) == 2 and answered_by == pids[1] != pids[0]
        assert service.pool.available
    finally:
        await service.close()


async def test_an_unreachable_database_is_unavailable_at_once(db_url: str) -> None:
    """A pool whose database went away (every connection of it terminated, then the URL
    pointing nowhere) answers DatabaseUnavailableError in well under the pool timeout, and
    health says unhealthy within the health timeout."""
    service = Analytics(Settings(database_url=db_url, pool_size=1, max_overflow=0, pool_timeout=30))
    await service.open()
    try:
        service.pool.url = "postgresql://nobody@127.0.0.1:1/none"  # where the probe looks
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'milkbot-analytics'"
            )
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError, match="try again"):
            await service.city_metrics(days=5, bypass_cache=True)
        assert time.monotonic() - started < ANSWER_BOUND_S
        report = await service.health()
        assert report.status == "unhealthy"
        assert report.components[0].status == "unhealthy"
        assert not service.pool.available
    finally:
        await service.close()

"""/metrics: the named Prometheus series exist and move when requests are made."""

from __future__ import annotations

import asyncio

from milkbot.monitoring.alerts import evaluate, parse_samples
from tests.test_api import api_client


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all((k, want) in ls for k, want in labels.items())
    )


async def test_metrics_expose_the_named_series_and_they_move(db_url: str) -> None:
    async with api_client(db_url, cache_ttl=5) as client:
        before = parse_samples((await client.get("/metrics")).text)
        for _ in range(3):
            assert (await client.get("/api/v1/metrics/cities?days=30")).status_code == 200
        assert (await client.get("/api/v1/metrics/cities?days=0")).status_code in (400, 422)
        response = await client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        after = parse_samples(response.text)

    route = "/api/v1/metrics/cities"
    assert (
        _value(after, "milkbot_http_request_duration_seconds_count", route=route)
        - _value(before, "milkbot_http_request_duration_seconds_count", route=route)
        == 4
    )
    assert _value(after, "milkbot_http_responses_total", route=route, status="200") == 3
    assert (
        _value(after, "milkbot_query_duration_seconds_count", query="city_metrics", cached="false")
        >= 1
    )
    assert (
        _value(after, "milkbot_cache_hits_total", query="city_metrics")
        + _value(after, "milkbot_cache_misses_total", query="city_metrics")
        >= 1
    )
    for gauge in (
        "milkbot_db_pool_size",
        "milkbot_db_pool_max",
        "milkbot_db_pool_in_use",
        "milkbot_db_pool_waiting",
        "milkbot_system_cpu_used_ratio",
        "milkbot_system_memory_used_ratio",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ):
        assert any(n == gauge for n, _ in after), gauge
    assert _value(after, "milkbot_db_pool_max") == 4  # pool_size 2 + max_overflow 2
    # A quiet server: none of the app's alerts fire (CPU and memory are the machine's).
    verdicts = {v.rule.name: v for v in evaluate([before, after])}
    for name in ("MilkbotQueryP95High", "MilkbotErrorRateHigh", "MilkbotDbConnectionsHigh"):
        assert not verdicts[name].fired, verdicts[name]


async def test_a_saturated_pool_shows_in_the_pool_gauges(db_url: str) -> None:
    """Requests queued behind a one-connection pool: in_use hits max, callers wait."""
    async with api_client(db_url, pool_size=1, max_overflow=0, cache_ttl=0) as client:
        release = asyncio.Event()
        holding = asyncio.Event()
        app_pool = None

        async def hold() -> None:
            # Borrow the app's only connection through a normal request path: a slow query.
            nonlocal app_pool
            app = client._transport.app  # type: ignore[attr-defined]
            app_pool = app.state.web.analytics.pool
            async with app_pool.connection():
                holding.set()
                await release.wait()

        quiet = parse_samples((await client.get("/metrics")).text)
        holder = asyncio.create_task(hold())
        await holding.wait()
        waiting = asyncio.create_task(client.get("/api/v1/metrics/cities?days=30"))
        samples = {}
        for _ in range(200):  # until the request queues for the connection (bounded)
            samples = parse_samples((await client.get("/metrics")).text)
            if _value(samples, "milkbot_db_pool_waiting") >= 1:
                break
            await asyncio.sleep(0.01)
        still = parse_samples((await client.get("/metrics")).text)  # saturated again
        release.set()
        await holder
        assert (await waiting).status_code == 200
    assert _value(samples, "milkbot_db_pool_in_use") == 1
    assert _value(samples, "milkbot_db_pool_max") == 1
    assert _value(samples, "milkbot_db_pool_waiting") >= 1
    # Full at every scrape of the window: fires. Full only at its end: a spike, as Prometheus's
    # `for:` sees it, and no alert.
    fired = {v.rule.name for v in evaluate([samples, still]) if v.fired}
    assert "MilkbotDbConnectionsHigh" in fired
    spike = {v.rule.name for v in evaluate([quiet, samples]) if v.fired}
    assert "MilkbotDbConnectionsHigh" not in spike

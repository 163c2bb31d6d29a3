"""/metrics: the named Prometheus series exist and move when requests are made, and no request
can add a label value outside a closed set."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx

from milkbot.monitoring.alerts import evaluate, parse_samples
from milkbot.monitoring.metrics import METHODS, Metrics, MetricsMiddleware
from tests.test_api import BEARER, api_client, write_metrics_token


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all((k, want) in ls for k, want in labels.items())
    )


async def test_metrics_expose_the_named_series_and_they_move(db_url: str, tmp_path: Path) -> None:
    async with api_client(
        db_url, cache_ttl=5, metrics_token_file=write_metrics_token(tmp_path)
    ) as client:
        before = parse_samples((await client.get("/metrics", headers=BEARER)).text)
        for _ in range(3):
            assert (await client.get("/api/v1/metrics/cities?days=30")).status_code == 200
        assert (await client.get("/api/v1/metrics/cities?days=0")).status_code in (400, 422)
        response = await client.get("/metrics", headers=BEARER)
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


async def test_a_saturated_pool_shows_in_the_pool_gauges(db_url: str, tmp_path: Path) -> None:
    """Requests queued behind a one-connection pool: in_use hits max, callers wait."""
    async with api_client(
        db_url,
        pool_size=1,
        max_overflow=0,
        cache_ttl=0,
        metrics_token_file=write_metrics_token(tmp_path),
    ) as client:
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

        quiet = parse_samples((await client.get("/metrics", headers=BEARER)).text)
        holder = asyncio.create_task(hold())
        await holding.wait()
        waiting = asyncio.create_task(client.get("/api/v1/metrics/cities?days=30"))
        samples = {}
        for _ in range(200):  # until the request queues for the connection (bounded)
            samples = parse_samples((await client.get("/metrics", headers=BEARER)).text)
            if _value(samples, "milkbot_db_pool_waiting") >= 1:
                break
            await asyncio.sleep(0.01)
        still = parse_samples(
            (await client.get("/metrics", headers=BEARER)).text
        )  # saturated again
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


HTTP_SERIES = ("milkbot_http_request_duration_seconds_count", "milkbot_http_responses_total")


def _http_series(samples: dict) -> set[tuple]:  # type: ignore[type-arg]
    return {(n, ls) for (n, ls) in samples if n in HTTP_SERIES}


def _route_templates(app: Any) -> set[str]:
    """Every route template of the app, those of included routers too."""
    templates: set[str] = set()
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is not None:
            templates.add(path)
        else:  # FastAPI's included router keeps its own routes
            templates |= {sub.path for sub in route.original_router.routes}
    return templates


def _random_batch(rng: random.Random, routes: list[str]) -> list[tuple[str, str]]:
    """(method, path): every route once with a made-up method, and 100 made-up paths with
    made-up or standard methods."""

    def token() -> str:
        return "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))

    batch = [(token(), route) for route in routes]
    for _ in range(100):
        method = rng.choice([token(), token(), *METHODS])
        path = "/" + "/".join(token().lower() for _ in range(rng.randint(1, 4)))
        batch.append((method, path + rng.choice(["", "?days=1", f"?x={token()}"])))
    return batch


async def test_random_methods_and_paths_do_not_grow_the_series_beyond_closed_sets(
    db_url: str, tmp_path: Path
) -> None:
    """Two batches of 100+ requests with made-up methods and paths: the first may add series,
    but only with closed-set labels; the second, all new values, adds none."""
    rng = random.Random(5)
    async with api_client(db_url, metrics_token_file=write_metrics_token(tmp_path)) as client:
        app = client._transport.app  # type: ignore[attr-defined]
        templates = _route_templates(app)
        routes = sorted(t for t in templates if "{" not in t and t != "/static")
        await client.get("/metrics", headers=BEARER)  # its own series exist before the first count
        for method, path in _random_batch(rng, routes):
            await client.request(method, path)
        first = parse_samples((await client.get("/metrics", headers=BEARER)).text)
        for method, path in _random_batch(rng, routes):
            await client.request(method, path)
        second = parse_samples((await client.get("/metrics", headers=BEARER)).text)

    assert _http_series(second) == _http_series(first)
    statuses = {str(s.value) for s in HTTPStatus} | {"other"}
    for _name, labels in _http_series(second):
        values = dict(labels)
        assert values["route"] in templates | {"unmatched"}, values
        assert values["method"] in METHODS | {"other"}, values
        assert values.get("status", "200") in statuses, values
    methods = {dict(ls)["method"] for _, ls in _http_series(second)}
    assert "other" in methods and methods <= METHODS | {"other"}


async def test_a_status_http_does_not_define_is_labelled_other() -> None:
    metrics = Metrics()

    async def odd(scope: dict, receive: object, send: Callable[..., Any]) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = MetricsMiddleware(odd, metrics)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.request("BREW", "/pot")).status_code == 599
    samples = parse_samples(metrics.render()[0].decode())
    assert _value(samples, "milkbot_http_responses_total", route="unmatched", method="other",
                  status="other") == 1  # fmt: skip

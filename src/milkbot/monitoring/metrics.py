"""Prometheus metrics: what /metrics exposes and the alerts read.

Series (all prefixed ``milkbot_``):
- ``http_request_duration_seconds{route,method}`` histogram and
  ``http_responses_total{route,method,status}`` counter, from :class:`MetricsMiddleware`. Every
  label value comes from a closed set, so no client can grow the number of series: the route
  template (not the raw path) or ``unmatched``, one of ``METHODS`` or ``other``, the code of a
  status HTTP defines or ``other``;
- ``query_duration_seconds{query,cached}`` histogram, observed by the analytics service;
- ``cache_hits_total{query}`` / ``cache_misses_total{query}`` counters;
- ``db_pool_size`` / ``db_pool_max`` / ``db_pool_in_use`` / ``db_pool_waiting`` gauges, read
  from the pool at scrape time (:class:`PoolCollector`);
- ``system_cpu_used_ratio`` / ``system_memory_used_ratio`` gauges of the machine, and the
  standard ``process_cpu_seconds_total`` / ``process_resident_memory_bytes`` of the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Query and request latencies here are sub-millisecond to seconds.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# The label values a request can produce; anything else is "other" (or "unmatched" for routes).
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
STATUS_LABELS = {status.value: str(status.value) for status in HTTPStatus}
OTHER = "other"
UNMATCHED = "unmatched"

ASGIApp = Callable[[dict[str, Any], Callable[..., Any], Callable[..., Any]], Any]


class Metrics:
    """One registry with every Milkbot series; one instance per app (tests build their own)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "milkbot_http_request_duration_seconds",
            "HTTP request duration by route template.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.responses = Counter(
            "milkbot_http_responses_total",
            "HTTP responses by route template and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.query_duration = Histogram(
            "milkbot_query_duration_seconds",
            "Analytics query duration (cached=true: served from the cache).",
            ["query", "cached"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "milkbot_cache_hits_total", "Analytics cache hits.", ["query"], registry=self.registry
        )
        self.cache_misses = Counter(
            "milkbot_cache_misses_total",
            "Analytics cache misses.",
            ["query"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self.registry.register(SystemCollector())

    def observe_query(self, name: str, seconds: float, cached: bool) -> None:
        """Record one analytics call (the service calls this for every query)."""
        self.query_duration.labels(name, "true" if cached else "false").observe(seconds)
        (self.cache_hits if cached else self.cache_misses).labels(name).inc()

    def watch_pool(self, stats: Callable[[], Mapping[str, int]], max_size: int) -> None:
        """Expose a connection pool's state; ``stats`` is e.g. psycopg_pool's ``get_stats``."""
        self.registry.register(PoolCollector(stats, max_size))

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class SystemCollector(Collector):
    """Machine CPU and memory use as 0..1 ratios, read at scrape time."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "milkbot_system_cpu_used_ratio",
            "Machine CPU in use since the last scrape (0..1).",
            value=psutil.cpu_percent(interval=None) / 100.0,
        )
        yield GaugeMetricFamily(
            "milkbot_system_memory_used_ratio",
            "Machine memory in use (0..1).",
            value=psutil.virtual_memory().percent / 100.0,
        )


class PoolCollector(Collector):
    """Connection pool gauges from psycopg_pool's statistics (pool_size = open connections,
    pool_available = idle ones, requests_waiting = callers queued for a connection)."""

    def __init__(self, stats: Callable[[], Mapping[str, int]], max_size: int) -> None:
        self._stats = stats
        self._max = max_size

    def collect(self) -> Iterable[GaugeMetricFamily]:
        s = self._stats()
        size = int(s.get("pool_size", 0))
        idle = int(s.get("pool_available", 0))
        yield GaugeMetricFamily("milkbot_db_pool_size", "Open pool connections.", value=size)
        yield GaugeMetricFamily("milkbot_db_pool_max", "Pool size + max overflow.", value=self._max)
        yield GaugeMetricFamily(
            "milkbot_db_pool_in_use", "Pool connections lent out.", value=max(size - idle, 0)
        )
        yield GaugeMetricFamily(
            "milkbot_db_pool_waiting",
            "Callers waiting for a connection.",
            value=int(s.get("requests_waiting", 0)),
        )


def method_label(method: str) -> str:
    """The method's label: itself if in METHODS, else "other"."""
    return method if method in METHODS else OTHER


def status_label(status: int) -> str:
    """The status's label: its code if HTTP defines it (http.HTTPStatus), else "other"."""
    return STATUS_LABELS.get(status, OTHER)


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request by its route template; every label value
    comes from a closed set (see the module docstring)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = method_label(scope.get("method", "GET"))
            self.metrics.request_duration.labels(template, method).observe(
                time.perf_counter() - start
            )
            self.metrics.responses.labels(template, method, status_label(status)).inc()

"""Request counts and response-time histograms per route, as plain data.

Locust keeps, per request name, the count of responses at each (rounded) response time in ms.
A :data:`Snapshot` copies those counters at one moment; the difference of two snapshots is the
exact histogram of a time window, from which :func:`summarize` gives its percentiles, error rate
and throughput (:class:`~milkbot.perf.records.Figures`). Pure functions: the locustfile (gevent)
and the runner both use them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from milkbot.perf.records import Figures

AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class RouteCounts:
    """Requests, failures and the response-time histogram (ms -> count) of one route."""

    requests: int
    failures: int
    times: Mapping[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "times": {str(ms): n for ms, n in sorted(self.times.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouteCounts:
        times = {int(ms): int(n) for ms, n in data["times"].items()}
        return cls(int(data["requests"]), int(data["failures"]), times)


Snapshot = dict[str, RouteCounts]


def snapshot_locust(stats: Any) -> Snapshot:
    """Copy the counters of a Locust ``RequestStats`` (per request name, plus ``Aggregated``)."""
    snap: Snapshot = {}
    for entry in stats.entries.values():
        snap[entry.name] = RouteCounts(
            entry.num_requests, entry.num_failures, dict(entry.response_times)
        )
    total = stats.total
    snap[AGGREGATED] = RouteCounts(
        total.num_requests, total.num_failures, dict(total.response_times)
    )
    return snap


def snapshot_to_dict(snap: Snapshot) -> dict[str, Any]:
    """JSON form of a snapshot."""
    return {name: counts.to_dict() for name, counts in snap.items()}


def snapshot_from_dict(data: Mapping[str, Any]) -> Snapshot:
    """Inverse of :func:`snapshot_to_dict`."""
    return {name: RouteCounts.from_dict(counts) for name, counts in data.items()}


def window(later: Snapshot, earlier: Snapshot) -> Snapshot:
    """The counts between two snapshots of the same run (``later`` minus ``earlier``)."""
    out: Snapshot = {}
    for name, now in later.items():
        before = earlier.get(name)
        if before is None:
            out[name] = now
            continue
        times = {ms: n - before.times.get(ms, 0) for ms, n in now.times.items()}
        out[name] = RouteCounts(
            now.requests - before.requests,
            now.failures - before.failures,
            {ms: n for ms, n in times.items() if n > 0},
        )
    return out


def percentile(times: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0..1) in ms of a histogram; ``None`` when it is empty."""
    total = sum(times.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= rank:
            return float(ms)
    return float(max(times))


def summarize(counts: RouteCounts, seconds: float) -> Figures:
    """Figures of ``counts`` gathered over ``seconds`` seconds."""
    times = counts.times
    return Figures(
        requests=counts.requests,
        failures=counts.failures,
        rps=counts.requests / seconds if seconds > 0 else 0.0,
        error_rate=counts.failures / counts.requests if counts.requests else 0.0,
        p50_ms=percentile(times, 0.50),
        p95_ms=percentile(times, 0.95),
        p99_ms=percentile(times, 0.99),
        max_ms=float(max(times)) if times else None,
    )


def summarize_all(snap: Snapshot, seconds: float) -> dict[str, Figures]:
    """:func:`summarize` for every route of a snapshot (``Aggregated`` included)."""
    return {name: summarize(counts, seconds) for name, counts in snap.items()}

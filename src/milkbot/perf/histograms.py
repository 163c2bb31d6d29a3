"""Locust's counters and what a Locust run leaves behind, as plain data.

Locust keeps, per request name, the count of responses at each (rounded) response time in ms.
A :data:`Snapshot` copies those counters at one moment; the difference of two snapshots is the
exact histogram of a time window, from which :func:`summarize` gives its percentiles, error rate
and throughput (:class:`~milkbot.perf.records.Figures`). The runner reads the locustfile's
snapshot of the measured window (:func:`read_snapshot`), Locust's per-second history CSV (for the
charts) and its failures CSV. No psycopg, no threads: the locustfile (gevent) imports this module.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milkbot.perf.records import Failure, Figures, Record, StressSearch

AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class RouteCounts:
    """Requests, failures and the response-time histogram (ms -> count) of one route."""

    requests: int
    failures: int
    times: Mapping[int, int]


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


@dataclass(frozen=True)
class PhaseResult:
    """A phase's measured window: start and end (s since the epoch), figures per route (with
    ``Aggregated``), and the stress search's outcome when there was one."""

    started: float
    stopped: float
    routes: dict[str, Figures]
    search: StressSearch | None = None

    @property
    def seconds(self) -> float:
        return self.stopped - self.started

    @property
    def total(self) -> Figures:
        return self.routes[AGGREGATED]


class Hold(Record):
    """The stress scenario's hold before the breaking-point search: when it ended and the
    counters then."""

    stopped: float
    counts: Snapshot


class RunSnapshot(Record):
    """What the locustfile leaves for ``milkbot perf loadtest`` when a run stops: the phase, its
    start and end (s since the epoch), the final counters, and for the stress scenario the hold
    and the search's outcome."""

    phase: str
    started: float
    stopped: float
    final: Snapshot
    hold: Hold | None = None
    search: StressSearch | None = None


def read_snapshot(path: Path) -> PhaseResult:
    """The measured window of a run from the locustfile's snapshot: the whole run, or for the
    stress scenario the hold before the breaking-point search."""
    run = RunSnapshot.model_validate_json(path.read_text())
    stopped, counts = run.stopped, run.final
    if run.hold is not None:
        stopped, counts = run.hold.stopped, run.hold.counts
    if AGGREGATED not in counts:
        raise ValueError(f"{path}: no aggregated counters (did the run send any request?)")
    return PhaseResult(
        run.started, stopped, summarize_all(counts, stopped - run.started), run.search
    )


@dataclass(frozen=True)
class HistoryPoint:
    """One second of Locust's history: the current (last ~10 s) response-time percentiles in ms,
    ``None`` when there was no request."""

    t: float
    p50: float | None
    p95: float | None
    p99: float | None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_history(path: Path) -> tuple[list[HistoryPoint], dict[str, list[HistoryPoint]]]:
    """Locust's ``*_stats_history.csv`` (written with ``--csv-full-history``): the aggregated
    series, and the series of each route."""
    total: list[HistoryPoint] = []
    routes: dict[str, list[HistoryPoint]] = {}
    if not path.exists():
        return total, routes
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            point = HistoryPoint(
                t=float(row["Timestamp"]),
                p50=_number(row["50%"]),
                p95=_number(row["95%"]),
                p99=_number(row["99%"]),
            )
            if row["Name"] == AGGREGATED:
                total.append(point)
            else:
                routes.setdefault(row["Name"], []).append(point)
    return total, routes


def read_failures(path: Path, limit: int = 10) -> list[Failure]:
    """The most frequent failures from Locust's ``*_failures.csv``."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        rows = [
            Failure(route=r["Name"], error=r["Error"], count=int(r["Occurrences"]))
            for r in csv.DictReader(fh)
        ]
    return sorted(rows, key=lambda r: -r.count)[:limit]

"""Reading what a Locust run leaves behind: the locustfile's snapshot (exact counters of the
measured window, and the stress search), Locust's per-second history CSV (for the charts) and
its failures CSV.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from milkbot.perf.histograms import AGGREGATED, Snapshot, snapshot_from_dict, summarize_all
from milkbot.perf.records import Failure, Figures, StressSearch


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


def read_snapshot(path: Path) -> PhaseResult:
    """The measured window of a run from the locustfile's snapshot: the whole run, or for the
    stress scenario the hold before the breaking-point search."""
    data = json.loads(path.read_text())
    started = float(data["started"])
    stopped = float(data["stopped"])
    counts: Snapshot = snapshot_from_dict(data["final"])
    hold = data.get("hold")
    if hold and hold.get("stopped"):
        stopped = float(hold["stopped"])
        counts = snapshot_from_dict(hold["counts"])
    if AGGREGATED not in counts:
        raise ValueError(f"{path}: no aggregated counters (did the run send any request?)")
    search = data.get("search")
    return PhaseResult(
        started,
        stopped,
        summarize_all(counts, stopped - started),
        None if search is None else StressSearch.model_validate(search),
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

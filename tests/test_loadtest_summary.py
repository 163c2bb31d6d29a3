"""Resource figures of a run's window from the sampler's readings: peaks, the 10-second CPU
average the criterion judges, CPU per request, and the notes on a saturated load generator."""

from __future__ import annotations

import psutil
import pytest

from milkbot.perf.judge import client_notes, cpu_ms_per_request, resource_peaks
from milkbot.perf.resources import ResourceSample, postmaster_pid


def sample(t: float, cpu: float, *, conns: int | None = 20, loadgen: float = 5.0) -> ResourceSample:
    return ResourceSample(
        t=t,
        app_cpu=cpu * 0.75,
        db_cpu=cpu * 0.25,
        server_cpu=cpu,
        loadgen_cpu=loadgen,
        machine_cpu=cpu + loadgen,
        machine_mem=30.0 + t / 100,
        app_rss_mb=100.0,
        db_connections=conns,
        server_cpu_s=cpu / 100 * 2,  # two cores, one-second interval
    )


def test_peaks_cover_only_the_window() -> None:
    samples = [sample(t, 90.0 if t < 10 else 40.0) for t in range(0, 40)]
    samples[30] = sample(30, 65.0, conns=27)
    peaks = resource_peaks(samples, start=10, stop=35, interval_s=1.0)
    assert peaks.samples == 27  # 10..35 and the reading just after the end
    assert peaks.server_cpu_max_pct == 65.0
    assert peaks.server_cpu_peak_10s_pct == pytest.approx(42.5)  # one 65% second in ten
    assert peaks.db_connections_max == 27
    assert peaks.machine_mem_max_pct == pytest.approx(30.4)


def test_unreadable_connections_are_not_a_zero() -> None:
    peaks = resource_peaks([sample(t, 10.0, conns=None) for t in range(5)], 0, 5, 1.0)
    assert peaks.db_connections_max is None


def test_cpu_per_request() -> None:
    samples = [sample(t, 50.0) for t in range(1, 11)]  # 1 CPU second per second
    assert cpu_ms_per_request(samples, 0, 10, requests=2000, interval_s=1.0) == 5.0
    assert cpu_ms_per_request(samples, 0, 10, requests=0, interval_s=1.0) is None


def test_a_saturated_load_generator_is_noted() -> None:
    notes = client_notes(2, ceiling=48.0, capacity=20.0, breaking_point=None)
    assert notes == [
        "Locust used a whole core in the ceiling window: that rate may be the load "
        "generator's limit rather than the server's"
    ]


def test_the_postmaster_of_a_local_database_is_found(db_url: str) -> None:
    pid = postmaster_pid(db_url)
    assert pid is not None
    assert psutil.Process(pid).name() == "postgres"
    assert psutil.Process(pid).parent().name() != "postgres"  # the postmaster, not a backend

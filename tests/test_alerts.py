"""Alert rules: the committed Prometheus file, and the checker's arithmetic on real expositions."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from milkbot.monitoring.alerts import evaluate, histogram_quantile, parse_samples, render_rules
from milkbot.monitoring.metrics import Metrics

RULES_FILE = Path(__file__).resolve().parents[1] / "deployment" / "prometheus" / "alerts.yml"


def test_committed_rules_file_is_the_generated_one() -> None:
    assert RULES_FILE.read_text() == render_rules(), "run: milkbot alerts rules > " + str(
        RULES_FILE
    )


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("MILKBOT_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required here (apt-get install prometheus)")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES_FILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_histogram_quantile_interpolates_like_promql() -> None:
    # 100 observations: 50 under 10 ms, 40 more under 50 ms, 10 more under 100 ms.
    buckets = {0.01: 50.0, 0.05: 90.0, 0.1: 100.0, float("inf"): 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.075)
    assert histogram_quantile(0.95, {0.1: 0.0, float("inf"): 0.0}) is None


def _scrape(metrics: Metrics) -> dict:  # type: ignore[type-arg]
    return parse_samples(metrics.render()[0].decode())


def _by_name(verdicts: list) -> dict:  # type: ignore[type-arg]
    return {v.rule.name: v for v in verdicts}


def test_quiet_window_fires_nothing_about_the_app() -> None:
    m = Metrics()
    m.watch_pool(lambda: {"pool_size": 4, "pool_available": 4, "requests_waiting": 0}, 30)
    first = _scrape(m)
    for _ in range(100):
        m.observe_query("city_metrics", 0.002, cached=False)
        m.responses.labels("/api/v1/metrics/cities", "GET", "200").inc()
    verdicts = _by_name(evaluate([first, _scrape(m)]))
    for name in ("MilkbotQueryP95High", "MilkbotErrorRateHigh", "MilkbotDbConnectionsHigh"):
        assert not verdicts[name].fired, verdicts[name]
    # All 100 fall in the (1 ms, 2.5 ms] bucket: rank 95 interpolates to 1 + 1.5 * 0.95 ms.
    assert verdicts["MilkbotQueryP95High"].value == pytest.approx(0.001 + 0.0015 * 0.95)


def test_slow_queries_errors_and_a_full_pool_fire() -> None:
    busy = {"pool_size": 2, "pool_available": 0, "requests_waiting": 7}
    m = Metrics()
    m.watch_pool(lambda: busy, 2)
    m.observe_query("equity_curve", 0.001, cached=False)  # before the window: not counted
    first = _scrape(m)
    for _ in range(50):
        m.observe_query("equity_curve", 0.4, cached=False)
        m.observe_query("equity_curve", 0.4, cached=True)
    for status in ["200"] * 95 + ["503"] * 5:
        m.responses.labels("/api/v1/equity", "GET", status).inc()
    verdicts = _by_name(evaluate([first, _scrape(m)]))
    assert verdicts["MilkbotQueryP95High"].fired
    assert "equity_curve" in verdicts["MilkbotQueryP95High"].detail
    assert verdicts["MilkbotErrorRateHigh"].value == pytest.approx(0.05)
    assert verdicts["MilkbotDbConnectionsHigh"].value == pytest.approx(1.0)
    assert verdicts["MilkbotDbConnectionsHigh"].fired


def test_evaluate_needs_a_window() -> None:
    with pytest.raises(ValueError, match="two scrapes"):
        evaluate([{}])


def _gauges(cpu: float, pool_in_use: int) -> dict:  # type: ignore[type-arg]
    text = (
        f"milkbot_system_cpu_used_ratio {cpu}\n"
        "milkbot_system_memory_used_ratio 0.3\n"
        f"milkbot_db_pool_in_use {pool_in_use}\n"
        "milkbot_db_pool_max 10\n"
    )
    return parse_samples(text)


def test_a_single_spike_of_a_gauge_fires_nothing() -> None:
    # One scrape of 99% CPU and a full pool among quiet ones: Prometheus's `for:` would not fire.
    scrapes = [_gauges(0.2, 1), _gauges(0.3, 2), _gauges(0.99, 10), _gauges(0.25, 1)]
    verdicts = _by_name(evaluate(scrapes))
    for name in ("MilkbotCpuHigh", "MilkbotDbConnectionsHigh"):
        assert not verdicts[name].fired, verdicts[name]
    assert verdicts["MilkbotCpuHigh"].value == pytest.approx(0.25)
    assert "peak 99.0%" in verdicts["MilkbotCpuHigh"].detail


def test_a_gauge_above_its_threshold_for_the_whole_window_fires() -> None:
    scrapes = [_gauges(0.1, 9), _gauges(0.85, 9), _gauges(0.95, 10), _gauges(0.9, 9)]
    verdicts = _by_name(evaluate(scrapes))
    assert verdicts["MilkbotCpuHigh"].fired  # the first CPU reading predates the window
    assert verdicts["MilkbotCpuHigh"].value == pytest.approx(0.85)
    assert verdicts["MilkbotDbConnectionsHigh"].fired
    assert not verdicts["MilkbotMemoryHigh"].fired

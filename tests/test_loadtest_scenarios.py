"""Load-test settings: scenario presets and overrides, durations, weights, and the refusal of
any host that is not this machine (in Python, through the CLI and through the guide's script)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from milkbot.perf.scenarios import (
    PRESETS,
    ScenarioError,
    check_loopback,
    format_duration,
    parse_duration,
    parse_weights,
    resolve_scenario,
)
from milkbot.perf.server import PIDFILE

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "deployment" / "scripts" / "run-load-test.sh"


def test_presets_are_the_guides_scenarios() -> None:
    normal, peak, stress = PRESETS["normal"], PRESETS["peak"], PRESETS["stress"]
    assert (normal.users, normal.run_time_s, normal.p95_target_ms) == (50, 300, 500)
    assert (peak.users, peak.run_time_s, peak.p95_target_ms) == (100, 600, 1000)
    assert (stress.users, stress.run_time_s, stress.p95_target_ms) == (200, 900, 500)
    assert stress.stress is not None and stress.stress.p95_limit_ms == 500
    assert stress.stress.error_limit == 0.001
    assert normal.stress is None and peak.stress is None


def test_default_is_the_guides_basic_run() -> None:
    basic = resolve_scenario(None)
    assert (basic.name, basic.users, basic.spawn_rate, basic.run_time_s) == ("basic", 100, 10, 300)


def test_smoke_fits_in_a_minute_of_locust_time() -> None:
    smoke = PRESETS["smoke"]
    assert 2 * smoke.phase_s + smoke.run_time_s <= 60


def test_explicit_values_override_the_preset() -> None:
    sc = resolve_scenario("peak", users=7, spawn_rate=3.5, run_time="90s")
    assert (sc.name, sc.users, sc.spawn_rate, sc.run_time_s) == ("peak", 7, 3.5, 90)
    assert sc.p95_target_ms == 1000  # the preset's target stays
    stress = resolve_scenario("STRESS", max_users=600, max_search_time="2m")
    assert stress.stress is not None
    assert (stress.stress.max_users, stress.stress.max_search_s) == (600, 120)


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"name": "soak"}, "LOAD_TEST_SCENARIO"),
        ({"users": 0}, "LOAD_TEST_USERS"),
        ({"spawn_rate": 0}, "LOAD_TEST_SPAWN_RATE"),
        ({"run_time": "five minutes"}, "LOAD_TEST_RUN_TIME"),
        ({"name": "stress", "max_users": 150}, "LOAD_TEST_MAX_USERS"),
        ({"name": "stress", "max_search_time": "0s"}, "LOAD_TEST_MAX_SEARCH_TIME"),
    ],
)
def test_bad_settings_name_the_variable(kwargs: dict[str, object], variable: str) -> None:
    name = kwargs.pop("name", "normal")
    with pytest.raises(ScenarioError, match=variable):
        resolve_scenario(str(name), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("300", 300), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2m30s", 150), ("1.5s", 1.5)],
)
def test_durations_parse_like_locusts(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5 minutes", "-5m", "0", "5x"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ScenarioError, match="LOAD_TEST_RUN_TIME"):
        parse_duration(text)


def test_durations_format_back() -> None:
    assert [format_duration(s) for s in (25, 300, 5400, 150, 0)] == [
        "25s",
        "5m",
        "1h30m",
        "2m30s",
        "0s",
    ]


def test_weights() -> None:
    assert parse_weights(None) == {"dashboard": 3, "api": 1}
    assert parse_weights("dashboard:1, api:4") == {"dashboard": 1, "api": 4}
    assert parse_weights("api:0") == {"dashboard": 3, "api": 0}
    for bad in ("dashboard=3", "robots:2", "api:x", "dashboard:0,api:0"):
        with pytest.raises(ScenarioError, match="LOAD_TEST_WEIGHTS"):
            parse_weights(bad)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("http://localhost:8501", "http://localhost:8501"),
        ("http://LOCALHOST:8501/", "http://localhost:8501"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://127.8.9.10:8501", "http://127.8.9.10:8501"),
        ("http://[::1]:8501", "http://[::1]:8501"),
        ("http://127.0.0.1", "http://127.0.0.1:80"),
        ("https://localhost", "https://localhost:443"),
    ],
)
def test_loopback_hosts_are_accepted(url: str, normalised: str) -> None:
    assert check_loopback(url).url == normalised


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8501",
        "http://192.168.1.20:8501",
        "http://0.0.0.0:8501",
        "http://[::]:8501",
        "http://example.com",
        "http://localhost.example.com:8501",
        "http://127.0.0.1.nip.io:8501",
        "http://user:secret@localhost:8501",
        "http://localhost:8501/api",
        "ftp://localhost",
        "localhost:8501",
        "http://localhost:99999",
    ],
)
def test_other_hosts_are_refused(url: str) -> None:
    with pytest.raises(ScenarioError, match="only run against this machine"):
        check_loopback(url)


def test_a_name_that_resolves_to_loopback_only_is_accepted() -> None:
    name = socket.gethostname()
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    if not all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos):
        pytest.skip(f"this machine's name {name!r} resolves beyond loopback")
    assert check_loopback(f"http://{name}:8501").host == name.lower()


def _run(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_cli_refuses_a_remote_host_before_doing_anything(tmp_path: Path) -> None:
    done = _run(
        [sys.executable, "-m", "milkbot", "perf", "loadtest", "--results", str(tmp_path)],
        LOAD_TEST_HOST="http://10.1.2.3:8501",
    )
    assert done.returncode == 2
    assert "only run against this machine" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_guide_script_refuses_a_remote_host(tmp_path: Path) -> None:
    done = _run(
        [str(SCRIPT), "--results", str(tmp_path)],
        LOAD_TEST_HOST="http://203.0.113.9:8501",
        LOAD_TEST_HOME=str(tmp_path / "home"),
    )
    assert done.returncode == 2
    assert "LOAD_TEST_HOST='http://203.0.113.9:8501'" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_guide_script_refuses_an_unknown_scenario(tmp_path: Path) -> None:
    done = _run(
        [str(SCRIPT), "--results", str(tmp_path / "results")],
        LOAD_TEST_SCENARIO="soak",
        LOAD_TEST_HOME=str(tmp_path),
    )
    assert done.returncode == 2
    assert "LOAD_TEST_SCENARIO" in done.stderr


def test_guide_script_never_stops_a_server_another_run_started(tmp_path: Path) -> None:
    # A process that looks like another run's server, named in the shared pid file.
    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "milkbot", "serve"],
        start_new_session=True,
    )
    try:
        pidfile = tmp_path / PIDFILE
        pidfile.write_text(f"{other.pid} {os.getpid()}\n")
        done = _run([str(SCRIPT)], LOAD_TEST_SCENARIO="soak", LOAD_TEST_HOME=str(tmp_path))
        assert done.returncode == 2
        assert other.poll() is None
        assert pidfile.exists()
    finally:
        other.kill()
        other.wait()


def test_the_description_says_what_runs_not_the_presets_figures() -> None:
    ran = resolve_scenario("basic", users=20, run_time="1m")
    assert ran.description == (
        "the guide's basic load test: 20 users started at 10/s, measured for 1m, P95 target 500 ms"
    )
    assert "1 user started" in resolve_scenario("smoke", users=1).description
    assert "up to 2000 users" in resolve_scenario("stress").description

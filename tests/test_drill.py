"""`milkbot perf drill`: run as a process with a short outage, and its judgement of answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from milkbot.perf.drill import DrillOptions, DrillRecord, Sample, Timeline, judge
from milkbot.perf.records import Machine


@pytest.fixture
def drill_home() -> Iterator[Path]:
    """A home of the drill's own (beside MILKBOT_TEST_HOME when set)."""
    test_home = os.environ.get("MILKBOT_TEST_HOME")
    parent = Path(test_home).parent if test_home else None
    prefix = f"{Path(test_home).name}-drill-" if test_home else "milkbot-drill-"
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def drill(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MILKBOT_DATABASE_URL"}
    if database_url:
        env["MILKBOT_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "milkbot", "perf", "drill", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_short_outage_passes_every_goal(drill_home: Path) -> None:
    out = drill_home / "drill.json"
    done = drill(
        "--outage-s", "3", "--before-s", "2", "--after-s", "3", "--clients", "3",
        "--trades", "20000", "--mode", "kill", "--home", str(drill_home), "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    record = DrillRecord.model_validate_json(out.read_text())
    assert record.schema_version == 2 and record.mode == "kill" and record.trades == 20000
    assert record.passed, record.goals
    during = record.phases["during"]
    assert during.by_status.get("503 database_unavailable", 0) > 0
    assert during.server_errors == 0 and during.slowest_s <= 3
    assert record.phases["after"].requests > 0 and record.phases["after"].failed == 0
    assert record.unhealthy_after_s is not None and record.unhealthy_after_s <= 2
    assert record.healthy_after_s is not None and record.healthy_after_s <= 2
    assert (record.written, record.lost) == (5, 0)
    for shown in ("Requests by phase", "Recovery", "Goals", "PASS"):
        assert shown in done.stdout
    server_left = drill_home / "pgdata" / "postmaster.pid"
    assert not server_left.exists(), "the drill left its database running"


def test_the_drill_refuses_an_external_database(drill_home: Path) -> None:
    done = drill("--home", str(drill_home), database_url="postgresql://x@127.0.0.1:1/y")
    assert done.returncode == 3
    assert "unset MILKBOT_DATABASE_URL" in done.stderr


def test_a_bad_mode_is_refused_with_the_choices(drill_home: Path) -> None:
    done = drill("--mode", "gentle", "--home", str(drill_home))
    assert done.returncode == 2
    assert "fast, immediate, kill" in done.stderr


def _record(load: list[Sample], health: list[Sample], kept: int = 5) -> DrillRecord:
    opts = DrillOptions(home=Path("/nonexistent"), port=1, outage_s=3)
    timeline = Timeline(fault=10.0, restart=13.0, back=14.0)
    machine = Machine(cpu="test", cores=2, memory_gib=8.0, os="Linux")
    return judge(opts, load, health, timeline, 5, kept, machine, "PostgreSQL", _NOW)


_NOW = datetime(2026, 1, 1, tzinfo=UTC)
GOOD_HEALTH = [Sample(10.1, 10.2, 503, "unhealthy"), Sample(14.1, 14.2, 200, "")]
GOOD_LOAD = [
    Sample(9.0, 9.1, 200, ""),
    Sample(10.5, 10.6, 503, "database_unavailable"),
    Sample(14.5, 14.6, 200, ""),
]


def test_a_clean_run_passes() -> None:
    record = _record(GOOD_LOAD, GOOD_HEALTH)
    assert record.passed
    assert (record.unhealthy_after_s, record.healthy_after_s) == (0.2, 0.2)
    assert [p.requests for p in record.phases.values()] == [1, 1, 1]


@pytest.mark.parametrize(
    ("load", "health", "kept", "failed_goal"),
    [
        ([*GOOD_LOAD, Sample(11.0, 11.1, 500, "internal_error")], GOOD_HEALTH, 5, "no 500s"),
        ([*GOOD_LOAD, Sample(11.0, 15.0, 503, "x")], GOOD_HEALTH, 5, "during: every"),
        ([*GOOD_LOAD, Sample(11.0, 11.1, 0, "ReadTimeout")], GOOD_HEALTH, 5, "during: every"),
        ([*GOOD_LOAD, Sample(15.0, 15.1, 503, "x")], GOOD_HEALTH, 5, "after: no failed"),
        (GOOD_LOAD, [Sample(12.5, 12.6, 503, "unhealthy"), *GOOD_HEALTH[1:]], 5, "/health unh"),
        (GOOD_LOAD, [GOOD_HEALTH[0], Sample(16.5, 16.6, 200, "")], 5, "/health healthy"),
        (GOOD_LOAD, GOOD_HEALTH, 4, "nothing written"),
    ],
)
def test_each_goal_can_fail(
    load: list[Sample], health: list[Sample], kept: int, failed_goal: str
) -> None:
    record = _record(load, health, kept)
    assert not record.passed
    assert [g.name for g in record.goals if not g.passed] == [
        g.name for g in record.goals if g.name.startswith(failed_goal)
    ]

"""`pytest tests/performance/... --profile` says where it wrote each test's cProfile: the
performance conftest's profile fixture and summary, run by pytest in a process of its own on
two small tests (not the performance tests themselves, whose dataset is large)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

CONFTEST = """
from pathlib import Path

from tests.performance import conftest as perf
from tests.performance.conftest import profile_test, pytest_terminal_summary  # noqa: F401

# Here, not in the repository's tests/performance/results.
perf.RESULTS = Path(__file__).parent / "results"


def pytest_addoption(parser):
    parser.addoption("--profile", action="store_true", default=False)
"""

TESTS = """
def test_one():
    assert sum(range(1000)) == 499500


def test_two():
    assert sorted("profile") == list("efilopr")
"""


def test_profile_says_where_it_wrote_each_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    )
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_cpu=TESTS)
    quiet = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    quiet.assert_outcomes(passed=2)
    assert "cProfile" not in quiet.stdout.str()
    result = pytester.runpytest_subprocess("--profile", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    for name in ("test_one", "test_two"):
        path = pytester.path / "results" / f"profile_{name}.stats"
        assert path.stat().st_size > 0
        assert f"test_cpu.py::{name}: wrote {path}" in out, out
    assert "python -m pstats " in out

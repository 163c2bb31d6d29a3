"""The guide's prerequisites are `pip install pytest locust`: without the project's test extras,
the guide's pytest command stops with one line saying what to install, not a config error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# pytest as it runs where pytest-asyncio was never installed: the module cannot be found.
WITHOUT_ASYNCIO = """
import sys
sys.modules["pytest_asyncio"] = None  # import pytest_asyncio now raises ImportError
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_guide_pytest_without_the_test_extras_says_what_to_install() -> None:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_ASYNCIO, "tests/performance/test_query_performance.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 4, out
    assert "pip install -e '.[test]'" in out
    assert "Unknown config option" not in out
    assert len(out.splitlines()) == 1, out

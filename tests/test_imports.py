"""What importing a module loads: the locustfile runs in a gevent-patched process and must not
load psycopg or the analytics pool; ``milkbot.analytics`` imports its names on first use."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import milkbot.analytics

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "tests" / "performance" / "locustfile.py"
# Modules a load-test process must never hold.
FORBIDDEN = ("psycopg", "psycopg_pool", "milkbot.analytics.pool", "milkbot.analytics.service")


def milkbot_imports(path: Path) -> list[str]:
    """The ``milkbot`` modules (and packages' submodules) that ``path`` imports from."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("milkbot"):
            modules.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Import):
            modules += [f"import {a.name}" for a in node.names if a.name.startswith("milkbot")]
    return modules


def test_the_locustfile_imports_nothing_that_loads_the_pool() -> None:
    imports = milkbot_imports(LOCUSTFILE)
    assert any("milkbot.web import dashboard" in line for line in imports)
    assert any("milkbot.perf import contract" in line for line in imports)
    script = "\n".join(
        [
            "import sys",
            *imports,
            f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))",
        ]
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"the locustfile's imports load {done.stdout.strip()}"


def test_analytics_names_resolve_to_their_homes() -> None:
    homes = milkbot.analytics._HOMES
    for name in milkbot.analytics.__all__:
        home = importlib.import_module(f"milkbot.analytics.{homes[name]}")
        assert getattr(milkbot.analytics, name) is getattr(home, name), name


def test_the_type_checkers_view_of_analytics_matches_the_lazy_one() -> None:
    """The names imported under TYPE_CHECKING (what mypy sees) are those of ``_HOMES``, each
    from the same module (what runs)."""
    tree = ast.parse(Path(milkbot.analytics.__file__).read_text())
    static = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module
                for alias in statement.names:
                    static[alias.asname or alias.name] = statement.module.rsplit(".", 1)[1]
    assert static == milkbot.analytics._HOMES

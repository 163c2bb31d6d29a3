"""Helpers for tests that run Milkbot as a process and talk to it over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import time

from milkbot.perf.platform import http_status

__all__ = ["await_status", "free_port", "http_status"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def await_status(
    proc: subprocess.Popen[str], url: str, status: int = 200, timeout_s: float = 120.0
) -> None:
    """Poll ``url`` until it answers ``status``; fail with the process's output if the process
    ends or the deadline passes first."""
    deadline = time.monotonic() + timeout_s
    while http_status(url) != status:
        if proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}): {proc.communicate()[0]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer {status} within {timeout_s:g} s")
        time.sleep(0.2)  # readiness poll, bounded by the deadline

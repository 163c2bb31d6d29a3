"""The web server's process lifecycle, met as a user meets it: `milkbot serve` / `milkbot up`
as real processes on loopback ports. A port in use is refused in one line before anything
starts; host names resolve; the workers die with the main process, even a SIGKILLed one."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil
import pytest

from milkbot.cli.serve import StartError, resolve_host
from tests.net import free_port

START_TIMEOUT_S = 60


def _env(url: str | None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "MILKBOT_LOG_LEVEL": "WARNING", **extra}
    env.pop("MILKBOT_DATABASE_URL", None)
    if url:
        env["MILKBOT_DATABASE_URL"] = url
    return env


def _milkbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "milkbot", *args]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@dataclass
class Served:
    """A `milkbot serve` / `up` process and the temporary file that holds its output."""

    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> str:
        """Ctrl-C the server (SIGINT, as a terminal does), wait for it; its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.close()

    def close(self) -> str:
        """The output of the ended process; closes the file."""
        out = self.output()
        self.log.close()
        return out


def start_serve(
    url: str | None,
    port: int,
    command: Sequence[str] = ("serve",),
    extra_env: dict[str, str] | None = None,
) -> Served:
    """``milkbot <command> --port <port>`` on database ``url``, returned once it answers
    /api/v1/ping."""
    served = Served(
        subprocess.Popen(
            _milkbot(*command, "--port", str(port)),
            env=_env(url, **(extra_env or {})),
            # Closed by Served.close(): the file outlives this function.
            stdout=(log := tempfile.TemporaryFile()),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        ),
        log,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            pytest.fail(
                f"milkbot {' '.join(command)} exited {served.proc.returncode}:\n{served.close()}"
            )
        if _status(f"http://127.0.0.1:{port}/api/v1/ping") == 200:
            return served
        time.sleep(0.1)  # readiness poll of a starting process, bounded by the deadline
    out = served.stop()
    pytest.fail(f"milkbot {' '.join(command)} did not answer within {START_TIMEOUT_S} s:\n{out}")


def _serving_processes(port: int) -> list[psutil.Process]:
    """Live (not zombie) milkbot processes started with ``--port <port>``: a main process and
    its forked workers share that command line."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = p.info["cmdline"] or []
        ours = "milkbot" in cmd and "--port" in cmd and str(port) in cmd
        if ours and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p)
    return found


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _refused(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done


@pytest.fixture
def plain_listener() -> Iterator[socket.socket]:
    """A port held by some other program: a plain listening socket, no SO_REUSEPORT."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def _still_answers(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        accepted, _ = listener.accept()
        accepted.sendall(b"mine")
        assert client.recv(4) == b"mine"
        accepted.close()


def test_serve_refuses_a_port_another_program_holds(
    db_url: str, plain_listener: socket.socket
) -> None:
    port = plain_listener.getsockname()[1]
    done = _refused(_milkbot("serve", "--port", str(port)), _env(db_url))
    assert f"127.0.0.1:{port} is already in use" in done.stderr
    assert "--port / MILKBOT_PORT" in done.stderr
    assert _serving_processes(port) == []
    _still_answers(plain_listener)


def test_serve_refuses_a_port_another_serve_holds_and_the_first_keeps_it(db_url: str) -> None:
    port = free_port()
    first = start_serve(db_url, port)
    try:
        before = {p.pid for p in _serving_processes(port)}
        done = _refused(_milkbot("serve", "--port", str(port)), _env(db_url))
        assert f"127.0.0.1:{port} is already in use" in done.stderr
        # Nothing new on the port: only the first server's main process and its worker.
        assert {p.pid for p in _serving_processes(port)} == before
        assert len(before) == 2
        # Every connection reaches the first server (no second socket shares the port).
        for _ in range(20):
            assert _status(f"http://127.0.0.1:{port}/api/v1/ping") == 200
        listeners = [
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        ]
        assert listeners and set(listeners) <= before, listeners
    finally:
        out = first.stop()
    assert first.proc.returncode == 0, out
    assert "Traceback" not in out


def test_a_refused_start_leaves_no_embedded_database(plain_listener: socket.socket) -> None:
    """With the embedded server (its own home): the port check comes before the database, so
    a refused start creates and starts nothing."""
    port = plain_listener.getsockname()[1]
    home = Path(f"/tmp/wt-procs-{uuid.uuid4().hex[:8]}")
    try:
        env = _env(None, MILKBOT_HOME=str(home))
        done = _refused(_milkbot("up", "--no-simulator", "--port", str(port)), env)
        assert "is already in use" in done.stderr
        done = _refused(_milkbot("serve", "--host", "nosuch.invalid", "--port", "1"), env)
        assert "MILKBOT_HOST='nosuch.invalid'" in done.stderr
        assert not (home / "pgdata").exists()
        assert not any(
            str(home) in " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize(
    "command",
    [("serve", "--workers", "2"), ("up", "--no-simulator")],
    ids=["serve-2-workers", "up"],
)
def test_sigkill_of_the_main_process_leaves_nothing_on_the_port(
    db_url: str, command: tuple[str, ...]
) -> None:
    port = free_port()
    served = start_serve(db_url, port, command, {"MILKBOT_DEMO_TRADES": "1000"})
    workers = psutil.Process(served.proc.pid).children()
    assert len(workers) == (2 if "--workers" in command else 1)
    served.proc.kill()
    served.proc.wait(timeout=10)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (_accepts(port) or _serving_processes(port)):
            time.sleep(0.1)  # polling the workers' exit, bounded by the deadline
        out = served.close()
        assert not _accepts(port), f"something still answers on {port}"
        assert _serving_processes(port) == [], out
        assert "Traceback" not in out
    finally:
        for orphan in _serving_processes(port):  # only when the test fails
            orphan.kill()


# A multiprocessing parent that dies right after starting its child: the child only then calls
# exit_with_parent, too late for the kernel's signal, and must notice it was orphaned.
ORPHAN_SCRIPT = """
import multiprocessing, os, sys, time
from milkbot.web.app import exit_with_parent

def child(parent_pid, marker):
    deadline = time.monotonic() + 20
    while os.getppid() == parent_pid and time.monotonic() < deadline:
        time.sleep(0.01)
    exit_with_parent()
    open(marker, "w").write("survived")

if __name__ == "__main__":
    worker = multiprocessing.get_context("fork").Process(
        target=child, args=(os.getpid(), sys.argv[1])
    )
    worker.start()
    print(worker.pid, flush=True)
    os._exit(0)
"""


def test_a_worker_whose_parent_died_before_it_started_exits(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    done = subprocess.run(
        [sys.executable, "-c", ORPHAN_SCRIPT, str(marker)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)  # polling the orphan's exit, bounded by the deadline
    assert not _alive(pid)
    assert not marker.exists(), "the orphaned worker carried on"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_stops_up_and_its_simulator_cleanly(db_url: str) -> None:
    """SIGTERM (a service manager's stop) ends `milkbot up`, simulator thread included, with
    exit code 0, no traceback and no process left."""
    port = free_port()
    env = {"MILKBOT_DEMO_TRADES": "1000", "MILKBOT_SIMULATOR_INTERVAL": "0.2"}
    served = start_serve(db_url, port, ("up", "--simulator"), env)
    served.proc.send_signal(signal.SIGTERM)
    served.proc.wait(timeout=30)
    out = served.close()
    assert served.proc.returncode == 0, out
    assert "Traceback" not in out
    assert not _accepts(port)
    assert _serving_processes(port) == []


def test_localhost_serves_on_127_0_0_1(db_url: str) -> None:
    port = free_port()
    served = start_serve(db_url, port, ("serve", "--host", "localhost"))
    out = served.stop()
    assert f"serving on http://127.0.0.1:{port}" in out
    assert served.proc.returncode == 0, out


def test_unresolvable_host_is_one_line_naming_the_setting(db_url: str) -> None:
    env = _env(db_url, MILKBOT_HOST="nosuch.invalid")
    done = _refused(_milkbot("serve", "--port", str(free_port())), env)
    assert "MILKBOT_HOST='nosuch.invalid'" in done.stderr
    assert "does not resolve" in done.stderr


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("localhost", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("::1", "::1"),
    ],
)
def test_resolve_host_gives_an_address_granian_accepts(host: str, address: str) -> None:
    assert resolve_host(host, 8501) == address


def test_resolve_host_rejects_a_name_that_does_not_resolve() -> None:
    with pytest.raises(StartError, match=r"MILKBOT_HOST='no such host' \(--host\)"):
        resolve_host("no such host", 8501)

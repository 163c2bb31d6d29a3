"""`generate-data --reset` against a database a server is reading: the load locks its tables up
front, never deadlocks with readers, never waits forever, and readers never see a 500."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from milkbot.generator import GeneratorError, _Run, generate_dataset, loader
from milkbot.generator.plan import make_plan
from tests.test_serve_lifecycle import free_port, start_serve

RESET_ARGS = ("--trades", "20000", "--seed", "2")
# Pages and API routes that read the tables a reset rewrites.
READ_PATHS = (
    "/cities",
    "/",
    "/api/v1/metrics/cities",
    "/api/v1/metrics/strategies",
    "/api/v1/summary",
    "/api/v1/equity",
    "/api/v1/trades/public",
)


def _locked_tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(loader.LOCK_TABLES_SQL).fetchall()
    return {f"{schema}.{name}" for schema, name in rows}


def _tables_locked_by(conn: psycopg.Connection, pid: int, strong_only: bool) -> set[str]:
    rows = conn.execute(
        """
        SELECT n.nspname || '.' || c.relname FROM pg_locks l
        JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE l.pid = %s AND l.locktype = 'relation' AND l.granted AND c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND (NOT %s OR l.mode <> 'AccessShareLock')
        """,
        [pid, strong_only],
    ).fetchall()
    return {name for (name,) in rows}


def test_lock_tables_covers_every_table_the_load_locks(db_url: str) -> None:
    """Every table the whole load transaction locks, in any mode a reader could conflict with,
    is among those lock_tables takes: after it, the load never waits for a reader, so no lock
    order can close a cycle with one."""
    generate_dataset(db_url, trades=500, seed=3)  # something to reset
    with psycopg.connect(db_url) as conn:
        pid = conn.info.backend_pid
        loader.lock_tables(conn)
        up_front = _tables_locked_by(conn, pid, strong_only=True)
        conn.rollback()
        with conn.transaction():
            plan = make_plan(trades=500, days=None, seed=4, end_date=None, now=None)
            _Run(plan, lambda phase, done, total: None).load(conn, reset=True)
            taken = _tables_locked_by(conn, pid, strong_only=True)
    assert "ops.positions" in taken and "ops.cities" in taken  # the load does lock them
    assert taken <= up_front, f"locked only later: {sorted(taken - up_front)}"


def _waiting_backend(conn: psycopg.Connection, other_than: int) -> int | None:
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s"
        " AND wait_event_type = 'Lock'",
        [other_than],
    ).fetchone()
    return int(row[0]) if row else None


def test_a_reader_asking_for_a_second_table_during_a_reset_deadlocks_with_nobody(
    db_url: str,
) -> None:
    """The deadlock of the issue, made deterministic: a reader holds ops.trades (in a
    transaction, as a slow statement would), the reset starts and waits for it, then the
    reader asks for ops.markets and analytics.pnl_daily. Taking locks one by one, the reset
    held ops.markets by then and one of the two was cancelled by the deadlock detector; now
    the reader gets its rows and, once it ends, the reset succeeds."""
    generate_dataset(db_url, trades=500, seed=3)
    outcome: list[BaseException | None] = []

    def reset() -> None:
        try:
            generate_dataset(db_url, trades=500, seed=5, reset=True)
            outcome.append(None)
        except BaseException as exc:  # reported by the assertion below
            outcome.append(exc)

    # pg_stat_activity is a snapshot per transaction: watch it from a connection of its own.
    with psycopg.connect(db_url) as reader, psycopg.connect(db_url, autocommit=True) as watch:
        reader.execute("SELECT count(*) FROM ops.trades")
        loading = threading.Thread(target=reset)
        loading.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _waiting_backend(watch, watch.info.backend_pid):
            time.sleep(0.01)  # polling pg_stat_activity, bounded by the deadline
        assert _waiting_backend(watch, watch.info.backend_pid), "the reset never waited"
        row = reader.execute(
            "SELECT (SELECT count(*) FROM ops.markets), (SELECT count(*) FROM analytics.pnl_daily)"
        ).fetchone()
        assert row is not None and row[0] > 0
        reader.commit()
    loading.join(60)
    assert outcome == [None], outcome


@contextmanager
def _reader_holding(db_url: str, table: str) -> Iterator[psycopg.Connection]:
    """A session in an open transaction that has read ``table`` (ACCESS SHARE held)."""
    with psycopg.connect(db_url) as reader:
        schema, name = table.split(".")
        reader.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(schema, name)))
        yield reader
        reader.rollback()


def test_lock_tables_gives_up_after_its_deadline_and_keeps_no_partial_lock(db_url: str) -> None:
    """A reader that never lets go of ops.trades: the loader retries, then stops with a clear
    error within its deadline, holding none of the locks it got meanwhile."""
    with _reader_holding(db_url, "ops.trades") as reader, psycopg.connect(db_url) as conn:
        started = time.monotonic()
        with pytest.raises(GeneratorError, match="could not lock the tables") as info:
            loader.lock_tables(conn, deadline_s=1.5)
        elapsed = time.monotonic() - started
        assert 1.5 <= elapsed < 10, elapsed
        assert "attempts" in str(info.value)
        # Still inside the loader's (failed) transaction: every attempt was rolled back.
        held = _tables_locked_by(reader, conn.info.backend_pid, strong_only=True)
        assert held == set()
        conn.rollback()


def test_lock_tables_waits_for_a_reader_then_takes_every_table(db_url: str) -> None:
    """A reader holding an analytics table in a transaction delays the loader, which gets
    all its locks once the reader commits (no error, nothing left waiting)."""
    with psycopg.connect(db_url) as conn:
        with _reader_holding(db_url, "analytics.pnl_daily") as reader:
            result: list[int | BaseException] = []

            def lock() -> None:
                try:
                    result.append(loader.lock_tables(conn, deadline_s=30))
                except BaseException as exc:  # reported by the assertion below
                    result.append(exc)

            worker = threading.Thread(target=lock)
            worker.start()
            deadline = time.monotonic() + 10
            seen_waiting = False
            while time.monotonic() < deadline and not seen_waiting:
                row = reader.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted",
                    [conn.info.backend_pid],
                ).fetchone()
                seen_waiting = bool(row and row[0])
                time.sleep(0.02)  # polling pg_locks, bounded by the deadline
            assert seen_waiting, "the loader never waited for the reader"
        worker.join(30)  # the reader has rolled back: its locks are free
        assert len(result) == 1 and isinstance(result[0], int), result
        with psycopg.connect(db_url, autocommit=True) as other:
            held = _tables_locked_by(other, conn.info.backend_pid, strong_only=True)
        assert held == _locked_tables(conn)
        conn.rollback()


def _hammer(base: str, stop_at: threading.Event, statuses: Counter[int], errors: list[str]) -> None:
    i = 0
    while not stop_at.is_set():
        path = READ_PATHS[i % len(READ_PATHS)]
        i += 1
        try:
            with urllib.request.urlopen(base + path, timeout=30) as resp:
                resp.read()
                statuses[resp.status] += 1
        except urllib.error.HTTPError as exc:
            statuses[exc.code] += 1
            if exc.code >= 500 and exc.code != 503:
                errors.append(f"{path}: {exc.code} {exc.read()[:300]!r}")
        except OSError as exc:
            errors.append(f"{path}: {exc}")


def test_reset_while_a_server_reads_gives_readers_no_500(
    make_database: Callable[[], str],
) -> None:
    """`milkbot serve` on a database, three threads reading pages and API routes without a
    cache, and `milkbot generate-data --reset --yes --trades 20000` as a process: the reset
    succeeds and every answer is a 200 (or a 503 for a reader that waited too long)."""
    url = make_database()
    generate_dataset(url, trades=3000, seed=1)
    port = free_port()
    env = {"MILKBOT_CACHE_TTL": "0", "MILKBOT_POOL_SIZE": "4", "MILKBOT_MAX_OVERFLOW": "4"}
    server = start_serve(url, port, extra_env=env)
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    done = threading.Event()
    readers = [
        threading.Thread(target=_hammer, args=(f"http://127.0.0.1:{port}", done, statuses, errors))
        for _ in range(3)
    ]
    try:
        for reader in readers:
            reader.start()
        reset = subprocess.run(
            [sys.executable, "-m", "milkbot", "generate-data", "--reset", "--yes", *RESET_ARGS],
            env={**os.environ, "MILKBOT_DATABASE_URL": url, "MILKBOT_LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        during = sum(statuses.values())
    finally:
        done.set()
        for reader in readers:
            reader.join(60)
        server.stop()
    assert reset.returncode == 0, reset.stderr
    assert errors == [], errors[:5]
    assert set(statuses) <= {200, 503}, statuses
    assert during >= 20, f"too few reads overlapped the reset: {statuses}"
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ops.trades").fetchone()
    assert row is not None and 19_000 <= row[0] <= 21_000

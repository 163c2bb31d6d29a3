"""Slow-query analysis from ``pg_stat_statements``, with the column names of the server's version.

The guide's SQL uses ``total_time`` / ``mean_time`` / ``max_time``: those columns were renamed
``total_exec_time`` / ``mean_exec_time`` / ``max_exec_time`` in PostgreSQL 13, so the guide's query
fails on 13 and later. :func:`read_slow_queries` picks the right names for the server it talks to.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

ENABLE_HELP = (
    "To enable it: add pg_stat_statements to shared_preload_libraries (as a superuser: "
    "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; or edit postgresql.conf), "
    "restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in this database. "
    "The embedded server (MILKBOT_DATABASE_URL unset) does all of this itself."
)


class StatsUnavailable(RuntimeError):
    """pg_stat_statements cannot be read here; the message says exactly how to enable it."""


@dataclass(frozen=True, slots=True)
class SlowQuery:
    """One normalised statement's totals since the last reset (times in ms)."""

    query: str
    calls: int
    total_ms: float
    mean_ms: float
    max_ms: float
    rows: int


def timing_columns(server_version_num: int) -> tuple[str, str, str]:
    """(total, mean, max) column names of pg_stat_statements for a server version number."""
    if server_version_num >= 130000:
        return ("total_exec_time", "mean_exec_time", "max_exec_time")
    return ("total_time", "mean_time", "max_time")


def _check_available(conn: psycopg.Connection) -> None:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'),"
        " current_setting('shared_preload_libraries') ~ 'pg_stat_statements'"
    ).fetchone()
    assert row is not None
    created, preloaded = bool(row[0]), bool(row[1])
    if not preloaded:
        raise StatsUnavailable(
            "pg_stat_statements is not in shared_preload_libraries on this server. " + ENABLE_HELP
        )
    if not created:
        raise StatsUnavailable(
            "the pg_stat_statements extension is not created in this database. " + ENABLE_HELP
        )


def read_slow_queries(
    conn: psycopg.Connection, limit: int = 20, min_mean_ms: float = 0.0
) -> list[SlowQuery]:
    """Top ``limit`` statements by mean execution time (ms) in the current database."""
    _check_available(conn)
    version = conn.info.server_version
    total, mean, maximum = timing_columns(version)
    query = sql.SQL(
        """
        SELECT s.query, s.calls, s.{total}, s.{mean}, s.{max}, s.rows
        FROM pg_stat_statements s
        JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() AND s.{mean} >= %s
        ORDER BY s.{mean} DESC
        LIMIT %s
        """
    ).format(total=sql.Identifier(total), mean=sql.Identifier(mean), max=sql.Identifier(maximum))
    return [
        SlowQuery(str(q), int(c), float(t), float(m), float(x), int(r))
        for q, c, t, m, x, r in conn.execute(query, [min_mean_ms, limit])
    ]


def reset_statistics(conn: psycopg.Connection) -> None:
    """Forget collected statement statistics (needs the right to run pg_stat_statements_reset)."""
    _check_available(conn)
    conn.execute("SELECT pg_stat_statements_reset()")

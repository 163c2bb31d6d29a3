"""What the application role needs for the performance guide's own SQL, and nothing more.

The guide (PERFORMANCE_TESTING.md) has its reader, connected as ``milkbot``, turn on slow-query
logging (``ALTER SYSTEM SET log_min_duration_statement = 100; SELECT pg_reload_conf();``) and read
``pg_stat_statements`` by the column names it had before PostgreSQL 13 (``total_time``,
``mean_time``, ``max_time``). Rather than make the role a superuser, :func:`grant_guide_privileges`
grants exactly those rights (PostgreSQL 15+ grants ALTER SYSTEM per parameter) and puts a view
``<role>.pg_stat_statements`` with the old column names beside the new ones in the role's own
schema, which the default ``search_path`` ("$user", public) finds first.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# The parameters the guide sets with ALTER SYSTEM.
GUIDE_PARAMETERS = ("log_min_duration_statement",)

# Old (PostgreSQL <= 12) names of the timing columns, from their current ones.
_OLD_NAMES = {
    "total_exec_time": "total_time",
    "mean_exec_time": "mean_time",
    "min_exec_time": "min_time",
    "max_exec_time": "max_time",
    "stddev_exec_time": "stddev_time",
}


def grant_guide_privileges(conn: psycopg.Connection[Any], role: str) -> list[str]:
    """Grant ``role`` what the guide's SQL needs, on the server and database of ``conn`` (a
    superuser's autocommit connection to the application database): reading statistics
    (pg_monitor), resetting pg_stat_statements, ``pg_reload_conf()``, ``ALTER SYSTEM`` on
    :data:`GUIDE_PARAMETERS`, and the compatibility view. Idempotent; returns what it did."""
    who = sql.Identifier(role)
    done: list[str] = []
    conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(who))
    done.append("pg_monitor")
    conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {}").format(who))
    done.append("pg_reload_conf()")
    version = conn.info.server_version
    if version >= 150000:
        for name in GUIDE_PARAMETERS:
            conn.execute(
                sql.SQL("GRANT ALTER SYSTEM ON PARAMETER {} TO {}").format(
                    sql.Identifier(name), who
                )
            )
            done.append(f"ALTER SYSTEM {name}")
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone():
        conn.execute(
            sql.SQL("GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO {}").format(who)
        )
        if version >= 130000:
            _compat_view(conn, role)
            done.append(f"view {role}.pg_stat_statements")
    return done


def _compat_view(conn: psycopg.Connection[Any], role: str) -> None:
    """``<role>.pg_stat_statements``: every column of the real view plus the old timing names,
    owned by ``role`` (so it shows what the role may see). Rebuilt each time: the extension's
    columns change between versions."""
    schema = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_stat_statements'"
    ).fetchone()
    assert schema is not None
    columns = [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = format('%%I.pg_stat_statements', %s::text)::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [schema[0]],
        ).fetchall()
    ]
    extra = [
        sql.SQL("{} AS {}").format(sql.Identifier(new), sql.Identifier(old))
        for new, old in _OLD_NAMES.items()
        if new in columns and old not in columns
    ]
    source = sql.Identifier(schema[0], "pg_stat_statements")
    view = sql.Identifier(role, "pg_stat_statements")
    with conn.transaction():
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                sql.Identifier(role), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
        conn.execute(
            sql.SQL("CREATE VIEW {} AS SELECT {} FROM {}").format(
                view, sql.SQL(", ").join([sql.SQL("*"), *extra]), source
            )
        )
        conn.execute(sql.SQL("ALTER VIEW {} OWNER TO {}").format(view, sql.Identifier(role)))

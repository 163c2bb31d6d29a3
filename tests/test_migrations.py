"""Migrations apply in order, once, and idempotently; the aggregate triggers they create keep
every derived table equal to a rebuild from the raw rows, whatever the statement."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from milkbot.db.migrate import apply_migrations, list_migrations, read_status
from milkbot.generator import generate_dataset
from milkbot.generator.blocks import SIGNAL_COLUMNS
from tests.conftest import database_url, drop_database

# Every derived table: ops.positions and the analytics tables with data (the settings tables
# analytics.freshness and analytics.disclosure aside), found in the catalog so that tables a
# later migration adds are covered too. Rows are ordered by each table's primary key.
DERIVED_TABLES = """
SELECT n.nspname, c.relname,
       array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) AS key
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE c.relkind = 'r' AND (n.nspname = 'analytics' OR (n.nspname, c.relname) = ('ops', 'positions'))
  AND c.relname NOT IN ('freshness', 'disclosure')
GROUP BY n.nspname, c.relname
ORDER BY 1, 2
"""
SNAPSHOT = sql.SQL("SELECT * FROM {} ORDER BY {}")


def derived_snapshot(conn: psycopg.Connection[Any]) -> dict[str, list[dict[str, Any]]]:
    """Every derived table's rows in key order, without their ``updated_at`` times."""
    out = {}
    for schema, table, key in conn.execute(DERIVED_TABLES).fetchall():
        query = SNAPSHOT.format(
            sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, key))
        )
        rows = list(conn.cursor(row_factory=dict_row).execute(query).fetchall())
        for r in rows:
            r.pop("updated_at", None)
        out[f"{schema}.{table}"] = rows
    return out


def _same(a: object, b: object) -> bool:
    # Float sums may differ in the last bits with the order of summation.
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def assert_same_rows(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> None:
    """Two snapshots hold the same rows, every table non-empty."""
    assert set(before) >= {"analytics.pnl_daily", "analytics.signal_daily", "ops.positions"}
    assert before.keys() == after.keys()
    for table in before:
        assert len(before[table]) == len(after[table]) > 0, table
        for old, new in zip(before[table], after[table], strict=True):
            assert old.keys() == new.keys()
            assert all(_same(old[k], new[k]) for k in old), (table, old, new)


def assert_aggregates_equal_a_rebuild(conn: psycopg.Connection[Any]) -> None:
    """Every derived table equals what ``analytics.rebuild_aggregates()`` makes of the raw rows
    (run in a transaction that is rolled back)."""
    with conn.transaction(force_rollback=True):
        before = derived_snapshot(conn)
        conn.execute("SELECT analytics.rebuild_aggregates()")
        after = derived_snapshot(conn)
    assert_same_rows(before, after)


def _fresh_empty_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def test_migrate_from_empty_then_rerun(server_url: str) -> None:
    name = "milkbot_t_migrate_empty"
    drop_database(server_url, name)
    url = _fresh_empty_database(server_url, name)
    try:
        ran = apply_migrations(url)
        assert [m.version for m in ran] == [m.version for m in list_migrations()]
        assert apply_migrations(url) == []  # re-run applies nothing
        with psycopg.connect(url) as conn:
            states = read_status(conn)
            assert all(s.applied_at is not None and s.checksum_matches for s in states)
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables"
                    " WHERE table_schema IN ('ops', 'analytics')"
                )
            }
            cities = conn.execute("SELECT count(*) FROM ops.cities").fetchone()
    finally:
        drop_database(server_url, name)
    for table in (
        "ops.cities",
        "ops.strategies",
        "ops.markets",
        "ops.signals",
        "ops.orders",
        "ops.trades",
        "ops.positions",
        "ops.heartbeats",
        "ops.component_health",
        "analytics.pnl_daily",
        "analytics.pnl_by_day",
        "analytics.public_trades",
    ):
        assert table in tables
    assert cities == (10,)


def test_guide_sql_runs_as_written(conn: psycopg.Connection) -> None:
    # The guide's own statements (PERFORMANCE_TESTING.md) against this schema: each raises if a
    # table or column it names is missing.
    plan = conn.execute(
        "EXPLAIN ANALYZE SELECT * FROM ops.trades WHERE created_at >= NOW() - INTERVAL '30 days'"
    ).fetchall()
    assert any("trades" in line for (line,) in plan)
    plan = conn.execute(
        "EXPLAIN ANALYZE SELECT * FROM ops.trades WHERE city_code = 'NYC'"
    ).fetchall()
    assert any("Execution Time" in line for (line,) in plan)
    joined = conn.execute(
        "SELECT t.*, m.ticker FROM ops.trades t INNER JOIN ops.markets m ON t.market_id = m.id"
    )
    assert joined.description is not None
    assert {"city_code", "created_at", "ticker", "price", "market_id"} <= {
        c.name for c in joined.description
    }
    conn.execute(
        "CREATE INDEX IF NOT EXISTS idx_trades_cover ON ops.trades(city_code, created_at, ticker, price)"
    )
    conn.execute("ANALYZE ops.trades")
    conn.execute("VACUUM ANALYZE ops.trades")
    assert conn.execute("SELECT to_regclass('ops.idx_trades_cover')").fetchone() != (None,)


def test_status_reports_pending_on_a_blank_database(server_url: str) -> None:
    name = "milkbot_t_migrate_status"
    drop_database(server_url, name)
    url = _fresh_empty_database(server_url, name)
    try:
        with psycopg.connect(url) as conn:
            states = read_status(conn)
    finally:
        drop_database(server_url, name)
    assert states and all(s.applied_at is None for s in states)


def _generate_small(url: str) -> None:
    generate_dataset(
        url,
        trades=2000,
        days=20,
        seed=11,
        end_date=date(2026, 3, 9),
        now=datetime(2026, 3, 9, 17, 30, tzinfo=UTC),
    )


def _move_out_and_back(table: str, where: str, columns: tuple[str, ...] = ()) -> list[sql.Composed]:
    """DELETE the rows ``where`` selects, then INSERT them again (``columns``: all but the
    generated ones, when the table has any): the triggers subtract them and add them back, so
    the aggregates end as they were (a DELETE path that added, or did nothing, would leave
    them doubled)."""
    ident, saved = sql.Identifier(*table.split(".")), sql.Identifier("saved_" + table.split(".")[1])
    names = sql.SQL(", ").join(map(sql.Identifier, columns)) if columns else sql.SQL("*")
    condition = sql.SQL(where)  # a constant of this module
    into = sql.SQL("{} ({})").format(ident, names) if columns else ident
    return [
        sql.SQL("CREATE TEMP TABLE {} AS SELECT {} FROM {} WHERE {}").format(
            saved, names, ident, condition
        ),
        sql.SQL("DELETE FROM {} WHERE {}").format(ident, condition),
        sql.SQL("INSERT INTO {} SELECT {} FROM {}").format(into, names, saved),
    ]


# Each trigger path of 0002 and 0003, as 0005 re-created their functions: trades updated
# (trade_delta_sql; pnl_daily's INSERT ... ON CONFLICT fires the roll-ups' UPDATE path),
# trades and signals deleted and inserted, pnl_daily and signal_daily rows deleted and inserted
# (the roll-ups' DELETE and INSERT paths). The rebuild each check runs is the TRUNCATE path.
TRIGGER_PATHS: dict[str, list[sql.Composable]] = {
    "trades updated": [sql.SQL("UPDATE ops.trades SET fee_cents = fee_cents + 1 WHERE id % 7 = 0")],
    "trades deleted and inserted": _move_out_and_back("ops.trades", "id % 5 = 0"),
    "signals deleted and inserted": _move_out_and_back("ops.signals", "id % 3 = 0", SIGNAL_COLUMNS),
    "pnl_daily rows deleted and inserted": _move_out_and_back(
        "analytics.pnl_daily", "strategy_id % 2 = 0"
    ),
    "signal_daily rows deleted and inserted": _move_out_and_back(
        "analytics.signal_daily", "bucket % 2 = 0"
    ),
}


def test_every_trigger_path_keeps_the_aggregates_equal_to_a_rebuild(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    _generate_small(url)
    with psycopg.connect(url) as conn:
        assert_aggregates_equal_a_rebuild(conn)
        for path, statements in TRIGGER_PATHS.items():
            before = derived_snapshot(conn)
            for statement in statements:
                conn.execute(statement)
            conn.commit()
            if path != "trades updated":
                assert_same_rows(before, derived_snapshot(conn))
            assert_aggregates_equal_a_rebuild(conn)


def test_changed_rows_sql_refuses_an_operation_without_transition_tables(
    conn: psycopg.Connection,
) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match="no changed rows for TRUNCATE"):
        conn.execute("SELECT analytics.changed_rows_sql('TRUNCATE')")


FUNCTIONS = """
SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p
WHERE p.pronamespace::regnamespace::text IN ('ops', 'analytics') ORDER BY 1
"""
TRIGGERS = """
SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
WHERE NOT tgisinternal ORDER BY 1, 2
"""


def test_every_migration_runs_again_without_changing_anything(
    make_database: Callable[[], str],
) -> None:
    """Each migration is idempotent: run again, in order, over a database holding data, it
    leaves the functions, triggers and every derived table as they were."""
    url = make_database()
    _generate_small(url)
    with psycopg.connect(url) as conn:
        functions, triggers = conn.execute(FUNCTIONS).fetchall(), conn.execute(TRIGGERS).fetchall()
        before = derived_snapshot(conn)
        for migration in list_migrations():
            with conn.transaction():
                conn.execute(migration.sql.encode())
        conn.commit()
        assert conn.execute(FUNCTIONS).fetchall() == functions
        assert conn.execute(TRIGGERS).fetchall() == triggers
        assert_same_rows(before, derived_snapshot(conn))

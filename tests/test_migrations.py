"""Migrations apply in order, once, and idempotently; the aggregate triggers they create keep
every derived table equal to a rebuild from the raw rows, whatever the statement; and data
written under 0005 migrates to accounts and exact units with every analytics figure kept."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from milkbot.analytics import (
    Window,
    read_calibration,
    read_city_metrics,
    read_equity_curve,
    read_strategy_metrics,
)
from milkbot.db.migrate import apply_migrations, list_migrations, read_status
from milkbot.generator import generate_dataset
from milkbot.generator.blocks import SIGNAL_COLUMNS, TRADE_COLUMNS
from tests.conftest import database_url, drop_database
from tests.legacy_data import load_v0005, v0005_figures

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
    "trades updated": [
        sql.SQL("UPDATE ops.trades SET trade_fee_micros = trade_fee_micros + 100 WHERE id % 7 = 0")
    ],
    "trades deleted and inserted": _move_out_and_back("ops.trades", "id % 5 = 0", TRADE_COLUMNS),
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


# The migrations whose files re-create their functions and triggers and guard their
# structural part: 0006 and later. 0001-0005 were re-runnable too until 0006 renamed and
# retyped their columns: their CREATE TABLE IF NOT EXISTS still passes, but their functions
# and views name the old columns (fee_cents, quantity...), so running one of them again over a
# 0006 database fails or puts back a pre-0006 trigger. Only a migration's latest version of
# each function counts, and the newest files hold those.
REPEATABLE_FROM = 6


def test_migrations_from_0006_run_again_without_changing_anything(
    make_database: Callable[[], str],
) -> None:
    """0006 and every later migration are idempotent: run again, in order, over a database
    holding data, they leave the functions, triggers and every derived table as they were.
    (This replaces the check that re-ran every migration from 0001, which cannot hold once 0006
    renames the columns that 0001-0005's functions name.)"""
    url = make_database()
    _generate_small(url)
    again = [m for m in list_migrations() if m.version >= REPEATABLE_FROM]
    assert [m.version for m in again][:2] == [6, 7]
    with psycopg.connect(url) as conn:
        functions, triggers = conn.execute(FUNCTIONS).fetchall(), conn.execute(TRIGGERS).fetchall()
        before = derived_snapshot(conn)
        accounts = conn.execute("SELECT * FROM ops.accounts ORDER BY id").fetchall()
        for migration in again:
            with conn.transaction():
                conn.execute(migration.sql.encode())
        conn.commit()
        assert conn.execute(FUNCTIONS).fetchall() == functions
        assert conn.execute(TRIGGERS).fetchall() == triggers
        assert conn.execute("SELECT * FROM ops.accounts ORDER BY id").fetchall() == accounts
        assert_same_rows(before, derived_snapshot(conn))


# --- data written under 0005, migrated -------------------------------------------------------

# The windows and strategies the 0005 figures were computed for (how: tests/legacy_data.py).
V0005_WINDOWS = [
    Window(date(2026, 10, 22), date(2026, 11, 20)),
    Window(date(2026, 11, 14), date(2026, 11, 21)),
    Window(date(2020, 1, 1), date(2027, 1, 1)),
    Window(date(2026, 3, 1), date(2026, 3, 31)),
]
V0005_STRATEGIES = ["daily_high_temp", "ensemble", "mean_reversion", "nowcast"]
# The 0005 code's ratios and the new code's, both float arithmetic on the same integers (cents
# then, micros now): equal to the last bits or nearly.
RATIO_TOL = 1e-12
# An average of money (avg_net_pnl, expectancy) was a float of cents; it is now dollars
# rounded to the micro, within half a micro (0.00005 cents) of the exact value.
HALF_MICRO_IN_CENTS = Decimal("0.00005")
# Figures the migrated results add: which account, and its transfers (none before 0006).
NEW_FIELDS = {"account", "transfers_dollars"}


async def _figures_now(url: str) -> dict[str, Any]:
    """The same figures as the 0005 capture, by the new code, for account ``default``."""
    res: dict[str, Any] = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for w in V0005_WINDOWS:
            k = f"{w.start}..{w.end}"
            res[f"city {k}"] = (await read_city_metrics(conn, w, account="default")).to_dict()
            for s in V0005_STRATEGIES:
                report = await read_city_metrics(conn, w, s, account="default")
                res[f"city {k} {s}"] = report.to_dict()
                bins = await read_calibration(conn, w, s, account="default")
                res[f"calibration {k} {s}"] = [b.to_dict() for b in bins]
            res[f"equity {k}"] = (await read_equity_curve(conn, w, account="default")).to_dict()
            res[f"strategy {k}"] = (
                await read_strategy_metrics(conn, w, account="default")
            ).to_dict()
            bins = await read_calibration(conn, w, account="default")
            res[f"calibration {k}"] = [b.to_dict() for b in bins]
    return res


def assert_same_figure(path: str, old: Any, new: Any) -> int:
    """``new`` (a migrated result, JSON form) says what ``old`` (0005's) said: cents as exact
    dollars, whole contracts as contracts, ratios within RATIO_TOL; returns the number of
    leaf figures compared."""
    if isinstance(old, dict):
        assert isinstance(new, dict), path
        compared = 0
        renamed = {}
        for key in old:
            if key.endswith("_cents"):
                renamed[key] = key.removesuffix("_cents") + "_dollars"
            else:
                renamed[key] = key
        assert set(new) - NEW_FIELDS == set(renamed.values()), (path, set(new), set(renamed))
        for key, value in old.items():
            here = f"{path}.{key}"
            if key.endswith("_cents") and not isinstance(value, dict):
                got = new[renamed[key]]
                if value is None:
                    assert got is None, here
                elif isinstance(value, int):
                    assert Decimal(got) * 100 == value, (here, got, value)
                else:  # an average of money: rounded to the micro now
                    assert abs(Decimal(got) * 100 - Decimal(value)) <= HALF_MICRO_IN_CENTS, here
                compared += 1
            else:
                compared += assert_same_figure(here, value, new[renamed[key]])
        return compared
    if isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), path
        return sum(
            assert_same_figure(f"{path}[{i}]", o, n)
            for i, (o, n) in enumerate(zip(old, new, strict=True))
        )
    if path.endswith(".contracts"):
        assert Decimal(new) == old, (path, new, old)
    elif isinstance(old, float):
        assert isinstance(new, float), (path, new)
        assert math.isclose(new, old, rel_tol=RATIO_TOL, abs_tol=RATIO_TOL), (path, new, old)
    else:
        assert new == old, (path, new, old)
    return 1


def test_0005_data_migrates_with_every_figure_kept(server_url: str) -> None:
    """The 0005-era fixture (3,000 trades, seed 42), migrated to the newest schema: every
    figure the 0005 code computed from it (city metrics overall and per strategy, equity curve,
    strategy metrics, calibration, over four windows; bankroll $992.10) is what the new code
    says for account ``default`` - dollars = cents / 100 exactly, contracts equal, every ratio
    within 1e-12 - and every table keeps its row count. The aggregates the migration converted
    equal a rebuild from the migrated raw rows."""
    name = "milkbot_t_migrate_v0005"
    drop_database(server_url, name)
    url = _fresh_empty_database(server_url, name)
    try:
        _check_v0005_migration(url)
    finally:
        drop_database(server_url, name)


def _check_v0005_migration(url: str) -> None:
    load_v0005(url)
    apply_migrations(url)
    want = v0005_figures()
    got = asyncio.run(_figures_now(url))
    counts = want.pop("counts")
    assert set(got) == set(want)
    compared = 0
    for key, old in want.items():
        old = old if isinstance(old, list) else {k: v for k, v in old.items() if k != "as_of"}
        new = (
            got[key]
            if isinstance(got[key], list)
            else {k: v for k, v in got[key].items() if k != "as_of"}
        )
        compared += assert_same_figure(key, old, new)
    assert compared > 5_000  # 5,232 figures
    with psycopg.connect(url) as conn:
        for table, n in counts.items():
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (n,), table
        assert conn.execute("SELECT count(*) FROM ops.trades WHERE account_id <> 1").fetchone() == (
            0,
        )
        totals = conn.execute(
            "SELECT account_id, trades, net_pnl_micros FROM analytics.account_totals"
        ).fetchall()
        raw = conn.execute(
            "SELECT count(*), sum(realized_pnl_micros - fee_micros) FROM ops.trades"
        ).fetchone()
        assert totals == [(1, raw[0], raw[1])]
        assert_aggregates_equal_a_rebuild(conn)

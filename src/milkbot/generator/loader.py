"""Bulk loading in one transaction: refuse or wipe, COPY, rebuild keys, ANALYZE.

Everything runs in a single transaction, so a failure leaves the previous data as it was. The
tables are truncated in that transaction (even when already empty), which lets COPY write frozen
rows and, with ``wal_level=minimal``, skip the WAL. Their keys, indexes and aggregate triggers
are set aside during the COPY and rebuilt from their own catalog definitions after it
(``pg_get_constraintdef`` / ``pg_get_indexdef``), so the migrations stay their only source.
The pre-aggregates and their roll-ups arrive by COPY too (see aggregates.py), so their keys
are set aside like the raw tables' and the triggers, the roll-up triggers of the pre-aggregates
included, have nothing to do; :func:`check_columns` first makes sure the generator and the
catalogue name the same columns.

A server may be reading the same database. Before it touches any table the load locks every
table it will lock at all (:func:`lock_tables`), in one statement, in a fixed order, each
attempt bounded well below ``deadlock_timeout`` and retried a bounded number of times: taken one
by one as the load went (the TRUNCATE, the keys' drops), those locks could close a cycle with a
reader holding ACCESS SHARE on one table and waiting for another, and PostgreSQL then aborted
one of the two (a reader's 500). Readers that arrive meanwhile wait for the commit.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
import structlog
from psycopg import errors, sql

from milkbot.generator.binary import SIGNATURE, TRAILER, Column, encode_rows
from milkbot.generator.heartbeats import Latest
from milkbot.generator.plan import GeneratorError
from milkbot.words import plural

log = structlog.get_logger(__name__)

# Tables whose keys, indexes and triggers are set aside while rows stream in, and tables that
# only lose their foreign keys (checked row by row otherwise).
# ops.positions has a row per account, strategy, market and side (millions at 10M trades),
# so its key is rebuilt after the COPY too; so are the pre-aggregates' and roll-ups' (millions
# of rows at 10M trades, arriving block by block: kept up row by row, their keys cost more than
# building them once, ~8 s for pnl_daily alone), and their roll-up triggers are disabled.
BULK_TABLES = (
    "ops.markets",
    "ops.signals",
    "ops.trades",
    "ops.positions",
    "analytics.pnl_daily",
    "analytics.pnl_by_day",
    "analytics.signal_daily",
    "analytics.pnl_city_day",
    "analytics.pnl_strategy_day",
    "analytics.signal_strategy_day",
)
FOREIGN_KEY_TABLES: tuple[str, ...] = ()
# What a run replaces. Cities, strategies and the migrations table stay.
DATA_TABLES = (
    "ops.account_transfers",
    "ops.trades",
    "ops.signals",
    "ops.orders",
    "ops.positions",
    "ops.markets",
    "analytics.pnl_daily",
    "analytics.pnl_by_day",
    "analytics.signal_daily",
)
# (Their roll-ups, pnl_city_day, pnl_strategy_day, signal_strategy_day and account_totals, are
# emptied by the TRUNCATE triggers of pnl_daily and signal_daily in the same transaction, so
# they take frozen rows too; naming them in the same TRUNCATE would fail.)
HEALTH_TABLES = ("ops.heartbeats", "ops.component_health")
# Analyzed before the keys are rebuilt, so checking the foreign keys plans with real sizes,
# with every analytics table (roll-ups that triggers fill from the loaded aggregates too).
LOADED_TABLES = ("ops.markets", "ops.signals", "ops.trades", "ops.positions")
ACCOUNT_TABLES = ("ops.accounts", "ops.account_strategies", "ops.account_transfers")
IDENTITY_TABLES = (
    "ops.markets",
    "ops.signals",
    "ops.trades",
    "ops.heartbeats",
    "ops.account_transfers",
)
# Settings for this transaction only: index builds sort in memory, and so do the joins that
# check the foreign keys.
LOAD_SETTINGS = {"work_mem": "1GB", "maintenance_work_mem": "2GB"}

MIGRATED_SQL = "SELECT to_regclass('ops.trades') IS NOT NULL AND to_regclass('analytics.pnl_daily') IS NOT NULL"
# What the load transaction locks: every table of the ops and analytics schemas. It truncates
# the data tables (CASCADE, and TRUNCATE triggers empty the roll-ups), drops and re-adds foreign
# keys (ACCESS EXCLUSIVE on ops.cities and ops.strategies too), COPYs into the aggregates
# (whose triggers write the roll-ups) and ANALYZEs every analytics table. Partitions are locked
# through their parent, in the parent-first order readers use.
LOCK_TABLES_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('ops', 'analytics') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY n.nspname, c.relname
"""
DEADLOCK_TIMEOUT_SQL = "SELECT setting::int FROM pg_settings WHERE name = 'deadlock_timeout'"
TIMEOUTS_SQL = "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
# One attempt to lock waits at most this long (ms), and at most half of deadlock_timeout: a
# reader stuck behind a partial set of locks then gets them before it would run the deadlock
# check and be cancelled. Attempts go on, with a short random pause, for LOCK_DEADLINE_S.
LOCK_ATTEMPT_MS = 500
LOCK_DEADLINE_S = 60.0
COUNT_SQL = "SELECT (SELECT count(*) FROM ops.trades), (SELECT count(*) FROM ops.markets)"
STRATEGIES_SQL = "SELECT name, id FROM ops.strategies WHERE name = ANY(%s)"
SETTING_SQL = "SELECT set_config(%s, %s, true)"
# Foreign keys first: they are dropped before the keys they reference.
KEYS_SQL = """
SELECT n.nspname, r.relname, c.conname, c.contype, pg_get_constraintdef(c.oid)
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
WHERE (c.conrelid = ANY(%(bulk)s::regclass[]) AND c.contype IN ('p', 'u', 'f'))
   OR (c.contype = 'f' AND (c.conrelid = ANY(%(fk_only)s::regclass[])
                            OR c.confrelid = ANY(%(bulk)s::regclass[])))
ORDER BY c.contype <> 'f', n.nspname, r.relname, c.conname
"""
INDEXES_SQL = """
SELECT n.nspname, x.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = x.relnamespace
WHERE i.indrelid = %s::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
ORDER BY x.relname
"""
TRIGGERS_SQL = """
SELECT tgname FROM pg_trigger
WHERE tgrelid = %s::regclass AND NOT tgisinternal AND tgenabled <> 'D'
ORDER BY tgname
"""
COLUMNS_SQL = """
SELECT attname FROM pg_attribute
WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum
"""
FRESH_SQL = "UPDATE analytics.freshness SET updated_at = now()"
ANALYTICS_TABLES_SQL = "SELECT tablename FROM pg_tables WHERE schemaname = 'analytics' ORDER BY 1"
HEALTH_SQL = """
INSERT INTO ops.component_health (account_id, component, observed_at, status, message)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (account_id, component) DO UPDATE SET observed_at = EXCLUDED.observed_at,
    status = EXCLUDED.status, message = EXCLUDED.message
"""
# Accounts a previous run generated (their names follow accounts.plan_accounts); others stay.
GENERATED_ACCOUNTS_SQL = (
    "DELETE FROM ops.accounts WHERE id <> 1"
    " AND name ~ '^(paper|replay|live|shadow)_[a-z0-9_]+_[0-9]{3,}$'"
)
NEXT_ACCOUNT_SQL = "SELECT coalesce(max(id), 1) + 1 FROM ops.accounts"
ACCOUNT_COLUMNS = (
    "id",
    "name",
    "display_name",
    "mode",
    "environment",
    "starting_bankroll_micros",
    "balance_precision_micros",
    "is_public",
    "max_trade_bp",
    "max_city_bp",
    "max_cluster_bp",
    "max_open_bp",
    "daily_loss_bp",
    "description",
    "created_at",
)
ACCOUNT_SEQUENCE_SQL = (
    "SELECT setval(pg_get_serial_sequence('ops.accounts', 'id'), max(id)) FROM ops.accounts"
)
TRANSFER_COLUMNS = ("account_id", "client_transfer_id", "transferred_at", "amount_micros", "note")
DEFAULT_BANKROLL_SQL = "UPDATE ops.accounts SET starting_bankroll_micros = %s WHERE id = 1"
# The markets' fee columns default to Kalshi's standard schedule; set only when the reference
# differs (numeric has no simple binary COPY form).
FEE_DEFAULTS_SQL = """
SELECT column_name, column_default FROM information_schema.columns
WHERE table_schema = 'ops' AND table_name = 'markets'
  AND column_name IN ('taker_fee_rate', 'maker_fee_rate')
"""
FEE_RATES_SQL = "UPDATE ops.markets SET taker_fee_rate = %s, maker_fee_rate = %s"
SEQUENCE_SQL = "SELECT setval(pg_get_serial_sequence({table}, 'id'), coalesce(max(id), 0) + 1, false) FROM {ident}"


@dataclass
class SetAside:
    """Keys, indexes and triggers of the bulk tables, to restore after the COPY."""

    restore_keys: list[sql.Composed | sql.SQL] = field(default_factory=list)
    restore_triggers: list[sql.Composed] = field(default_factory=list)


def _ident(table: str) -> sql.Identifier:
    return sql.Identifier(*table.split("."))


def _catalog_sql(text: str) -> sql.SQL:
    # DDL text that PostgreSQL itself rendered from its catalog (never user input).
    return sql.SQL(text)


def prepare(conn: psycopg.Connection, reset: bool, strategies: Sequence[str]) -> dict[str, int]:
    """Check the database, refuse to mix with existing data unless ``reset``, wipe what the
    run replaces and return the ids of ``strategies``. Runs inside the load transaction."""
    migrated = conn.execute(MIGRATED_SQL).fetchone()
    if not migrated or not migrated[0]:
        raise GeneratorError("the database is not migrated: run `milkbot db migrate` first")
    lock_tables(conn)
    if not reset:
        counts = conn.execute(COUNT_SQL).fetchone()
        trades, markets = (int(v) for v in counts) if counts else (0, 0)
        if trades or markets:
            raise GeneratorError(
                f"database already holds {plural(trades, 'trade')} "
                f"({plural(markets, 'market')}): `milkbot generate-data --reset --yes` wipes it "
                "first"
            )
    ids: dict[str, int] = dict(conn.execute(STRATEGIES_SQL, [list(strategies)]).fetchall())
    missing = [name for name in strategies if name not in ids]
    if missing:
        raise GeneratorError(
            f"strategies {', '.join(missing)} are not in ops.strategies: run `milkbot db migrate`"
        )
    for name, value in LOAD_SETTINGS.items():
        conn.execute(SETTING_SQL, [name, value])
    wiped = DATA_TABLES + (HEALTH_TABLES if reset else ())
    conn.execute(
        sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(_ident(t) for t in wiped)
        )
    )
    return {str(name): int(i) for name, i in ids.items()}


def check_columns(conn: psycopg.Connection, tables: Mapping[str, Collection[str]]) -> None:
    """Refuse to load unless each table's columns in the catalogue are exactly ``tables[table]``.

    The generator computes the pre-aggregates itself (aggregates.py) while the migrations
    define them in SQL; a column one side has and the other lacks would otherwise load as its
    DEFAULT, or fail deep in a COPY. Raises :class:`GeneratorError` naming every such column."""
    problems = []
    for table, expected in tables.items():
        actual = [str(name) for (name,) in conn.execute(COLUMNS_SQL, [table]).fetchall()]
        unknown = [name for name in actual if name not in expected]
        absent = sorted(name for name in expected if name not in actual)
        if unknown:
            problems.append(f"{table} has {_columns(unknown)} that the generator does not compute")
        if absent:
            problems.append(f"the generator expects {_columns(absent)} that {table} lacks")
    if problems:
        raise GeneratorError(
            "; ".join(problems) + ": the migrations and milkbot/generator/aggregates.py must "
            "define the same pre-aggregate columns (add the measure to both, as the trigger "
            "SQL computes it)"
        )


def _columns(names: Sequence[str]) -> str:
    return ("column " if len(names) == 1 else "columns ") + ", ".join(names)


def lock_tables(conn: psycopg.Connection, deadline_s: float = LOCK_DEADLINE_S) -> int:
    """Lock every table the load transaction will lock (see LOCK_TABLES_SQL) in ACCESS
    EXCLUSIVE mode, all in one LOCK statement in (schema, name) order, and return the attempts
    it took. Each attempt runs in a savepoint with ``lock_timeout`` and ``statement_timeout`` of
    at most LOCK_ATTEMPT_MS ms (and half of ``deadlock_timeout``); one that times out rolls back
    to the savepoint, which releases the locks it got, and is retried after 20-250 ms until
    ``deadline_s`` seconds have passed, then raises :class:`GeneratorError`. The session's own
    timeouts are restored for the rest of the transaction."""
    tables = [sql.Identifier(s, t) for s, t in conn.execute(LOCK_TABLES_SQL).fetchall()]
    statement = sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.SQL(", ").join(tables))
    row = conn.execute(DEADLOCK_TIMEOUT_SQL).fetchone()
    attempt_ms = max(10, min(LOCK_ATTEMPT_MS, int(row[0]) // 2 if row else LOCK_ATTEMPT_MS))
    saved = conn.execute(TIMEOUTS_SQL).fetchone()
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            with conn.transaction():  # a savepoint
                conn.execute(SETTING_SQL, ["lock_timeout", f"{attempt_ms}ms"])
                conn.execute(SETTING_SQL, ["statement_timeout", f"{attempt_ms}ms"])
                conn.execute(statement)
            break
        except (errors.LockNotAvailable, errors.QueryCanceled, errors.DeadlockDetected):
            waited = time.monotonic() - started
            if waited >= deadline_s:
                raise GeneratorError(
                    f"could not lock the tables to load within {waited:.0f} s ({attempts} "
                    f"attempts of {attempt_ms} ms): other sessions keep them busy (see "
                    "pg_stat_activity); stop long transactions on this database and retry"
                ) from None
            # Random, so that two loaders do not retry in step.
            time.sleep(random.uniform(0.02, 0.25))
    if saved:
        conn.execute(SETTING_SQL, ["lock_timeout", saved[0]])
        conn.execute(SETTING_SQL, ["statement_timeout", saved[1]])
    (log.info if attempts > 1 else log.debug)(
        "tables_locked",
        tables=len(tables),
        attempts=attempts,
        seconds=round(time.monotonic() - started, 3),
    )
    return attempts


def set_aside(conn: psycopg.Connection) -> SetAside:
    """Drop the bulk tables' keys and indexes, and every foreign key into or out of them,
    disable their triggers, and remember how to put each back exactly as the catalog had it."""
    aside = SetAside()
    foreign: list[sql.Composed | sql.SQL] = []
    params = {"bulk": list(BULK_TABLES), "fk_only": list(FOREIGN_KEY_TABLES)}
    for schema, table, name, kind, definition in conn.execute(KEYS_SQL, params).fetchall():
        ident, constraint = sql.Identifier(schema, table), sql.Identifier(name)
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, constraint))
        restore = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            ident, constraint, _catalog_sql(definition)
        )
        (foreign if kind == "f" else aside.restore_keys).append(restore)
    for table in BULK_TABLES:
        ident = _ident(table)
        for schema, name, definition in conn.execute(INDEXES_SQL, [table]).fetchall():
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
            aside.restore_keys.append(_catalog_sql(definition))
        for (name,) in conn.execute(TRIGGERS_SQL, [table]).fetchall():
            trigger = sql.Identifier(name)
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(ident, trigger))
            aside.restore_triggers.append(
                sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(ident, trigger)
            )
    aside.restore_keys.extend(foreign)  # foreign keys last, once the keys they need exist
    return aside


def copy_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    blocks: Iterable[bytes],
    freeze: bool = True,
) -> None:
    """COPY binary tuples (from :func:`encode_rows`) into ``table``; ``freeze`` writes frozen
    rows, for tables truncated in this transaction."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT binary{})").format(
        _ident(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", FREEZE" if freeze else ""),
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(SIGNATURE)
        for block in blocks:
            copy.write(memoryview(block))
        copy.write(TRAILER)


def copy_columns(
    conn: psycopg.Connection,
    table: str,
    names: Sequence[str],
    columns: Sequence[Column],
    freeze: bool = True,
) -> None:
    """COPY one block of column arrays into ``table``."""
    copy_rows(conn, table, names, [encode_rows(columns)], freeze)


def restore(conn: psycopg.Connection, aside: SetAside, step: Callable[[int, int], None]) -> None:
    """Rebuild the keys and indexes (then check the foreign keys) and re-enable the triggers;
    ``step(done, total)`` after each statement."""
    total = len(aside.restore_keys)
    for done, statement in enumerate(aside.restore_keys, 1):
        started = time.perf_counter()
        conn.execute(statement)
        log.debug(
            "key_restored",
            statement=statement.as_string(conn)[:120],
            seconds=round(time.perf_counter() - started, 2),
        )
        step(done, total)
    for statement in aside.restore_triggers:
        conn.execute(statement)


def clear_generated_accounts(conn: psycopg.Connection) -> int:
    """Delete the accounts an earlier run generated (their rows are already wiped) and return
    the id the next generated account gets."""
    conn.execute(GENERATED_ACCOUNTS_SQL)
    row = conn.execute(NEXT_ACCOUNT_SQL).fetchone()
    return int(row[0]) if row else 2


def insert_rows(
    conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """COPY a few hundred rows (accounts, their strategies, transfers) in text format."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        _ident(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def add_default_strategies(conn: psycopg.Connection, strategy_ids: Sequence[int]) -> None:
    """Record that the flagship account runs ``strategy_ids`` (migration 0006 gave it the
    strategies known then, none on a database migrated before the reference was loaded)."""
    conn.cursor().executemany(
        "INSERT INTO ops.account_strategies (account_id, strategy_id) VALUES (1, %s)"
        " ON CONFLICT DO NOTHING",
        [[i] for i in strategy_ids],
    )


def set_account_sequence(conn: psycopg.Connection) -> None:
    """Point ops.accounts' id sequence past the generated ids."""
    conn.execute(ACCOUNT_SEQUENCE_SQL)


def set_default_bankroll(conn: psycopg.Connection, micros: int) -> None:
    """Make the flagship account's (``default``, id 1) starting bankroll the plan's."""
    conn.execute(DEFAULT_BANKROLL_SQL, [micros])


def set_fee_rates(conn: psycopg.Connection, taker: Decimal, maker: Decimal) -> None:
    """Give every market the reference fee rates when they differ from the columns' defaults."""
    defaults = {
        str(name): Decimal(str(default).split("::")[0].strip("'"))
        for name, default in conn.execute(FEE_DEFAULTS_SQL).fetchall()
    }
    if defaults.get("taker_fee_rate") != taker or defaults.get("maker_fee_rate") != maker:
        conn.execute(FEE_RATES_SQL, [taker, maker])


def mark_fresh(conn: psycopg.Connection) -> None:
    """Record that the pre-aggregates changed now (the health check's analytics freshness)."""
    conn.execute(FRESH_SQL)


def record_health(conn: psycopg.Connection, latest: Sequence[Latest]) -> None:
    """Make each component's latest beat its current state (ops.component_health)."""
    conn.cursor().executemany(
        HEALTH_SQL,
        [[b.account_id, b.component, b.observed_at, b.status, b.message] for b in latest],
    )


def analyze(conn: psycopg.Connection, tables: Sequence[str]) -> None:
    """ANALYZE ``tables`` (sampled statistics: a second or two even at 10M rows)."""
    conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(_ident(t) for t in tables)))


def analyze_loaded(conn: psycopg.Connection) -> None:
    """ANALYZE the loaded tables and every analytics table."""
    analytics = [f"analytics.{name}" for (name,) in conn.execute(ANALYTICS_TABLES_SQL)]
    analyze(conn, [*LOADED_TABLES, *analytics])


def finish(conn: psycopg.Connection) -> None:
    """Point the id sequences past the loaded ids and ANALYZE the health tables."""
    for table in IDENTITY_TABLES:
        conn.execute(sql.SQL(SEQUENCE_SQL).format(table=sql.Literal(table), ident=_ident(table)))
    analyze(conn, [*HEALTH_TABLES, *ACCOUNT_TABLES])

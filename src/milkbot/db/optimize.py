"""`milkbot db optimize`: recreate missing indexes, ANALYZE, VACUUM (ANALYZE), then report.

The indexes the analytics need are the ones the migrations declare (``CREATE [UNIQUE] INDEX IF
NOT EXISTS name ...``): the migration files stay the one source of truth, and optimize re-runs
any of those statements whose index is missing (dropped by hand, lost in a restore). Each step
runs on its own; the first failure stops the run with the step's name and PostgreSQL's error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from milkbot.db.migrate import list_migrations

# CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON table ...; and DROP INDEX [IF EXISTS] schema.name;
# in the migrations' order (a later migration may drop an index or re-create it differently).
_INDEX_STATEMENT = re.compile(
    r"CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+ON\s+([\w.]+)(.*?);"
    r"|DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?([\w.]+)\s*;",
    re.IGNORECASE | re.DOTALL,
)
SCHEMAS = ("ops", "analytics")

_EXISTING_INDEXES = """
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'i' AND n.nspname = ANY(%s)
"""

_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = ANY(%s) ORDER BY 1, 2
"""

_TABLE_SIZES = """
SELECT s.schemaname || '.' || s.relname, s.n_live_tup,
       pg_relation_size(s.relid), pg_indexes_size(s.relid), pg_total_relation_size(s.relid)
FROM pg_stat_user_tables s WHERE s.schemaname = ANY(%s)
ORDER BY pg_total_relation_size(s.relid) DESC
"""

_INDEX_USAGE = """
SELECT s.schemaname || '.' || s.indexrelname, s.schemaname || '.' || s.relname, s.idx_scan,
       pg_relation_size(s.indexrelid), i.indisunique OR i.indisprimary
FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.schemaname = ANY(%s)
ORDER BY s.schemaname, s.relname, s.indexrelname
"""

# Two indexes on the same table where one's key columns are a leading prefix of the other's
# (same predicate, no expressions): the shorter one is redundant for lookups.
_DUPLICATES = """
SELECT a.indexrelid::regclass::text, b.indexrelid::regclass::text
FROM pg_index a
JOIN pg_index b ON a.indrelid = b.indrelid AND a.indexrelid <> b.indexrelid
JOIN pg_class t ON t.oid = a.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%s)
  AND a.indexprs IS NULL AND b.indexprs IS NULL
  AND NOT a.indisunique
  AND pg_get_expr(a.indpred, a.indrelid) IS NOT DISTINCT FROM pg_get_expr(b.indpred, b.indrelid)
  AND a.indnkeyatts <= b.indnkeyatts
  AND (string_to_array(a.indkey::text, ' '))[1:a.indnkeyatts]
      = (string_to_array(b.indkey::text, ' '))[1:a.indnkeyatts]
  AND (a.indnkeyatts < b.indnkeyatts OR a.indexrelid > b.indexrelid)
ORDER BY 1, 2
"""


class OptimizeError(RuntimeError):
    """A step failed; the message names the step and carries PostgreSQL's error."""


@dataclass(frozen=True, slots=True)
class TableSize:
    name: str
    live_rows: int
    table_bytes: int
    index_bytes: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class IndexUsage:
    name: str
    table: str
    scans: int
    bytes: int
    unique: bool


@dataclass(slots=True)
class OptimizeReport:
    """What optimize did and found: created indexes, sizes, usage, unused and duplicates."""

    created: list[str] = field(default_factory=list)
    tables: list[TableSize] = field(default_factory=list)
    indexes: list[IndexUsage] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)

    @property
    def unused(self) -> list[IndexUsage]:
        """Non-unique indexes never scanned since statistics were last reset."""
        return [i for i in self.indexes if i.scans == 0 and not i.unique]


def declared_indexes() -> dict[str, str]:
    """Qualified index name -> the statement that creates it as the migrations leave it
    (``CREATE [UNIQUE] INDEX IF NOT EXISTS ...``); an index a later migration drops is not
    declared, and one it re-creates is declared as re-created."""
    found: dict[str, str] = {}
    for migration in list_migrations():
        for match in _INDEX_STATEMENT.finditer(migration.sql):
            unique, name, table, rest, dropped = match.groups()
            if dropped is not None:
                found.pop(dropped if "." in dropped else f"public.{dropped}", None)
                continue
            schema = table.split(".")[0] if "." in table else "public"
            found[f"{schema}.{name}"] = (
                f"CREATE {unique or ''}INDEX IF NOT EXISTS {name} ON {table}{rest};"
            )
    return found


def _step(
    conn: psycopg.Connection,
    name: str,
    statement: sql.Composed | bytes,
    log: Callable[[str], None],
) -> None:
    log(name)
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        raise OptimizeError(f"step '{name}' failed: {exc}") from exc


def optimize(url: str, log: Callable[[str], None] = lambda _m: None) -> OptimizeReport:
    """Create missing declared indexes, ANALYZE, VACUUM (ANALYZE), and report (idempotent)."""
    report = OptimizeReport()
    with psycopg.connect(url, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute(_EXISTING_INDEXES, [list(SCHEMAS)])}
        for name, statement in declared_indexes().items():
            if name not in existing:
                _step(conn, f"create missing index {name}", statement.encode(), log)
                report.created.append(name)
        tables = [
            sql.Identifier(schema, table)
            for schema, table in conn.execute(_TABLES, [list(SCHEMAS)])
        ]
        for command in ("ANALYZE", "VACUUM (ANALYZE)"):
            for ident in tables:
                maintain = sql.SQL(command + " {}").format(ident)  # command is a constant
                _step(conn, maintain.as_string(conn), maintain, log)
        report.tables = [TableSize(*row) for row in conn.execute(_TABLE_SIZES, [list(SCHEMAS)])]
        report.indexes = [IndexUsage(*row) for row in conn.execute(_INDEX_USAGE, [list(SCHEMAS)])]
        report.duplicates = [(a, b) for a, b in conn.execute(_DUPLICATES, [list(SCHEMAS)])]
    return report

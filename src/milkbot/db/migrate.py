"""Numbered SQL migrations, applied in order and recorded in ``public.milkbot_migrations``.

Each file ``NNNN_name.sql`` under ``db/migrations`` runs in its own transaction; the table records
its version, name, checksum and time. Re-running applies only what is missing; a file whose
checksum changed after it was applied is reported (never silently re-applied). After the schema,
the reference data (cities, strategies) is upserted from ``data/reference.toml``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg
import structlog

from milkbot.reference import load_reference

log = structlog.get_logger(__name__)

# Serialises concurrent `migrate` runs (two processes starting at once).
_ADVISORY_LOCK = 0x6D696C6B  # "milk"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS public.milkbot_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file shipped in the package."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class MigrationState:
    """A migration and whether (and when) it was applied to this database."""

    migration: Migration
    applied_at: datetime | None
    checksum_matches: bool


def list_migrations() -> list[Migration]:
    """Every migration file in version order."""
    folder = resources.files("milkbot").joinpath("db/migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


def read_status(conn: psycopg.Connection) -> list[MigrationState]:
    """Which migrations this database has, without changing anything."""
    exists = conn.execute("SELECT to_regclass('public.milkbot_migrations') IS NOT NULL").fetchone()
    applied: dict[int, tuple[str, datetime]] = {}
    if exists and exists[0]:
        for version, checksum, at in conn.execute(
            "SELECT version, checksum, applied_at FROM public.milkbot_migrations"
        ):
            applied[version] = (checksum, at)
    states = []
    for m in list_migrations():
        if m.version in applied:
            checksum, at = applied[m.version]
            states.append(MigrationState(m, at, checksum == m.checksum))
        else:
            states.append(MigrationState(m, None, True))
    return states


def apply_migrations(
    url: str, *, upto: int | None = None, starting_bankroll_cents: int | None = None
) -> list[Migration]:
    """Apply every missing migration in order, then sync reference data. Returns what ran.

    ``upto`` stops after that version (and skips the reference data, whose columns may be
    newer): for tests that load data of an older schema and then migrate it.
    ``starting_bankroll_cents`` is the bankroll of the account that migration 0006 moves the
    existing rows into (default: the setting's, MILKBOT_STARTING_BANKROLL_CENTS); it matters
    only the one time 0006 runs.
    """
    if starting_bankroll_cents is None:
        from milkbot.settings import load_settings

        starting_bankroll_cents = load_settings().starting_bankroll_cents
    ran: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY_LOCK])
        try:
            conn.execute(_CREATE_TABLE)
            conn.execute(
                "SELECT set_config('milkbot.starting_bankroll_cents', %s, false)",
                [str(int(starting_bankroll_cents))],
            )
            for state in read_status(conn):
                if upto is not None and state.migration.version > upto:
                    break
                if state.applied_at is not None:
                    if not state.checksum_matches:
                        log.warning(
                            "migration_changed_after_apply",
                            version=state.migration.version,
                            name=state.migration.name,
                        )
                    continue
                m = state.migration
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO public.milkbot_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        [m.version, m.name, m.checksum],
                    )
                log.info("migration_applied", version=m.version, name=m.name)
                ran.append(m)
            if upto is None:
                sync_reference_data(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])
    return ran


def sync_reference_data(conn: psycopg.Connection) -> None:
    """Upsert cities and strategies from ``reference.toml`` (never deletes: trades refer to them)."""
    ref = load_reference()
    with conn.transaction():
        for c in ref.cities:
            conn.execute(
                """
                INSERT INTO ops.cities (code, name, station, timezone, series, cluster)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, station = EXCLUDED.station,
                    timezone = EXCLUDED.timezone, series = EXCLUDED.series,
                    cluster = EXCLUDED.cluster
                """,
                [c.code, c.name, c.station, c.timezone, c.series, c.cluster],
            )
        for name, description in ref.strategies:
            conn.execute(
                """
                INSERT INTO ops.strategies (name, description) VALUES (%s, %s)
                ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description
                """,
                [name, description],
            )

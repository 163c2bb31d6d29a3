"""Data written under an older schema, to migrate forward in tests.

``tests/fixtures/v0005_seed42_3k.copy.gz`` holds every row of a database at migration 0005
loaded by that version's generator (3,000 trades, seed 42, generated for 2026-11-20 18:00 UTC):
per table a ``-- schema.table col,col,...`` line, the rows in COPY text format, and ``\\.``.
``v0005_seed42_3k.json`` holds every analytics figure that version's code computed from it
(city metrics, equity curve, strategy metrics and calibration over four windows, overall and
per strategy) and the row count of every table.

How they were made, with the 0005-era code (commit ec66124) on PostgreSQL 15: migrate an empty
database, sync the reference data, ``generate_dataset(url, trades=3000, seed=42,
end_date=date(2026, 11, 20), now=2026-11-20T18:00Z)``; then ``read_city_metrics`` (overall and
per strategy), ``read_equity_curve`` (bankroll 99,210 cents), ``read_strategy_metrics`` and
``read_calibration`` (overall and per strategy) over the four windows of
``tests/test_migrations.py``'s ``V0005_WINDOWS``, each ``to_dict()`` without ``as_of``; and
each table's rows as ``COPY (SELECT <columns but generated ones> ... ORDER BY 1, 2) TO STDOUT``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import psycopg

from milkbot.db.migrate import apply_migrations

FIXTURES = Path(__file__).parent / "fixtures"
V0005_DATA = FIXTURES / "v0005_seed42_3k.copy.gz"
V0005_FIGURES = FIXTURES / "v0005_seed42_3k.json"


def v0005_figures() -> dict[str, Any]:
    """The analytics figures (cents, whole contracts) version 0005's code computed."""
    figures: dict[str, Any] = json.loads(V0005_FIGURES.read_text())
    return figures


def load_v0005(url: str, data: Path = V0005_DATA) -> None:
    """Migrate the empty database at ``url`` to 0005 and load ``data`` as that schema held
    it (triggers off, as pg_restore --disable-triggers would; identity sequences moved past
    the loaded ids). Migrate it forward afterwards with ``apply_migrations``."""
    apply_migrations(url, upto=5)
    with psycopg.connect(url) as conn, gzip.open(data, "rt") as f:
        conn.execute(
            "TRUNCATE ops.cities, ops.strategies, analytics.freshness, analytics.disclosure CASCADE"
        )
        line = f.readline()
        while line:
            assert line.startswith("-- "), line
            table, columns = line[3:].split()
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in iter(f.readline, "\\.\n"):
                    copy.write(row)
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            line = f.readline()
        for table in (
            "ops.markets",
            "ops.orders",
            "ops.signals",
            "ops.trades",
            "ops.heartbeats",
            "ops.strategies",
        ):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )

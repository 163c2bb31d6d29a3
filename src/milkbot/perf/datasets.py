"""The benchmark datasets: generated databases on the configured server, built once and reused.

A dataset is a database named after its size and seed (``milkbot_perf_1000000_s42``), built with
the package's generator and reused while its completion marker (a JSON comment on the database)
matches: same size, instant and generator (a digest of the generator's code and the
migrations). ``milkbot bench queries`` and ``tests/performance`` share them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from milkbot.db.migrate import apply_migrations

MARKER_KIND = "milkbot-perf-dataset"

# Benchmark datasets are generated for a fixed instant, so the same (trades, seed) gives the same
# rows on any day and the results' fingerprint of the analytics outputs is comparable across
# runs (the regression gate fails a run whose outputs changed).
DATASET_NOW = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class GeneratedDatabase:
    """A generated database: its name and URL, its trade count and seed, and its last
    settlement day."""

    name: str
    url: str
    trades: int
    seed: int
    end_date: date


def generator_version() -> str:
    """A digest (12 hex digits) of what a dataset's rows follow from: the generator's code, the
    rules it calls (money, market) and the migrations. A dataset built by other code is rebuilt,
    not reused."""
    package = Path(__file__).resolve().parent.parent  # src/milkbot
    files = [
        *(package / "generator").rglob("*.py"),
        *(package / "db" / "migrations").glob("*.sql"),
        package / "money.py",
        package / "market.py",
    ]
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def dataset_name(trades: int, seed: int) -> str:
    """Database name of the dataset with ``trades`` trades and ``seed``."""
    return f"milkbot_perf_{trades}_s{seed}"


def _read_marker(admin: psycopg.Connection, name: str) -> dict[str, Any] | None:
    row = admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
    ).fetchone()
    if row is None:
        return None
    try:
        marker = json.loads(row[0] or "")
    except ValueError:
        marker = {}
    return marker if isinstance(marker, dict) else {}


def ensure_dataset(
    server_url: str, trades: int, seed: int = 42, progress: Callable[[str], None] | None = None
) -> GeneratedDatabase:
    """The dataset of ``trades`` trades and ``seed`` on the server at ``server_url`` (a URL that
    may CREATE DATABASE): reused when complete, else (re)built with the package's generator,
    analysed, and marked complete. Generation takes about 2 minutes per 10M trades."""
    from milkbot.generator import generate_dataset

    say = progress or (lambda _msg: None)
    name = dataset_name(trades, seed)
    version = generator_version()
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        marker = _read_marker(admin, name)
        if (
            marker
            and marker.get("kind") == MARKER_KIND
            and marker.get("trades") == trades
            and marker.get("generated_for") == DATASET_NOW.isoformat()
            and marker.get("generator") == version
        ):
            apply_migrations(url)
            end = date.fromisoformat(marker["end_date"])
            return GeneratedDatabase(name, url, trades, seed, end)
        ident = sql.Identifier(name)
        if marker is not None:
            say(f"dropping incomplete dataset {name}")
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    say(f"generating {trades:,} trades (seed {seed}) into {name}")
    started = time.perf_counter()
    apply_migrations(url)
    generate_dataset(
        url, trades=trades, seed=seed, end_date=DATASET_NOW.date(), now=DATASET_NOW, reset=True
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT max(event_date) FROM analytics.pnl_by_day").fetchone()
        end = row[0] if row and row[0] else datetime.now(UTC).date()
    seconds = time.perf_counter() - started
    marker = {
        "kind": MARKER_KIND,
        "trades": trades,
        "seed": seed,
        "end_date": end.isoformat(),
        "generated_for": DATASET_NOW.isoformat(),
        "generator": version,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
    }
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(marker))
            )
        )
    say(f"generated {name} in {seconds:.0f} s")
    return GeneratedDatabase(name, url, trades, seed, end)

"""The shared literals (milkbot.vocabulary) and the database's CHECK constraints hold the same
words: the store validates with the one, PostgreSQL enforces the other."""

from __future__ import annotations

import re
from typing import Any, get_args

import psycopg

from milkbot.vocabulary import Action, HealthStatus, Side

# Every column whose values one of the literals names, and that literal.
COLUMNS: dict[tuple[str, str], Any] = {
    ("ops.markets", "result"): Side,
    ("ops.orders", "side"): Side,
    ("ops.orders", "action"): Action,
    ("ops.trades", "side"): Side,
    ("ops.trades", "action"): Action,
    ("ops.positions", "side"): Side,
    ("ops.heartbeats", "status"): HealthStatus,
    ("ops.component_health", "status"): HealthStatus,
}
# PostgreSQL shows ``x IN ('a', 'b')`` as ``(x = ANY (ARRAY['a'::text, 'b'::text]))``.
ANY_OF = re.compile(r"\((\w+) = ANY \(ARRAY\[([^\]]*)\]\)\)")


def test_check_constraints_allow_exactly_the_literals(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'c' AND connamespace = 'ops'::regnamespace"
    ).fetchall()
    allowed: dict[tuple[str, str], set[str]] = {}
    for table, definition in rows:
        for column, values in ANY_OF.findall(definition):
            if (table, column) in COLUMNS:
                allowed[(table, column)] = set(re.findall(r"'([^']*)'::text", values))
    assert allowed == {key: set(get_args(literal)) for key, literal in COLUMNS.items()}

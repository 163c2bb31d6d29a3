"""`milkbot db optimize` and `milkbot db slow-queries` against a real server."""

import psycopg
import pytest

from milkbot.db.optimize import declared_indexes, optimize
from milkbot.db.stats import StatsUnavailable, read_slow_queries, timing_columns


def test_declared_indexes_come_from_the_migrations() -> None:
    declared = declared_indexes()
    assert "ops.trades_created_idx" in declared
    assert declared["ops.trades_market_idx"].startswith("CREATE INDEX IF NOT EXISTS")


def test_declared_indexes_follow_later_migrations() -> None:
    """0006 drops heartbeats_component_time_idx and re-creates pnl_daily_strategy_idx with the
    account first: optimize must neither bring back the one nor rebuild the other's old form."""
    declared = declared_indexes()
    assert "ops.heartbeats_component_time_idx" not in declared
    assert "ops.heartbeats_account_component_time_idx" in declared
    assert "(account_id, strategy_id, event_date)" in declared["analytics.pnl_daily_strategy_idx"]
    assert declared["ops.trades_account_created_idx"].startswith("CREATE INDEX IF NOT EXISTS")


def test_optimize_recreates_a_dropped_index_and_is_idempotent(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP INDEX ops.trades_created_idx")
    first = optimize(db_url)
    assert first.created == ["ops.trades_created_idx"]
    second = optimize(db_url)
    assert second.created == []
    names = {i.name for i in second.indexes}
    assert "ops.trades_created_idx" in names
    assert any(t.name == "ops.trades" for t in second.tables)


def test_optimize_reports_a_duplicate_index(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        # The guide's example index: a prefix of trades_city_created_idx.
        conn.execute("CREATE INDEX idx_trades_city ON ops.trades (city_code)")
    report = optimize(db_url)
    assert ("ops.idx_trades_city", "ops.trades_city_created_idx") in report.duplicates


def test_timing_column_names_follow_the_server_version() -> None:
    assert timing_columns(120017) == ("total_time", "mean_time", "max_time")
    assert timing_columns(150019) == ("total_exec_time", "mean_exec_time", "max_exec_time")


def test_slow_queries_without_the_extension_say_how_to_enable_it(conn: psycopg.Connection) -> None:
    conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    with pytest.raises(StatsUnavailable) as info:
        read_slow_queries(conn)
    assert "shared_preload_libraries" in str(info.value) or "CREATE EXTENSION" in str(info.value)


def test_slow_queries_with_the_extension(conn: psycopg.Connection) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    preloaded = conn.execute(
        "SELECT current_setting('shared_preload_libraries') ~ 'pg_stat_statements'"
    ).fetchone()
    if not (preloaded and preloaded[0]):
        # A server without the preload (e.g. a stock PostgreSQL 15): the message says so.
        with pytest.raises(StatsUnavailable, match="shared_preload_libraries"):
            read_slow_queries(conn)
        return
    conn.execute("SELECT count(*) FROM ops.trades WHERE price > 50 /* slow-query-probe */")
    rows = read_slow_queries(conn, limit=1000)
    assert any("slow-query-probe" in r.query or "ops.trades" in r.query for r in rows)
    assert all(r.calls >= 1 and r.mean_ms >= 0 for r in rows)
    means = [r.mean_ms for r in rows]
    assert means == sorted(means, reverse=True)


def test_explain_runs_every_named_query_with_analyze(db_url: str) -> None:
    from typer.testing import CliRunner

    from milkbot.analytics.explain import CASES
    from milkbot.cli.main import app
    from milkbot.generator import generate_dataset

    generate_dataset(db_url, trades=2000, seed=7)
    env = {"MILKBOT_DATABASE_URL": db_url, "MILKBOT_LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(app, ["db", "explain", "all"], env=env)
    assert result.exit_code == 0, result.output
    for name in CASES:
        assert f"== {name}" in result.output
    assert result.output.count("Execution Time") == len(CASES)
    assert "Buffers" in result.output
    bad = CliRunner().invoke(app, ["db", "explain", "nope"], env=env)
    assert bad.exit_code == 2 and "city_metrics" in bad.output

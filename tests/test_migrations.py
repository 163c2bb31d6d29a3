import psycopg
from psycopg import sql

from milkbot.db.migrate import apply_migrations, list_migrations, read_status
from tests.conftest import database_url, drop_database


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

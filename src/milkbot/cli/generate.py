"""`milkbot generate-data`: fill the database with a seeded, realistic trading history."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from milkbot.cli.common import database, get_settings
from milkbot.generator import GenerationReport, GeneratorError, generate_dataset
from milkbot.generator.plan import MAX_DAYS
from milkbot.words import plural

_PHASES = {
    "markets": "Markets",
    "trades": "Signals and trades",
    "aggregates": "Pre-aggregates",
    "analyze": "ANALYZE",
    "indexes": "Indexes and keys",
    "heartbeats": "Heartbeats",
}


def generate_data(
    trades: Annotated[
        int | None,
        typer.Option("--trades", min=0, help="Approximate number of trades (within 2%)."),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            max=MAX_DAYS,
            help="Settlement days (default: 365, or what --trades needs at a realistic density).",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Random seed: same seed, same data.")
    ] = 42,
    end_date: Annotated[
        datetime | None,
        typer.Option(
            "--end-date", formats=["%Y-%m-%d"], help="Last settlement day (default: today, UTC)."
        ),
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Wipe the existing markets, signals, trades first.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before --reset wipes.")
    ] = False,
) -> None:
    """Generate a seeded, realistic history (markets, signals, trades, settlements, heartbeats)
    and bulk-load it; refuses to mix with existing data unless --reset."""
    if reset and not yes:
        if not sys.stdin.isatty():
            typer.secho(
                "--reset wipes the existing data and there is no terminal to confirm it: "
                "pass --yes to wipe anyway",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2)
        typer.confirm(
            "--reset wipes every market, signal and trade in the database. Continue?", abort=True
        )
    settings = get_settings()
    console = Console()
    with database(settings) as url, _progress() as progress:
        tasks: dict[str, object] = {}

        def step(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(_PHASES.get(phase, phase), total=total)
            progress.update(tasks[phase], completed=done, total=total)  # type: ignore[arg-type]

        try:
            report = generate_dataset(
                url,
                trades=trades,
                days=days,
                seed=seed,
                end_date=end_date.date() if end_date else None,
                bankroll_cents=settings.starting_bankroll_cents,
                reset=reset,
                progress=step,
            )
        except GeneratorError as exc:
            progress.stop()
            typer.secho(str(exc), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
    console.print(summary(report))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def summary(report: GenerationReport) -> Table:
    """What was loaded and how long each phase took."""
    table = Table(
        caption=f"{report.first_day} .. {report.end_date} "
        f"({plural(report.days, 'settlement day')}), "
        f"seed {report.seed}, PostgreSQL {report.server_version}",
    )
    table.add_column("loaded")
    table.add_column("rows", justify="right")
    for name, count in report.counts.items():
        table.add_row(name, f"{count:,}")
    table.add_row("sales before settlement", f"{report.sales:,}")
    table.add_row("open (unsettled) buys", f"{report.open_trades:,}")
    table.add_section()
    for phase, seconds in report.phase_seconds.items():
        table.add_row(f"{phase} (s)", f"{seconds:.1f}")
    table.add_row("total (s)", f"{report.total_seconds:.1f}")
    return table

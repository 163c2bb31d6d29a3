"""`milkbot perf compare` / `milkbot perf accept`: the release regression gate (the guide's
"Performance Regression Testing")."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from milkbot.perf.gate import Comparison, GateRun, RefusedError, compare, load_run, no_regression

RESULTS = Path("tests/performance/results")


def _shown(row: Comparison, value: float | None) -> str:
    if value is None:
        return "-"
    if row.kind == "error_rate":
        return f"{value * 100:.3f}%"
    if row.kind == "memory_mb":
        return f"{value:,.1f} MB"
    return f"{value:,.3f} ms"


def _load(path: Path) -> GateRun:
    run = load_run(path)
    if run.converted:
        typer.secho(
            f"{path} was in the old results format: converted once and rewritten "
            "(milkbot.perf.records, schema 1)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    return run


def _run_compare(baseline: Path, current: Path, min_delta_ms: float) -> list[Comparison]:
    try:
        rows = compare(_load(baseline), _load(current), min_delta_ms=min_delta_ms)
    except RefusedError as exc:
        typer.secho(f"refused: {exc}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(2) from None
    table = Table(
        "figure", "baseline", "current", "change", "verdict", title=f"{baseline} -> {current}"
    )
    for r in rows:
        colour = {"FAIL": "red", "ok": "green"}.get(r.verdict, "yellow")
        table.add_row(
            r.name,
            _shown(r, r.baseline),
            _shown(r, r.current),
            r.reason,
            f"[{colour}]{r.verdict}[/{colour}]",
        )
    Console(width=140).print(table)
    return rows


def compare_results(
    baseline: Path = typer.Argument(..., help="Baseline results (.json, or the query .txt)."),
    current: Path = typer.Argument(..., help="Current results of the same kind."),
    min_delta_ms: float = typer.Option(
        1.0, "--min-delta-ms", min=0, help="Latency changes below this never fail (noise)."
    ),
) -> None:
    """Compare CURRENT with BASELINE per the guide's regression criteria; exit 1 on a
    regression, 2 when the runs are not alike (machine, data volume, PostgreSQL version)."""
    rows = _run_compare(baseline, current, min_delta_ms)
    if not no_regression(rows):
        failed = [r.name for r in rows if r.verdict == "FAIL"]
        typer.secho(f"REGRESSION: {', '.join(failed)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.secho("no regression", fg=typer.colors.GREEN)


def _default_baseline(current: Path) -> Path:
    stem = "baseline" if current.stem == "current" else f"{current.stem}-baseline"
    return current.with_name(stem + current.suffix)


def accept(
    current: Path = typer.Argument(RESULTS / "current.json", help="Results to promote."),
    baseline: Path = typer.Option(
        None, "--baseline", help="Baseline to replace (default: baseline.json beside current)."
    ),
    min_delta_ms: float = typer.Option(1.0, "--min-delta-ms", min=0),
) -> None:
    """Promote CURRENT to baseline, only when it is not worse than the baseline (or there is
    none yet). The .txt summary beside it is copied too, for the guide's `diff`."""
    target = baseline or _default_baseline(current)
    if not current.exists():
        typer.secho(f"{current} does not exist: run the tests first", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if target.exists() and not no_regression(_run_compare(target, current, min_delta_ms)):
        typer.secho(
            "not promoted: current is worse than the baseline", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(1)
    shutil.copyfile(current, target)
    # The .json and .txt of a query run are one record in two forms: promote both.
    for suffix in (".json", ".txt"):
        twin = current.with_suffix(suffix)
        if twin != current and twin.exists():
            shutil.copyfile(twin, target.with_suffix(suffix))
    typer.echo(f"{current} promoted to {target}")

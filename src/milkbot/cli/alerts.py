"""`milkbot alerts ...`: the guide's alert rules, as a Prometheus file and as a live check."""

from __future__ import annotations

import urllib.error

import typer
from rich.console import Console
from rich.table import Table

from milkbot.cli.common import get_settings
from milkbot.monitoring.alerts import check as run_check
from milkbot.monitoring.alerts import render_rules, scrape

app = typer.Typer(help="Alert rules: print them, or check a running server.", no_args_is_help=True)


def _format(value: float, unit: str) -> str:
    return f"{value * 1000:.1f} ms" if unit == "seconds" else f"{value * 100:.2f}%"


@app.command()
def rules() -> None:
    """Print the Prometheus alerting rules (deployment/prometheus/alerts.yml is this output)."""
    typer.echo(render_rules(), nl=False)


@app.command()
def check(
    url: str = typer.Option(
        "http://127.0.0.1:8501", "--url", help="Base URL of a running Milkbot server."
    ),
    window: float = typer.Option(10.0, "--window", min=1, max=3600, help="Seconds to observe."),
    interval: float = typer.Option(1.0, "--interval", min=0.1, max=60, help="Seconds per scrape."),
) -> None:
    """Evaluate the alert rules against URL/metrics over a window; exit 1 listing what fired.
    /metrics is for operators: the scrapes send the bearer token of MILKBOT_METRICS_TOKEN_FILE."""
    if not url.startswith(("http://", "https://")):
        typer.secho("--url must start with http:// or https://", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    metrics_url = url.rstrip("/") + "/metrics"
    token = get_settings().metrics_token
    try:
        verdicts = run_check(
            metrics_url,
            window_s=window,
            interval_s=interval,
            fetch=lambda u: scrape(u, token=token),
        )
    except urllib.error.HTTPError as exc:
        hint = (
            ": /metrics is for operators; set MILKBOT_METRICS_TOKEN_FILE to the file holding "
            "the server's metrics token"
            if exc.code == 401
            else ""
        )
        typer.secho(f"cannot scrape {metrics_url}: {exc}{hint}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except (urllib.error.URLError, OSError) as exc:
        typer.secho(f"cannot scrape {metrics_url}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    table = Table("alert", "value", "threshold", "state", "detail")
    for v in verdicts:
        value = "no data" if v.value is None else _format(v.value, v.rule.unit)
        state = "[red]FIRING[/red]" if v.fired else "[green]ok[/green]"
        table.add_row(v.rule.name, value, _format(v.rule.threshold, v.rule.unit), state, v.detail)
    Console().print(table)
    fired = [v.rule.name for v in verdicts if v.fired]
    if fired:
        typer.secho(f"fired: {', '.join(fired)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)

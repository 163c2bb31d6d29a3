"""The `milkbot` command line."""

from __future__ import annotations

import typer

from milkbot.cli import alerts, db, serve

app = typer.Typer(
    name="milkbot",
    help="Milkbot platform: store, analytics, dashboard and performance harness.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(alerts.app, name="alerts")
app.command()(serve.up)
app.command()(serve.serve)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

"""The `milkbot` command line."""

from __future__ import annotations

import typer

from milkbot.cli import accounts, alerts, bench, db, gate, generate, perf, serve, users

app = typer.Typer(
    name="milkbot",
    help="Milkbot platform: store, analytics, dashboard and performance harness.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(accounts.app, name="accounts")
app.add_typer(users.app, name="users")
app.add_typer(alerts.app, name="alerts")
app.add_typer(bench.app, name="bench")
app.add_typer(perf.app, name="perf")
perf.app.command("compare")(gate.compare_results)
perf.app.command("accept")(gate.accept)
app.command()(serve.up)
app.command()(serve.serve)
app.command("generate-data")(generate.generate_data)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

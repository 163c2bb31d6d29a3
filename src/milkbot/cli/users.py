"""`milkbot users`: the operators who sign in to the dashboard (add, remove, passwd, list).

A password is asked for twice at a terminal, or read as one line from standard input with
``--password-stdin`` (for scripts; never as a flag, which would leave it in the shell's history
and the process list). Refusals are one red line naming what to fix: exit 2 for bad input, 1
for a write the store refused (a name taken, an unknown operator).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer

from milkbot.cli.common import database, get_settings

app = typer.Typer(
    help="Operators: who may sign in to see every account live.", no_args_is_help=True
)

NameArg = typer.Argument(..., help="The operator's name (lower case: a-z, 0-9, '_', '.', '-').")
StdinOpt = typer.Option(
    False, "--password-stdin", help="Read the password as one line from standard input."
)


def _fail(message: str, code: int) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        _fail("no terminal to ask for the password: pipe it in with --password-stdin", 2)
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _write(call: Callable[..., Any], *args: Any) -> Any:
    import psycopg

    from milkbot.store.errors import WriteError

    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        try:
            return call(conn, *args)
        except WriteError as exc:
            flag = {"name": "NAME", "password": "password"}.get(exc.field or "", exc.field)
            bad_input = exc.code in {"invalid", "too_short", "too_long", "nul_character"}
            _fail(f"{flag}: {exc.message}" if flag else exc.message, 2 if bad_input else 1)


@app.command()
def add(name: str = NameArg, password_stdin: bool = StdinOpt) -> None:
    """Add an operator (password: at least 12 characters)."""
    from milkbot.store.credentials import add_operator

    _write(add_operator, name, _read_password(password_stdin))
    typer.echo(f"added operator {name}")


@app.command()
def passwd(name: str = NameArg, password_stdin: bool = StdinOpt) -> None:
    """Set an operator's new password."""
    from milkbot.store.credentials import set_password

    _write(set_password, name, _read_password(password_stdin))
    typer.echo(f"changed the password of {name}")


@app.command()
def remove(name: str = NameArg) -> None:
    """Remove an operator: they can no longer sign in."""
    from milkbot.store.credentials import remove_operator

    _write(remove_operator, name)
    typer.echo(f"removed operator {name}")


@app.command("list")
def list_users() -> None:
    """List the operators (never their passwords)."""
    from milkbot.cli.common import utc_minute
    from milkbot.store.credentials import list_operators

    for op in _write(list_operators):
        typer.echo(
            f"{op.name}  added {utc_minute(op.created_at)}  "
            f"password changed {utc_minute(op.password_changed_at)}"
        )

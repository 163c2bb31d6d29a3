"""`milkbot accounts`: list, create and change accounts, and record their transfers.

Every flag is validated before anything is written (the store's models); a refusal is one red
line naming the flag to fix and a non-zero exit: 2 for a bad flag, 1 for a write the store
refused (a name taken, an unknown account, a withdrawal beyond equity).
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from pydantic import ValidationError

from milkbot import money
from milkbot.cli.common import database, get_settings

app = typer.Typer(
    help="Accounts: live, demo, shadow and replay bots, their bankrolls, limits and transfers.",
    no_args_is_help=True,
)

# Model fields -> the flags that set them (for error messages).
FLAGS = {
    "name": "NAME",
    "display_name": "--display-name",
    "mode": "--mode",
    "environment": "--environment",
    "starting_bankroll_dollars": "--bankroll",
    "balance_precision_dollars": "--balance-precision",
    "is_public": "--public/--private",
    "max_trade_bp": "--max-trade-bp",
    "max_city_bp": "--max-city-bp",
    "max_cluster_bp": "--max-cluster-bp",
    "max_open_bp": "--max-open-bp",
    "daily_loss_bp": "--daily-loss-bp",
    "description": "--description",
    "strategies": "--strategy",
    "account": "NAME",
    "amount_dollars": "AMOUNT",
    "client_transfer_id": "--id",
    "transferred_at": "--at",
    "note": "--note",
    "label": "--label",
    "public_delay_minutes": "--public-delay-minutes",
    "prefix": "PREFIX",
}


def _fail(message: str, code: int) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _invalid(exc: ValidationError) -> NoReturn:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else ""
    _fail(f"{FLAGS.get(field, field)}: {err['msg']}", 2)


def _build(model: type[Any], **fields: Any) -> Any:
    try:
        return model(**fields)
    except ValidationError as exc:
        _invalid(exc)


def _write(call: Any, *args: Any) -> Any:
    from milkbot.store.errors import WriteError

    try:
        return call(*args)
    except WriteError as exc:
        flag = FLAGS.get(exc.field or "", exc.field)
        _fail(f"{flag}: {exc.message}" if flag else exc.message, 1)


def _dollars(micros: int) -> str:
    text = money.format_dollars(micros)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def _percent(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}%"


DelayHelp = (
    "Minutes before the public sees a trade of this account (0 to 10080, a week); "
    "operators see it at once."
)
NameArg = typer.Argument(..., help="The account's name (lower case, digits, underscores).")
LimitOpt = {
    "max_trade_bp": "Per-trade limit, basis points of equity (200 = 2 %).",
    "max_city_bp": "Per-city open-cost limit, basis points of equity (300 = 3 %).",
    "max_cluster_bp": "Per-cluster open-cost limit, basis points of equity (500 = 5 %).",
    "max_open_bp": "All open cost, basis points of equity (1000 = 10 %).",
    "daily_loss_bp": "A day's net loss of this many basis points of equity pauses the next "
    "day's buys (500 = 5 %).",
}


@app.command("list")
def list_accounts() -> None:
    """List every account (public or private) with its mode, bankroll, equity, limits and
    strategies."""
    import psycopg

    from milkbot.store.accounts import list_accounts as listing

    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        rows = listing(conn)
    for row in rows:
        a = row.account
        visibility = "public" if a.is_public else "private"
        typer.echo(
            f"{a.name}  {a.display_name!r}  {a.mode}/{a.environment}  {visibility} "
            f"(delay {a.public_delay_minutes} min)  "
            f"bankroll {_dollars(a.starting_bankroll_micros)}  "
            f"equity {_dollars(row.equity_micros)}  "
            f"limits trade {_percent(a.max_trade_bp)} city {_percent(a.max_city_bp)} "
            f"cluster {_percent(a.max_cluster_bp)} open {_percent(a.max_open_bp)} "
            f"daily loss {_percent(a.daily_loss_bp)}  "
            f"strategies {', '.join(row.strategies) or '-'}"
        )


@app.command()
def create(
    name: str = NameArg,
    display_name: str = typer.Option(..., "--display-name", help="Name shown on the pages."),
    mode: str = typer.Option(..., "--mode", help="live, demo, shadow or replay."),
    environment: str = typer.Option(
        ..., "--environment", help="production, demo or simulated (where its orders go)."
    ),
    bankroll: str = typer.Option(..., "--bankroll", help="Starting bankroll in dollars."),
    balance_precision: str = typer.Option(
        "0.01", "--balance-precision", help="0.01, or 0.0001 for direct members."
    ),
    public: bool = typer.Option(True, "--public/--private", help="Shown on the served pages."),
    public_delay_minutes: int = typer.Option(60, "--public-delay-minutes", help=DelayHelp),
    max_trade_bp: int = typer.Option(200, "--max-trade-bp", help=LimitOpt["max_trade_bp"]),
    max_city_bp: int = typer.Option(300, "--max-city-bp", help=LimitOpt["max_city_bp"]),
    max_cluster_bp: int = typer.Option(500, "--max-cluster-bp", help=LimitOpt["max_cluster_bp"]),
    max_open_bp: int = typer.Option(1000, "--max-open-bp", help=LimitOpt["max_open_bp"]),
    daily_loss_bp: int = typer.Option(500, "--daily-loss-bp", help=LimitOpt["daily_loss_bp"]),
    description: str = typer.Option("", "--description", help="What the account is for."),
    strategy: list[str] = typer.Option(
        [], "--strategy", help="A strategy it runs (repeat the flag for several)."
    ),
) -> None:
    """Create an account."""
    import psycopg

    from milkbot.store.accounts import create_account
    from milkbot.store.models import AccountIn

    account = _build(
        AccountIn,
        name=name,
        display_name=display_name,
        mode=mode,
        environment=environment,
        starting_bankroll_dollars=bankroll,
        balance_precision_dollars=balance_precision,
        is_public=public,
        max_trade_bp=max_trade_bp,
        max_city_bp=max_city_bp,
        max_cluster_bp=max_cluster_bp,
        max_open_bp=max_open_bp,
        daily_loss_bp=daily_loss_bp,
        description=description,
        strategies=tuple(strategy),
        public_delay_minutes=public_delay_minutes,
    )
    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        created = _write(create_account, conn, account)
    typer.echo(
        f"created account {created.name} ({created.mode}/{created.environment}, "
        f"bankroll {_dollars(created.starting_bankroll_micros)})"
    )


@app.command()
def update(
    name: str = NameArg,
    display_name: str | None = typer.Option(None, "--display-name", help="Name shown."),
    public: bool | None = typer.Option(
        None, "--public/--private", help="Shown on the served pages."
    ),
    public_delay_minutes: int | None = typer.Option(None, "--public-delay-minutes", help=DelayHelp),
    max_trade_bp: int | None = typer.Option(None, "--max-trade-bp", help=LimitOpt["max_trade_bp"]),
    max_city_bp: int | None = typer.Option(None, "--max-city-bp", help=LimitOpt["max_city_bp"]),
    max_cluster_bp: int | None = typer.Option(
        None, "--max-cluster-bp", help=LimitOpt["max_cluster_bp"]
    ),
    max_open_bp: int | None = typer.Option(None, "--max-open-bp", help=LimitOpt["max_open_bp"]),
    daily_loss_bp: int | None = typer.Option(
        None, "--daily-loss-bp", help=LimitOpt["daily_loss_bp"]
    ),
    description: str | None = typer.Option(None, "--description", help="What it is for."),
    strategy: list[str] | None = typer.Option(
        None, "--strategy", help="The strategies it runs (replaces them; repeat the flag)."
    ),
) -> None:
    """Change an account's display name, visibility, public delay, limits, description or
    strategies (its name, mode, environment and bankroll are its history's meaning and never
    change)."""
    import psycopg

    from milkbot.store.accounts import update_account
    from milkbot.store.models import AccountUpdate

    changes = _build(
        AccountUpdate,
        display_name=display_name,
        is_public=public,
        public_delay_minutes=public_delay_minutes,
        max_trade_bp=max_trade_bp,
        max_city_bp=max_city_bp,
        max_cluster_bp=max_cluster_bp,
        max_open_bp=max_open_bp,
        daily_loss_bp=daily_loss_bp,
        description=description,
        strategies=tuple(strategy) if strategy else None,
    )
    if not changes.model_dump(exclude_none=True):
        _fail("nothing to change: give at least one flag (see --help)", 2)
    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        updated = _write(update_account, conn, name, changes)
    typer.echo(f"updated account {updated.name}")


@app.command()
def transfer(
    name: str = NameArg,
    amount: str = typer.Argument(
        ..., help="Dollars: positive deposits, negative withdraws (e.g. 250.00, -- -100)."
    ),
    client_id: str = typer.Option(
        ..., "--id", help="Your id for this transfer: the same id again records nothing new."
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        help="When it happened, ISO 8601 with a time zone, e.g. 2026-11-26T14:05:00Z "
        "(default: now).",
    ),
    note: str = typer.Option("", "--note", help="A note kept with it."),
) -> None:
    """Record a deposit or a withdrawal (it moves the account's equity, and so its limits)."""
    import psycopg

    from milkbot.store.accounts import record_transfer
    from milkbot.store.models import TransferIn

    move = _build(
        TransferIn,
        account=name,
        client_transfer_id=client_id,
        amount_dollars=amount,
        transferred_at=at,
        note=note,
    )
    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        recorded = _write(record_transfer, conn, move)
    what = "already recorded" if recorded.duplicate else "recorded"
    typer.echo(
        f"transfer {client_id} {what}; {name}'s equity is {_dollars(recorded.equity_micros)}"
    )


keys = typer.Typer(
    help="The bots' API keys: each writes to its own account only; shown once when made.",
    no_args_is_help=True,
)
app.add_typer(keys, name="keys")


@keys.command("create")
def create_key(
    name: str = NameArg,
    label: str = typer.Option("", "--label", help="What the key is for (e.g. the bot's host)."),
) -> None:
    """Make an API key for the account and print it: it is stored only as a hash, so copy it
    now (to a 0600 file or the bot's secret store)."""
    import psycopg

    from milkbot.store.credentials import create_api_key

    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        issued = _write(create_api_key, conn, name, label)
    typer.echo(issued.key)
    typer.secho(
        f"key {issued.prefix} writes to {issued.account}; it is shown only this once",
        err=True,
    )


@keys.command("list")
def list_keys(
    name: str | None = typer.Argument(None, help="Only this account's keys."),
) -> None:
    """List the keys (prefix, account, label, made, last used, revoked), never the keys."""
    import psycopg

    from milkbot.cli.common import utc_minute
    from milkbot.store.credentials import list_api_keys

    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        found = _write(list_api_keys, conn, name)
    for k in found:
        state = f"revoked {utc_minute(k.revoked_at)}" if k.revoked_at else "active"
        typer.echo(
            f"{k.prefix}  {k.account}  {k.label or '-'!s}  made {utc_minute(k.created_at)}  "
            f"last used {utc_minute(k.last_used_at)}  {state}"
        )


@keys.command("revoke")
def revoke_key(
    prefix: str = typer.Argument(..., help="The key's prefix (the 8 characters after mk_)."),
) -> None:
    """Revoke a key: it stops working at once."""
    import psycopg

    from milkbot.store.credentials import revoke_api_key

    settings = get_settings()
    with database(settings) as url, psycopg.connect(url, autocommit=True) as conn:
        revoked = _write(revoke_api_key, conn, prefix)
    typer.echo(f"revoked key {revoked.prefix} of {revoked.account}")

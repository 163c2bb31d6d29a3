"""Accounts administration: create and change accounts, record their transfers, list them.

Each function runs in one transaction on the connection it is given and raises
:class:`~milkbot.store.errors.WriteError` naming the field to fix. The CLI
(``milkbot accounts``) calls these; so does ``milkbot up`` for its demo and paper accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from milkbot import money
from milkbot.store.errors import WriteError, checked, database_errors
from milkbot.store.limits import Account, account_named, equity_micros, lock_account
from milkbot.store.models import AccountIn, AccountUpdate, TransferIn

__all__ = [
    "Account",
    "AccountIn",
    "AccountListing",
    "AccountUpdate",
    "RecordedTransfer",
    "TransferIn",
    "create_account",
    "list_accounts",
    "record_transfer",
    "update_account",
]


@dataclass(frozen=True, slots=True)
class AccountListing:
    """An account, its strategies and its equity now (micros)."""

    account: Account
    strategies: tuple[str, ...]
    equity_micros: int


@dataclass(frozen=True, slots=True)
class RecordedTransfer:
    """Outcome of :func:`record_transfer`."""

    id: int
    duplicate: bool
    equity_micros: int


def _strategy_ids(conn: psycopg.Connection, names: tuple[str, ...]) -> list[int]:
    rows: dict[str, int] = dict(
        conn.execute(
            "SELECT name, id FROM ops.strategies WHERE name = ANY(%s)", [list(names)]
        ).fetchall()
    )
    unknown = [n for n in names if n not in rows]
    if unknown:
        raise WriteError(
            f"unknown strategy {unknown[0]!r}", field="strategies", code="unknown_strategy"
        )
    return [int(rows[n]) for n in names]


def _set_strategies(conn: psycopg.Connection, account_id: int, names: tuple[str, ...]) -> None:
    ids = _strategy_ids(conn, names)
    conn.execute("DELETE FROM ops.account_strategies WHERE account_id = %s", [account_id])
    conn.execute(
        "INSERT INTO ops.account_strategies (account_id, strategy_id)"
        " SELECT %s, unnest(%s::smallint[]) ON CONFLICT DO NOTHING",
        [account_id, ids],
    )


def create_account(
    conn: psycopg.Connection, account: AccountIn, *, exist_ok: bool = False
) -> Account:
    """Create an account and return it. A name already taken is refused (``conflict``), or,
    with ``exist_ok``, the existing account is returned unchanged (what ``milkbot up`` wants:
    an operator's later changes to it stay)."""
    account = checked(account)
    with database_errors(), conn.transaction():
        row = conn.execute(
            """
            INSERT INTO ops.accounts (name, display_name, mode, environment,
                starting_bankroll_micros, balance_precision_micros, is_public, max_trade_bp,
                max_city_bp, max_cluster_bp, max_open_bp, daily_loss_bp, description,
                public_delay_minutes)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (name) DO NOTHING
            RETURNING id
            """,
            [
                account.name,
                account.display_name,
                account.mode,
                account.environment,
                money.parse_dollars(account.starting_bankroll_dollars),
                money.parse_dollars(account.balance_precision_dollars),
                account.is_public,
                account.max_trade_bp,
                account.max_city_bp,
                account.max_cluster_bp,
                account.max_open_bp,
                account.daily_loss_bp,
                account.description,
                account.public_delay_minutes,
            ],
        ).fetchone()
        if row is None:
            if exist_ok:
                return account_named(conn, account.name)
            raise WriteError(
                f"account {account.name!r} already exists", field="name", code="conflict"
            )
        _set_strategies(conn, int(row[0]), account.strategies)
        return account_named(conn, account.name)


def update_account(conn: psycopg.Connection, name: str, changes: AccountUpdate) -> Account:
    """Change an account's display name, visibility, public delay, limits, description or
    strategies."""
    changes = checked(changes)
    with database_errors(), conn.transaction():
        current = lock_account(conn, account_named(conn, name).id)
        values = changes.model_dump(exclude_none=True, exclude={"strategies"})
        if values:
            conn.execute(
                sql.SQL("UPDATE ops.accounts SET {} WHERE id = {}").format(
                    sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v))
                        for k, v in values.items()
                    ),
                    sql.Literal(current.id),
                )
            )
        if changes.strategies is not None:
            _set_strategies(conn, current.id, changes.strategies)
        return account_named(conn, name)


def record_transfer(conn: psycopg.Connection, transfer: TransferIn) -> RecordedTransfer:
    """Record a deposit or withdrawal idempotently (the same ``client_transfer_id`` again
    returns the stored one; a different amount under it is refused as ``conflict``). A
    withdrawal that would take the account's equity below zero is refused
    (``insufficient_equity``)."""
    transfer = checked(transfer)
    amount = money.parse_dollars(transfer.amount_dollars)
    with database_errors(), conn.transaction():
        account = lock_account(conn, account_named(conn, transfer.account).id)
        existing = conn.execute(
            "SELECT id, amount_micros FROM ops.account_transfers"
            " WHERE account_id = %s AND client_transfer_id = %s",
            [account.id, transfer.client_transfer_id],
        ).fetchone()
        if existing is not None:
            if int(existing[1]) != amount:
                raise WriteError(
                    f"client_transfer_id {transfer.client_transfer_id!r} was already recorded "
                    f"with amount {money.format_dollars(int(existing[1]))}",
                    field="client_transfer_id",
                    code="conflict",
                )
            return RecordedTransfer(int(existing[0]), True, equity_micros(conn, account))
        equity = equity_micros(conn, account)
        if equity + amount < 0:
            raise WriteError(
                f"withdrawal of ${money.format_dollars(-amount)} exceeds account "
                f"{account.name}'s equity of ${money.format_dollars(equity)}",
                field="amount_dollars",
                code="insufficient_equity",
            )
        row = conn.execute(
            """
            INSERT INTO ops.account_transfers (account_id, client_transfer_id, transferred_at,
                                               amount_micros, note)
            VALUES (%s, %s, coalesce(%s, now()), %s, %s)
            RETURNING id
            """,
            [
                account.id,
                transfer.client_transfer_id,
                transfer.transferred_at,
                amount,
                transfer.note,
            ],
        ).fetchone()
        assert row is not None
        return RecordedTransfer(int(row[0]), False, equity + amount)


def list_accounts(conn: psycopg.Connection) -> list[AccountListing]:
    """Every account (public or not), by name, with its strategies and equity now."""
    names = [r[0] for r in conn.execute("SELECT name FROM ops.accounts ORDER BY name")]
    listing = []
    for name in names:
        account = account_named(conn, name)
        strategies = tuple(
            r[0]
            for r in conn.execute(
                "SELECT s.name FROM ops.account_strategies x JOIN ops.strategies s"
                " ON s.id = x.strategy_id WHERE x.account_id = %s ORDER BY s.name",
                [account.id],
            )
        )
        listing.append(AccountListing(account, strategies, equity_micros(conn, account)))
    return listing

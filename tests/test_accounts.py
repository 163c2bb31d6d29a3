"""Accounts administration: the store's functions, and `milkbot accounts` run as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import psycopg
import pytest
from pydantic import ValidationError

from milkbot.store.accounts import (
    AccountIn,
    AccountUpdate,
    TransferIn,
    create_account,
    list_accounts,
    record_transfer,
    update_account,
)
from milkbot.store.errors import WriteError


def _paper(**kw: object) -> AccountIn:
    fields: dict[str, object] = {
        "name": "paper",
        "display_name": "Paper bot",
        "mode": "demo",
        "environment": "simulated",
        "starting_bankroll_dollars": "500.00",
        "strategies": ("nowcast", "ensemble"),
        **kw,
    }
    return AccountIn(**fields)


def test_create_list_update_and_transfer(conn: psycopg.Connection) -> None:
    created = create_account(conn, _paper())
    assert (created.name, created.starting_bankroll_micros, created.max_city_bp) == (
        "paper",
        500_000_000,
        300,
    )
    with pytest.raises(WriteError) as info:
        create_account(conn, _paper())
    assert (info.value.field, info.value.code) == ("name", "conflict")
    # exist_ok returns the account as it is, not as given.
    same = create_account(conn, _paper(display_name="Other"), exist_ok=True)
    assert same.display_name == "Paper bot"
    updated = update_account(
        conn, "paper", AccountUpdate(max_city_bp=250, is_public=False, strategies=("nowcast",))
    )
    assert (updated.max_city_bp, updated.is_public, updated.max_trade_bp) == (250, False, 200)
    first = record_transfer(
        conn, TransferIn(account="paper", client_transfer_id="d1", amount_dollars="250.005")
    )
    again = record_transfer(
        conn, TransferIn(account="paper", client_transfer_id="d1", amount_dollars="250.005")
    )
    assert (first.duplicate, again.duplicate, again.id) == (False, True, first.id)
    assert first.equity_micros == 750_005_000
    with pytest.raises(WriteError) as info:
        record_transfer(
            conn, TransferIn(account="paper", client_transfer_id="d1", amount_dollars="1")
        )
    assert info.value.code == "conflict"
    listing = {row.account.name: row for row in list_accounts(conn)}
    assert listing["paper"].strategies == ("nowcast",)
    assert listing["paper"].equity_micros == 750_005_000
    assert listing["default"].equity_micros == 992_100_000


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mode": "live", "environment": "demo"}, None),  # live trades production only
        ({"mode": "replay", "environment": "demo"}, None),
        ({"starting_bankroll_dollars": "0"}, "starting_bankroll_dollars"),
        ({"starting_bankroll_dollars": 500.0}, "starting_bankroll_dollars"),
        ({"balance_precision_dollars": "0.001"}, "balance_precision_dollars"),
        ({"max_trade_bp": 0}, "max_trade_bp"),
        ({"daily_loss_bp": 10_001}, "daily_loss_bp"),
        ({"name": "Paper"}, "name"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(
    fields: dict[str, object], field: str | None
) -> None:
    with pytest.raises(ValidationError) as info:
        _paper(**fields)
    assert info.value.errors()[0]["loc"] == ((field,) if field else ())


def test_unknown_strategy_and_account_are_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(WriteError) as info:
        create_account(conn, _paper(strategies=("alchemy",)))
    assert (info.value.field, info.value.code) == ("strategies", "unknown_strategy")
    assert conn.execute("SELECT count(*) FROM ops.accounts").fetchone() == (1,)
    with pytest.raises(WriteError) as info:
        update_account(conn, "nobody", AccountUpdate(max_trade_bp=100))
    assert info.value.code == "unknown_account"


def test_zero_transfer_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not be zero"):
        TransferIn(account="default", client_transfer_id="z", amount_dollars=Decimal("0.00"))


def _milkbot(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MILKBOT_DATABASE_URL": db_url, "MILKBOT_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "milkbot", "accounts", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_as_a_process(db_url: str) -> None:
    done = _milkbot(
        db_url,
        "create",
        "paper_nowcast",
        "--display-name",
        "Paper: nowcast",
        "--mode",
        "demo",
        "--environment",
        "simulated",
        "--bankroll",
        "750.00",
        "--strategy",
        "nowcast",
        "--max-city-bp",
        "250",
    )
    assert done.returncode == 0, done.stderr
    assert "created account paper_nowcast (demo/simulated, bankroll $750.00)" in done.stdout
    done = _milkbot(db_url, "transfer", "paper_nowcast", "--id", "w1", "--", "-50.25")
    assert done.returncode == 0, done.stderr
    assert "equity is $699.75" in done.stdout
    done = _milkbot(db_url, "update", "paper_nowcast", "--private", "--max-trade-bp", "150")
    assert done.returncode == 0, done.stderr
    listed = _milkbot(db_url, "list")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("paper_nowcast "))
    assert "private" in line and "equity $699.75" in line and "trade 1.50%" in line
    assert "city 2.50%" in line and "strategies nowcast" in line


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            [
                "create",
                "x",
                "--display-name",
                "X",
                "--mode",
                "live",
                "--environment",
                "demo",
                "--bankroll",
                "10",
            ],
            2,
            "a live account runs in environment production, not demo",
        ),
        (
            [
                "create",
                "x",
                "--display-name",
                "X",
                "--mode",
                "demo",
                "--environment",
                "demo",
                "--bankroll",
                "10.0000001",
            ],
            2,
            "--bankroll: has more than 6 decimals",
        ),
        (
            [
                "create",
                "default",
                "--display-name",
                "X",
                "--mode",
                "demo",
                "--environment",
                "demo",
                "--bankroll",
                "10",
            ],
            1,
            "NAME: account 'default' already exists",
        ),
        (["update", "nobody", "--max-trade-bp", "100"], 1, "NAME: unknown account 'nobody'"),
        (["update", "default", "--max-trade-bp", "0"], 2, "--max-trade-bp:"),
        (["update", "default"], 2, "nothing to change"),
        (["transfer", "default", "--id", "w", "--", "-5000"], 1, "exceeds account default's"),
        (["transfer", "default", "--id", "w", "0"], 2, "AMOUNT: Value error, must not be zero"),
        (["transfer", "default", "--id", "w", "5", "--at", "2026-11-26T14:05"], 2, "--at:"),
    ],
)
def test_cli_refusals_name_the_flag(db_url: str, args: list[str], code: int, message: str) -> None:
    done = _milkbot(db_url, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr

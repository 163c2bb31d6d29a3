"""`milkbot up`'s accounts: a demo account and three paper bots created once, traded by the
simulator as their own accounts, the demo account served as the primary one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest

from milkbot.cli.serve import DEMO_ACCOUNT, UP_ACCOUNTS
from milkbot.store.accounts import AccountUpdate, update_account
from tests.helpers import add_event
from tests.net import free_port
from tests.test_serve_lifecycle import start_serve

ENV = {"MILKBOT_SIMULATOR_INTERVAL": "0.1", "MILKBOT_LOG_LEVEL": "INFO"}


def _accounts(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT a.name, a.mode, a.environment, a.max_trade_bp, array_agg(s.name)"
            " FROM ops.accounts a LEFT JOIN ops.account_strategies x ON x.account_id = a.id"
            " LEFT JOIN ops.strategies s ON s.id = x.strategy_id"
            " WHERE a.name <> 'default' GROUP BY 1, 2, 3, 4 ORDER BY 1"
        ).fetchall()


def _beating(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT a.name FROM ops.component_health h"
            " JOIN ops.accounts a ON a.id = h.account_id"
        ).fetchall()
    return {str(r[0]) for r in rows}


def _wait_for_heartbeats(url: str, names: set[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if names <= _beating(url):
            return
        time.sleep(0.1)  # polling the simulator thread of another process, bounded
    pytest.fail(f"no heartbeats from {sorted(names - _beating(url))} in {timeout_s} s")


def test_up_creates_its_accounts_once_and_runs_a_bot_for_each(
    db_url: str, conn: psycopg.Connection
) -> None:
    add_event(conn)  # data present: `up` loads no demo data (the generator is not under test)
    names = {a.name for a in UP_ACCOUNTS}
    served = start_serve(db_url, free_port(), ("up", "--simulator"), ENV)
    try:
        _wait_for_heartbeats(db_url, names)
    finally:
        out = served.stop()
    assert f"primary account: {DEMO_ACCOUNT}" in out, out
    assert "created 4 accounts: demo, paper_reversion, paper_nowcast, replay_ensemble" in out
    assert _accounts(db_url) == sorted(
        (a.name, a.mode, a.environment, 200, [a.strategy]) for a in UP_ACCOUNTS
    )
    modes = {(a.mode, a.environment) for a in UP_ACCOUNTS}
    assert ("demo", "demo") in modes and ("replay", "simulated") in modes
    assert len({a.strategy for a in UP_ACCOUNTS}) == len(UP_ACCOUNTS)
    # An operator's change survives the next start; nothing is created twice.
    update_account(conn, DEMO_ACCOUNT, AccountUpdate(max_trade_bp=150))
    served = start_serve(db_url, free_port(), ("up", "--simulator"), ENV)
    out = served.stop()
    assert "created" not in out, out
    assert [r[3] for r in _accounts(db_url) if r[0] == DEMO_ACCOUNT] == [150]
    assert len(_accounts(db_url)) == len(UP_ACCOUNTS)


def test_up_without_the_simulator_keeps_the_configured_primary(
    db_url: str, conn: psycopg.Connection
) -> None:
    add_event(conn)
    served = start_serve(db_url, free_port(), ("up", "--no-simulator"), ENV)
    out = served.stop()
    assert "primary account: default" in out, out
    assert _accounts(db_url) == []


def test_up_refuses_a_primary_account_that_does_not_exist(
    db_url: str, conn: psycopg.Connection
) -> None:
    add_event(conn)
    env = {
        **os.environ,
        **ENV,
        "MILKBOT_DATABASE_URL": db_url,
        "MILKBOT_PRIMARY_ACCOUNT": "nobody",
        "MILKBOT_PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "milkbot", "up", "--no-simulator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "unknown account 'nobody'" in done.stderr
    assert "MILKBOT_PRIMARY_ACCOUNT" in done.stderr and "Traceback" not in done.stderr

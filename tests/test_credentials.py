"""Operators' passwords and the bots' API keys (milkbot.store.credentials), and the commands
that manage them, run as processes the way an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from milkbot.store import credentials
from milkbot.store.credentials import (
    add_operator,
    authenticate_key,
    check_password,
    create_api_key,
    list_api_keys,
    remove_operator,
    revoke_api_key,
    set_password,
)
from milkbot.store.errors import WriteError

PASSWORD = "correct horse battery"


def _milkbot(db_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MILKBOT_DATABASE_URL": db_url, "MILKBOT_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "milkbot", *args],
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _everything_stored(conn: psycopg.Connection) -> str:
    rows = conn.execute(
        "SELECT o::text FROM ops.operators o UNION ALL SELECT k::text FROM ops.api_keys k"
    ).fetchall()
    return "\n".join(r[0] for r in rows)


def test_passwords_are_argon2id_hashes_and_checked(conn: psycopg.Connection) -> None:
    add_operator(conn, "alice", PASSWORD)
    stored = conn.execute("SELECT password_hash FROM ops.operators").fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$")
    assert PASSWORD not in _everything_stored(conn)
    assert check_password(conn, "alice", PASSWORD)
    assert not check_password(conn, "alice", PASSWORD + "!")
    assert not check_password(conn, "alice", "")
    assert not check_password(conn, "alice", "x" * 100_000)  # too long: wrong, and cheap
    assert not check_password(conn, "nobody", PASSWORD)
    set_password(conn, "alice", "a new long password")
    assert not check_password(conn, "alice", PASSWORD)
    assert check_password(conn, "alice", "a new long password")
    remove_operator(conn, "alice")
    assert not check_password(conn, "alice", "a new long password")


def test_an_unknown_operator_costs_a_hash_check_too(
    conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No telling which names exist by how fast a wrong login answers."""
    checked: list[str] = []
    real = credentials._hasher

    class Counting:
        def verify(self, stored: str, password: str) -> bool:
            checked.append(stored)
            return real.verify(stored, password)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(credentials, "_hasher", Counting())
    add_operator(conn, "alice", PASSWORD)
    assert not check_password(conn, "nobody", PASSWORD)
    assert not check_password(conn, "alice", "wrong password!")
    assert len(checked) == 2 and checked[0] == credentials._DUMMY_HASH


@pytest.mark.parametrize(
    ("name", "password", "field", "message"),
    [
        ("Alice", PASSWORD, "name", "lower-case"),
        ("a" * 64, PASSWORD, "name", "at most 63"),
        ("al ice", PASSWORD, "name", "only a-z"),
        ("alice", "short", "password", "at least 12"),
        ("alice", "x" * 1025, "password", "at most 1024"),
        ("alice", "twelve chars\x00", "password", "NUL"),
    ],
)
def test_bad_operators_are_refused_naming_the_field(
    conn: psycopg.Connection, name: str, password: str, field: str, message: str
) -> None:
    with pytest.raises(WriteError, match=message) as refused:
        add_operator(conn, name, password)
    assert refused.value.field == field
    assert conn.execute("SELECT count(*) FROM ops.operators").fetchone() == (0,)


def test_a_name_is_taken_once(conn: psycopg.Connection) -> None:
    add_operator(conn, "alice", PASSWORD)
    with pytest.raises(WriteError, match="exists already"):
        add_operator(conn, "alice", "another password")
    assert check_password(conn, "alice", PASSWORD)
    with pytest.raises(WriteError, match="no operator"):
        set_password(conn, "bob", PASSWORD)
    with pytest.raises(WriteError, match="no operator"):
        remove_operator(conn, "bob")


def test_a_key_writes_to_its_own_account_until_revoked(conn: psycopg.Connection) -> None:
    issued = create_api_key(conn, "default", "host1")
    assert issued.key.startswith(f"mk_{issued.prefix}_") and len(issued.key) == 3 + 8 + 1 + 43
    assert issued.key not in _everything_stored(conn)
    account_id = conn.execute("SELECT id FROM ops.accounts WHERE name = 'default'").fetchone()
    assert account_id is not None
    assert authenticate_key(conn, issued.key) == account_id[0]
    (listed,) = list_api_keys(conn, "default")
    assert (listed.prefix, listed.account, listed.label) == (issued.prefix, "default", "host1")
    assert listed.last_used_at is not None and listed.revoked_at is None
    # Another secret under the same prefix, a cut key, junk: all unknown.
    secret = issued.key.rsplit("_", 1)[1]
    forged = issued.key[: -len(secret)] + ("A" if secret[0] != "A" else "B") + secret[1:]
    for wrong in (forged, issued.key[:-1], "", "mk_", "Bearer " + issued.key, issued.key + "x"):
        assert authenticate_key(conn, wrong) is None, wrong
    revoke_api_key(conn, issued.prefix)
    assert authenticate_key(conn, issued.key) is None
    assert list_api_keys(conn)[0].revoked_at is not None


def test_keys_are_unique_and_refused_for_unknown_accounts(conn: psycopg.Connection) -> None:
    keys = {create_api_key(conn, "default").key for _ in range(20)}
    assert len(keys) == 20 and len({k.split("_")[1] for k in keys}) == 20
    with pytest.raises(WriteError, match="unknown account") as refused:
        create_api_key(conn, "nosuch")
    assert refused.value.field == "account"
    with pytest.raises(WriteError, match="at most 200"):
        create_api_key(conn, "default", "x" * 201)
    with pytest.raises(WriteError, match="no key"):
        revoke_api_key(conn, "zzzzzzzz")


def test_users_commands_as_processes(db_url: str) -> None:
    added = _milkbot(db_url, "users", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert (added.returncode, added.stdout.strip()) == (0, "added operator alice"), added.stderr
    listed = _milkbot(db_url, "users", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("alice  added ")
    assert PASSWORD not in listed.stdout
    with psycopg.connect(db_url) as conn:
        assert check_password(conn, "alice", PASSWORD)
    changed = _milkbot(
        db_url, "users", "passwd", "alice", "--password-stdin", stdin="new pw long enough"
    )
    assert changed.returncode == 0, changed.stderr
    with psycopg.connect(db_url) as conn:
        assert check_password(conn, "alice", "new pw long enough")
    removed = _milkbot(db_url, "users", "remove", "alice")
    assert removed.returncode == 0 and "removed operator alice" in removed.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (
            ["users", "add", "bob", "--password-stdin"],
            "short\n",
            2,
            "password: must be at least 12",
        ),
        (["users", "add", "Bob", "--password-stdin"], PASSWORD, 2, "NAME: must start"),
        (["users", "add", "bob"], None, 2, "no terminal to ask for the password"),
        (["users", "remove", "nobody"], None, 1, "NAME: no operator named 'nobody'"),
        (["accounts", "keys", "create", "nosuch"], None, 1, "NAME: unknown account 'nosuch'"),
        (["accounts", "keys", "revoke", "zzzzzzzz"], None, 1, "PREFIX: no key with prefix"),
    ],
)
def test_commands_refuse_naming_what_to_fix(
    db_url: str, args: list[str], stdin: str | None, code: int, message: str
) -> None:
    done = _milkbot(db_url, *args, stdin=stdin)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_keys_commands_as_processes(db_url: str) -> None:
    made = _milkbot(db_url, "accounts", "keys", "create", "default", "--label", "bot host")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("mk_") and "shown only this once" in made.stderr
    prefix = key.split("_")[1]
    listed = _milkbot(db_url, "accounts", "keys", "list", "default")
    assert listed.returncode == 0
    assert (
        listed.stdout.startswith(f"{prefix}  default  bot host  made ")
        and "active" in listed.stdout
    )
    assert key.split("_", 2)[2] not in listed.stdout
    with psycopg.connect(db_url) as conn:
        assert authenticate_key(conn, key) is not None
    revoked = _milkbot(db_url, "accounts", "keys", "revoke", prefix)
    assert revoked.returncode == 0 and f"revoked key {prefix} of default" in revoked.stdout
    with psycopg.connect(db_url) as conn:
        assert authenticate_key(conn, key) is None
    assert "revoked 2" in _milkbot(db_url, "accounts", "keys", "list").stdout

"""Who may sign in and which bot may write: operators' passwords and the accounts' API keys.

Passwords are kept only as argon2id hashes (argon2-cffi's defaults: 64 MiB, 3 passes, 4 lanes),
re-hashed on a successful check when those defaults have changed. API keys are
``mk_<prefix>_<secret>``: an 8-character lookup prefix and 256 random bits; only the prefix and
the key's SHA-256 are stored, so the key is shown once, when it is made (migration 0009 says why
a fast hash is right for a random key and not for a password).

Each function runs in one transaction on the connection it is given and raises
:class:`~milkbot.store.errors.WriteError` naming the field to fix. ``milkbot users`` and
``milkbot accounts keys`` call these.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from milkbot.store.errors import WriteError
from milkbot.store.limits import account_named

__all__ = [
    "ApiKey",
    "IssuedKey",
    "Operator",
    "add_operator",
    "authenticate_key",
    "check_password",
    "create_api_key",
    "list_api_keys",
    "list_operators",
    "remove_operator",
    "revoke_api_key",
    "set_password",
    "verify_password",
]

OPERATOR_NAME: Final = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
MIN_PASSWORD: Final = 12
# argon2 hashes whatever it is given; a bound keeps one request from costing seconds.
MAX_PASSWORD: Final = 1024
KEY_PREFIX_LENGTH: Final = 8
KEY_FORM: Final = re.compile(r"^mk_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$")
MAX_LABEL: Final = 200

_hasher = PasswordHasher()
# Checked against when the operator does not exist, so that an unknown name costs the same
# time as a wrong password (no way to tell which names exist by timing).
_DUMMY_HASH: Final = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    created_at: datetime
    password_changed_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: never the key itself."""

    prefix: str
    account: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just made: ``key`` exists only here, shown once."""

    key: str
    prefix: str
    account: str
    label: str


def _operator_name(name: str) -> str:
    if not OPERATOR_NAME.fullmatch(name):
        raise WriteError(
            "must start with a lower-case letter and hold only a-z, 0-9, '_', '.', '-' "
            "(at most 63 characters)",
            "name",
        )
    return name


def _password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise WriteError(f"must be at least {MIN_PASSWORD} characters", "password", "too_short")
    if len(password) > MAX_PASSWORD:
        raise WriteError(f"must be at most {MAX_PASSWORD} characters", "password", "too_long")
    if "\x00" in password:
        raise WriteError("must not contain NUL characters", "password", "nul_character")
    return password


def add_operator(conn: psycopg.Connection, name: str, password: str) -> Operator:
    """Create an operator who signs in with ``password``."""
    hashed = _hasher.hash(_password(password))
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO ops.operators (name, password_hash) VALUES (%s, %s)"
            " ON CONFLICT (name) DO NOTHING RETURNING name, created_at, password_changed_at",
            [_operator_name(name), hashed],
        ).fetchone()
    if row is None:
        raise WriteError(f"an operator named {name!r} exists already", "name", "duplicate")
    return Operator(*row)


def set_password(conn: psycopg.Connection, name: str, password: str) -> None:
    """Give operator ``name`` a new password, ending their sessions."""
    hashed = _hasher.hash(_password(password))
    with conn.transaction():
        row = conn.execute(
            "UPDATE ops.operators SET password_hash = %s, password_changed_at = now()"
            " WHERE name = %s RETURNING id",
            [hashed, name],
        ).fetchone()
        if row is None:
            raise WriteError(f"no operator named {name!r}", "name", "unknown_operator")
        # Whoever signed in with the old password is signed out.
        conn.execute("DELETE FROM ops.operator_sessions WHERE operator_id = %s", [row[0]])


def remove_operator(conn: psycopg.Connection, name: str) -> None:
    """Remove operator ``name``: they can no longer sign in, and their sessions end."""
    with conn.transaction():
        done = conn.execute("DELETE FROM ops.operators WHERE name = %s", [name]).rowcount
    if not done:
        raise WriteError(f"no operator named {name!r}", "name", "unknown_operator")


def list_operators(conn: psycopg.Connection) -> list[Operator]:
    rows = conn.execute(
        "SELECT name, created_at, password_changed_at FROM ops.operators ORDER BY name"
    ).fetchall()
    return [Operator(*row) for row in rows]


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored`` (an operator's hash; None for no such
    operator), and the new hash to store when argon2's parameters have changed since. Costs one
    argon2 check either way, so an unknown name answers as slowly as a wrong password; an
    out-of-bounds password is simply wrong. CPU-bound (~50 ms): the web runs it in a thread."""
    if len(password) > MAX_PASSWORD:
        password = ""
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored is None:
        return False, None
    return True, _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None


def check_password(conn: psycopg.Connection, name: str, password: str) -> bool:
    """Whether ``password`` is operator ``name``'s (re-hashing it when argon2's parameters
    have changed)."""
    row = conn.execute(
        "SELECT id, password_hash FROM ops.operators WHERE name = %s", [name]
    ).fetchone()
    ok, new_hash = verify_password(row[1] if row else None, password)
    if ok and row is not None and new_hash is not None:
        with conn.transaction():
            conn.execute(
                "UPDATE ops.operators SET password_hash = %s WHERE id = %s AND password_hash = %s",
                [new_hash, row[0], row[1]],
            )
    return ok


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def create_api_key(conn: psycopg.Connection, account: str, label: str = "") -> IssuedKey:
    """Make a key that writes to ``account`` only; the returned key is never stored."""
    if len(label) > MAX_LABEL:
        raise WriteError(f"must be at most {MAX_LABEL} characters", "label", "too_long")
    if "\x00" in label:
        raise WriteError("must not contain NUL characters", "label", "nul_character")
    alphabet = string.ascii_letters + string.digits
    with conn.transaction():
        found = account_named(conn, account)
        while True:
            prefix = "".join(secrets.choice(alphabet) for _ in range(KEY_PREFIX_LENGTH))
            key = f"mk_{prefix}_{secrets.token_urlsafe(32)}"
            row = conn.execute(
                "INSERT INTO ops.api_keys (account_id, prefix, key_sha256, label)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (prefix) DO NOTHING RETURNING id",
                [found.id, prefix, _digest(key), label],
            ).fetchone()
            if row is not None:  # 62^8 prefixes: a clash is rare, but possible
                return IssuedKey(key=key, prefix=prefix, account=found.name, label=label)


def list_api_keys(conn: psycopg.Connection, account: str | None = None) -> list[ApiKey]:
    """Every key (of ``account`` when given), revoked ones included, oldest first."""
    where, params = "", []
    if account is not None:
        where, params = "WHERE k.account_id = %s", [account_named(conn, account).id]
    rows = conn.execute(
        "SELECT k.prefix, a.name, k.label, k.created_at, k.last_used_at, k.revoked_at"
        " FROM ops.api_keys k JOIN ops.accounts a ON a.id = k.account_id "
        + where
        + " ORDER BY k.created_at, k.id",
        params,
    ).fetchall()
    return [ApiKey(*row) for row in rows]


def revoke_api_key(conn: psycopg.Connection, prefix: str) -> ApiKey:
    """Revoke the key with ``prefix`` (the part after ``mk_``); it stops working at once."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE ops.api_keys k SET revoked_at = coalesce(k.revoked_at, now())"
            " FROM ops.accounts a WHERE a.id = k.account_id AND k.prefix = %s"
            " RETURNING k.prefix, a.name, k.label, k.created_at, k.last_used_at, k.revoked_at",
            [prefix],
        ).fetchone()
    if row is None:
        raise WriteError(f"no key with prefix {prefix!r}", "prefix", "unknown_key")
    return ApiKey(*row)


def authenticate_key(conn: psycopg.Connection, key: str) -> int | None:
    """The id of the account ``key`` writes to, or None for a malformed, unknown or revoked key
    (the caller cannot tell which: all three are 401). Notes the key's use (``last_used_at``,
    at most once a minute)."""
    match = KEY_FORM.fullmatch(key)
    if match is None:
        return None
    row = conn.execute(
        "SELECT account_id, key_sha256 FROM ops.api_keys WHERE prefix = %s AND revoked_at IS NULL",
        [match.group(1)],
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[1]), _digest(key)):
        return None
    # When it was last used, to the minute: at most one write a minute per key, not one a call.
    conn.execute(
        "UPDATE ops.api_keys SET last_used_at = now() WHERE prefix = %s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        [match.group(1)],
    )
    return int(row[0])

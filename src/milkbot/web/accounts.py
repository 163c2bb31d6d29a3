"""Accounts on the web: the ``account`` parameter every analytics route and page takes, the
page's account (the switcher's list and the one shown), links that keep it, and the
comparison's sorting and overlaid equity chart.

The account chosen is part of the URL (``?account=NAME``, default: the primary account), so
every internal link carries it and the whole-response cache keys by it (the query string).
A name that is unknown or private is answered exactly alike (404 ``unknown_account``): a
private account's existence does not leak.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query
from markupsafe import Markup, escape

from milkbot.analytics import AnalyticsInputError
from milkbot.analytics.results import AccountSummary, Result
from milkbot.analytics.window import UnknownAccountError

Account = Annotated[
    str | None,
    Query(
        max_length=63,
        description="Account name (see /api/v1/accounts); default: the primary account. An "
        "unknown or private account is a 404 unknown_account.",
    ),
]

# Mode -> the badge the pages show beside an account's name.
MODE_BADGES = {"live": "LIVE", "demo": "DEMO", "shadow": "SHADOW", "replay": "REPLAY"}


@dataclass(frozen=True, slots=True)
class AccountList(Result):
    """``GET /api/v1/accounts``: every public account, by mode then name."""

    accounts: list[AccountSummary]


# What an account's name can be (ops.accounts' check): anything else names no account.
ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def check_account(name: str | None) -> str | None:
    """``name`` if it can be an account's name, ``None`` for the primary account (absent);
    else UnknownAccountError, a 404 like any unknown name, before the database is asked
    (it refuses some bytes, such as NUL, with an error of its own)."""
    if name is not None and not ACCOUNT_NAME.fullmatch(name):
        raise UnknownAccountError(name)
    return name


def find_account(accounts: Sequence[AccountSummary], name: str) -> AccountSummary:
    """The account named ``name`` among the public ``accounts``; UnknownAccountError if none
    (unknown and private alike)."""
    for account in accounts:
        if account.name == name:
            return account
    raise UnknownAccountError(name)


@dataclass(frozen=True, slots=True)
class Links:
    """URLs of a page for one account: every internal link carries ``account=``, and the
    page's own parameters are kept when one of them changes."""

    path: str
    account: str
    params: Mapping[str, str]

    def url(self, path: str, **params: object) -> str:
        """``path`` for this account with ``params`` (None or "" left out)."""
        query = {"account": self.account}
        query.update({k: str(v) for k, v in params.items() if v is not None and v != ""})
        return f"{path}?{urlencode(query)}"

    def here(self, **changes: object) -> str:
        """This page with its parameters, ``changes`` applied (None or "" removes one)."""
        params: dict[str, object] = {k: v for k, v in self.params.items() if k != "account"}
        params.update(changes)
        return self.url(self.path, **params)

    def switch(self, name: str) -> str:
        """This page, same parameters, for account ``name``."""
        return Links(self.path, name, self.params).here()

    def hidden_inputs(self) -> Markup:
        """The page's parameters but the account as hidden inputs: the switcher's form sends
        them back with the account chosen."""
        return Markup("").join(
            Markup('<input type="hidden" name="{}" value="{}">').format(k, v)
            for k, v in self.params.items()
            if k != "account"
        )


def mode_badge(mode: str) -> Markup:
    """The badge of an account's mode: LIVE, DEMO, SHADOW or REPLAY."""
    label = MODE_BADGES.get(mode, mode.upper())
    return Markup('<span class="badge mode mode-{}">{}</span>').format(escape(mode), label)


# The comparison's default sort (the analytics' COMPARISON_SORTS names what it may be); the
# account's name sorts A-Z by default, every figure highest first.
DEFAULT_SORT = "return_on_bankroll"
ORDERS = ("asc", "desc")


def check_order(sort: str | None, order: str | None) -> tuple[str, bool]:
    """The comparison's sort field (default: return on bankroll; the analytics check it) and
    whether it is descending: ``order`` asc or desc, by default asc for the name and desc for
    a figure; another order raises AnalyticsInputError('order')."""
    field = sort or DEFAULT_SORT
    if not order:
        order = "asc" if field == "name" else "desc"
    if order not in ORDERS:
        raise AnalyticsInputError("order", f"unknown order {order!r}; known: asc, desc")
    return field, order == "desc"

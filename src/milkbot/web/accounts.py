"""Accounts on the web: the ``account`` parameter every analytics route and page takes, the
page's account (the switcher's list and the one shown), links that keep it, and the
comparison's sorting and overlaid equity chart.

The account chosen is part of the URL (``?account=NAME``, default: the primary account), so
every internal link carries it and the whole-response cache keys by it (the query string).
A name that is unknown or private is answered exactly alike (404 ``unknown_account``): a
private account's existence does not leak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any
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


# Comparison columns the table and the API sort by, in display order: "account" (its display
# name), "mode", or a figure of the row (AccountComparison's field names).
SORT_FIELDS = (
    "account",
    "mode",
    "equity_dollars",
    "net_pnl_dollars",
    "return_on_bankroll",
    "max_drawdown_pct",
    "sharpe",
    "sortino",
    "win_rate",
    "fees_dollars",
    "trades",
    "open_risk_dollars",
)
DEFAULT_SORT = "return_on_bankroll"
ORDERS = ("asc", "desc")
_BY_NAME = ("account", "mode")


def check_sort(sort: str | None, order: str | None) -> tuple[str, str]:
    """The comparison's sort field and order (default: return on bankroll; descending for
    figures, ascending for names); AnalyticsInputError naming the parameter and listing what
    it may be."""
    field = sort or DEFAULT_SORT
    if field not in SORT_FIELDS:
        raise AnalyticsInputError(
            "sort", f"unknown sort {field!r}; known: {', '.join(SORT_FIELDS)}"
        )
    if not order:
        order = "asc" if field in _BY_NAME else "desc"
    if order not in ORDERS:
        raise AnalyticsInputError("order", f"unknown order {order!r}; known: asc, desc")
    return field, order


def _sort_value(row: dict[str, Any], field: str) -> Any:
    if field == "account":
        return str(row["account"]["display_name"]).lower()
    if field == "mode":
        return row["account"]["mode"]
    value = row[field]
    if value is not None and field.endswith("_dollars"):
        return Decimal(value)  # exact: "10.5" > "9.75"
    return value


def sort_rows(rows: Sequence[dict[str, Any]], field: str, order: str) -> list[dict[str, Any]]:
    """Comparison rows (their JSON dicts) by ``field`` in ``order``; undefined figures (None)
    last in either order, ties by account name."""
    by_name = sorted(rows, key=lambda r: str(r["account"]["name"]))
    defined = [r for r in by_name if _sort_value(r, field) is not None]
    undefined = [r for r in by_name if _sort_value(r, field) is None]
    defined.sort(key=lambda r: _sort_value(r, field), reverse=order == "desc")
    return defined + undefined

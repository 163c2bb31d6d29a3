"""Accounts as the write path sees them, and the risk limits every buy is checked against.

The limits (docs/DOMAIN.md, "Accounts, limits and fees") are basis points of the account's
equity at the time of the trade: its starting bankroll, plus its transfers, plus its net
realised P&L (realised P&L minus the fees of the realised trades, the analytics' own figure,
read from ``analytics.pnl_by_day``). For a buy of cost ``price x count``:

- per trade: the cost is at most ``max_trade_bp`` of equity;
- per city: the open cost (price x open count of the unsettled buys) in the market's city,
  this buy included, is at most ``max_city_bp``;
- per cluster: likewise over the cities of the market's cluster, ``max_cluster_bp``;
- open risk: all open cost, this buy included, is at most ``max_open_bp``;
- daily loss: if the net realised P&L of the settlement day before the market's event date is
  a loss of at least ``daily_loss_bp`` of equity, buys on that event date are refused.

Sales are never refused by a limit (they only reduce risk). The open cost is read from
``analytics.pnl_city_day.open_exposure_micros``, which the triggers keep exact in the same
transaction as every trade, sale and settlement. Only the settlement days from the oldest
unsettled market on are read (``markets_open_idx`` finds it at once): a buy is open only
until its market settles, so older days hold no open cost, and the read stays a few days'
rows however long the account's history. Each refusal is a :class:`WriteError` with
code ``risk_limit`` whose message names the limit and the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from milkbot import money
from milkbot.store.errors import WriteError

BP_PER_WHOLE = 10_000


@dataclass(frozen=True, slots=True)
class Account:
    """One row of ops.accounts: what the write path needs of it."""

    id: int
    name: str
    display_name: str
    mode: str
    environment: str
    starting_bankroll_micros: int
    balance_precision_micros: int
    is_public: bool
    max_trade_bp: int
    max_city_bp: int
    max_cluster_bp: int
    max_open_bp: int
    daily_loss_bp: int
    description: str
    public_delay_minutes: int


_ACCOUNT_SQL = """
SELECT id, name, display_name, mode, environment, starting_bankroll_micros,
       balance_precision_micros, is_public, max_trade_bp, max_city_bp, max_cluster_bp,
       max_open_bp, daily_loss_bp, description, public_delay_minutes
FROM ops.accounts
"""


def account_named(conn: psycopg.Connection, name: str) -> Account:
    """The account called ``name``; an unknown name is refused (``unknown_account``)."""
    row = (
        conn.cursor(row_factory=class_row(Account))
        .execute(_ACCOUNT_SQL + " WHERE name = %s", [name])
        .fetchone()
    )
    if row is None:
        raise WriteError(f"unknown account {name!r}", field="account", code="unknown_account")
    return row


def lock_account(conn: psycopg.Connection, account_id: int) -> Account:
    """The account's row, locked until the transaction ends, so that its trades are checked
    against its limits one at a time."""
    row = (
        conn.cursor(row_factory=class_row(Account))
        .execute(_ACCOUNT_SQL + " WHERE id = %s FOR UPDATE", [account_id])
        .fetchone()
    )
    assert row is not None  # accounts are never deleted while they own rows
    return row


def equity_micros(conn: psycopg.Connection, account: Account) -> int:
    """The account's equity now: starting bankroll + transfers + net realised P&L."""
    row = conn.execute(
        """
        SELECT coalesce((SELECT sum(amount_micros) FROM ops.account_transfers
                         WHERE account_id = %(a)s), 0),
               coalesce((SELECT sum(net_pnl_micros) FROM analytics.pnl_by_day
                         WHERE account_id = %(a)s), 0)
        """,
        {"a": account.id},
    ).fetchone()
    assert row is not None
    return account.starting_bankroll_micros + int(row[0]) + int(row[1])


def percent(bp: int) -> str:
    """Basis points as a percentage with two decimals: 300 -> "3.00 %"."""
    return f"{bp // 100}.{bp % 100:02d} %"


def _dollars(micros: int) -> str:
    text = money.format_dollars(micros)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def _refuse(limit: str, what: str, micros: int, bp: int, equity: int) -> None:
    """Refuse when ``micros`` exceeds ``bp`` of ``equity`` (integers: no rounding anywhere)."""
    if micros * BP_PER_WHOLE > bp * equity:
        raise WriteError(
            f"{limit} limit: {what} {_dollars(micros)} would exceed {percent(bp)} of equity "
            f"{_dollars(equity)}",
            field="count",
            code="risk_limit",
        )


@dataclass(frozen=True, slots=True)
class Headroom:
    """An account's limits as room left for one more buy in one market (micros), and whether
    the daily-loss limit pauses buys on the market's settlement day."""

    equity_micros: int
    city: str
    cluster: str
    city_open_micros: int
    cluster_open_micros: int
    total_open_micros: int
    day_before_net_micros: int
    max_trade_bp: int
    max_city_bp: int
    max_cluster_bp: int
    max_open_bp: int
    daily_loss_bp: int

    @property
    def paused(self) -> bool:
        """The net realised loss of the day before reached ``daily_loss_bp`` of equity."""
        loss = -self.day_before_net_micros
        return loss > 0 and loss * BP_PER_WHOLE >= self.daily_loss_bp * self.equity_micros

    def _room(self, bp: int, used: int) -> int:
        # The largest cost c with (used + c) * 10000 <= bp * equity.
        return max(0, (bp * self.equity_micros) // BP_PER_WHOLE - used)

    @property
    def max_cost_micros(self) -> int:
        """The largest buy cost that breaks no limit (0 when paused or out of room)."""
        if self.paused:
            return 0
        return min(
            self._room(self.max_trade_bp, 0),
            self._room(self.max_city_bp, self.city_open_micros),
            self._room(self.max_cluster_bp, self.cluster_open_micros),
            self._room(self.max_open_bp, self.total_open_micros),
        )


def headroom(
    conn: psycopg.Connection, account: Account, city: str, cluster: str, event_date: date
) -> Headroom:
    """What the account's limits leave for a buy in ``city`` (of ``cluster``) settling on
    ``event_date``: equity now, open cost by city, cluster and in all, and the day before's
    net realised P&L."""
    equity = equity_micros(conn, account)
    row = conn.execute(
        "SELECT net_pnl_micros FROM analytics.pnl_by_day WHERE account_id = %s AND event_date = %s",
        [account.id, event_date - timedelta(days=1)],
    ).fetchone()
    rows = conn.execute(
        """
        SELECT r.city_code, c.cluster, sum(r.open_exposure_micros)
        FROM analytics.pnl_city_day r JOIN ops.cities c ON c.code = r.city_code
        WHERE r.account_id = %s
          AND r.event_date >= (SELECT min(event_date) FROM ops.markets WHERE result IS NULL)
        GROUP BY r.city_code, c.cluster
        """,
        [account.id],
    ).fetchall()
    return Headroom(
        equity_micros=equity,
        city=city,
        cluster=cluster,
        city_open_micros=sum(int(o) for code, _, o in rows if code == city),
        cluster_open_micros=sum(int(o) for _, cl, o in rows if cl == cluster),
        total_open_micros=sum(int(o) for _, _, o in rows),
        day_before_net_micros=int(row[0]) if row else 0,
        max_trade_bp=account.max_trade_bp,
        max_city_bp=account.max_city_bp,
        max_cluster_bp=account.max_cluster_bp,
        max_open_bp=account.max_open_bp,
        daily_loss_bp=account.daily_loss_bp,
    )


def check_buy(
    conn: psycopg.Connection, account: Account, market: dict[str, Any], cost: int
) -> None:
    """Refuse a buy of ``cost`` micros in ``market`` that would break one of the account's
    limits, naming the first one broken. The caller holds the account's row lock."""
    room = headroom(conn, account, market["city_code"], market["cluster"], market["event_date"])
    equity = room.equity_micros
    if room.paused:
        day_before = market["event_date"] - timedelta(days=1)
        raise WriteError(
            f"daily loss limit: the net realised loss of {day_before.isoformat()} "
            f"({_dollars(-room.day_before_net_micros)}) reached "
            f"{percent(account.daily_loss_bp)} of equity {_dollars(equity)}, so buys on "
            f"{market['event_date'].isoformat()} are paused",
            field="count",
            code="risk_limit",
        )
    _refuse("per-trade", "cost", cost, account.max_trade_bp, equity)
    _refuse(
        "per-city",
        f"{room.city} open cost",
        room.city_open_micros + cost,
        account.max_city_bp,
        equity,
    )
    _refuse(
        "per-cluster",
        f"{room.cluster} cluster open cost",
        room.cluster_open_micros + cost,
        account.max_cluster_bp,
        equity,
    )
    _refuse(
        "open-risk", "total open cost", room.total_open_micros + cost, account.max_open_bp, equity
    )

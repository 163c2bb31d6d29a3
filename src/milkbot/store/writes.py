"""The write path the bot and the simulator record into.

Settlement lives in :mod:`milkbot.store.settlement` and is re-exported here, so that callers
import every write from one place. Every function runs in one transaction on the connection it
is given: it either writes all of its rows, with the pre-aggregates the analytics read (kept by
triggers in the same transaction), or nothing. Bad input raises :class:`WriteError` naming the
field or rule to fix.

Every row belongs to an account (migration 0006); the account is named in each input and an
unknown one is refused (``unknown_account``). Money is integer micros and counts integer
hundredths of a contract (:mod:`milkbot.money`).

Accounting (docs/DOMAIN.md): a buy holds its contracts until they are sold or its market
settles; at settlement each buy realises ``(payout - price) x open count``, payout $1 a
contract if its side won and $0 otherwise. A sale realises ``sell x count`` minus the cost of
the contracts it closes, taken from the account's position's oldest buys first (FIFO lots).
When a sale closes the whole position this equals docs/DOMAIN.md's "(sell - average buy) per
contract"; for a partial sale FIFO keeps every figure exact in micros, and the position's total
P&L is the same either way. Fees are always a cost: the parts the exchange reports, or Kalshi's
formula (:func:`milkbot.money.trade_fee_micros`, :func:`milkbot.money.rounding_fee_micros`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from milkbot import money
from milkbot.reference import load_reference
from milkbot.settings import HEARTBEAT_MAX_SKEW_S
from milkbot.store.errors import WriteError, checked, database_errors
from milkbot.store.limits import Account, account_named, check_buy, lock_account
from milkbot.store.models import HeartbeatIn, MarketIn, SignalIn, TradeIn
from milkbot.store.settlement import Settlement, settle_event, settle_market

__all__ = [
    "Account",
    "RecordedTrade",
    "Settlement",
    "WriteError",
    "post_heartbeat",
    "record_market",
    "record_signal",
    "record_trade",
    "settle_event",
    "settle_market",
]


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    """Outcome of :func:`record_trade`: the stored row's id, whether it was already there, and
    the fee parts and realised P&L stored (micros; ``fee_micros`` is the net fee)."""

    id: int
    duplicate: bool
    trade_fee_micros: int
    rounding_fee_micros: int
    rebate_micros: int
    realized_pnl_micros: int | None

    @property
    def fee_micros(self) -> int:
        """The net fee: trade fee + rounding fee - rebate."""
        return self.trade_fee_micros + self.rounding_fee_micros - self.rebate_micros


def record_market(conn: psycopg.Connection, market: MarketIn) -> int:
    """Insert a market (idempotent on ticker: an identical existing market is returned as is).

    Returns the market id. A different market under an existing ticker is refused. The fee
    rates default to the reference data's (``[fees]`` in reference.toml).
    """
    market = checked(market)
    ref = load_reference()
    taker = ref.taker_fee_rate if market.taker_fee_rate is None else market.taker_fee_rate
    maker = ref.maker_fee_rate if market.maker_fee_rate is None else market.maker_fee_rate
    try:
        with database_errors(), conn.transaction():
            row = conn.execute(
                """
                INSERT INTO ops.markets (ticker, event_ticker, city_code, event_date, floor_f,
                                         cap_f, title, opened_at, closes_at,
                                         price_level_structure, fractional_trading_enabled,
                                         taker_fee_rate, maker_fee_rate)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (ticker) DO NOTHING
                RETURNING id
                """,
                [
                    market.ticker,
                    market.event_ticker,
                    market.city_code,
                    market.event_date,
                    market.floor_f,
                    market.cap_f,
                    market.title,
                    market.opened_at,
                    market.closes_at,
                    market.price_level_structure,
                    market.fractional_trading_enabled,
                    taker,
                    maker,
                ],
            ).fetchone()
            if row:
                return int(row[0])
            existing = conn.execute(
                "SELECT id, event_ticker, city_code, event_date, floor_f, cap_f,"
                " price_level_structure, fractional_trading_enabled, taker_fee_rate,"
                " maker_fee_rate FROM ops.markets WHERE ticker = %s",
                [market.ticker],
            ).fetchone()
    except WriteError as exc:
        if exc.code == "unknown_city":
            raise WriteError(
                f"unknown city code {market.city_code!r}", field="city_code", code="unknown_city"
            ) from exc
        raise
    assert existing is not None
    if tuple(existing[1:]) != (
        market.event_ticker,
        market.city_code,
        market.event_date,
        market.floor_f,
        market.cap_f,
        market.price_level_structure,
        market.fractional_trading_enabled,
        taker,
        maker,
    ):
        raise WriteError(
            f"ticker {market.ticker!r} already names a different market",
            field="ticker",
            code="conflict",
        )
    return int(existing[0])


_MARKET_SQL = """
SELECT m.id, m.ticker, m.city_code, c.cluster, m.event_date, m.result, m.price_level_structure,
       m.fractional_trading_enabled, m.taker_fee_rate, m.maker_fee_rate
FROM ops.markets m JOIN ops.cities c ON c.code = m.city_code
WHERE m.ticker = %s
"""
_MARKET_LOCKS = {
    "share": _MARKET_SQL + " FOR SHARE OF m",
    "update": _MARKET_SQL + " FOR UPDATE OF m",
}


def _market_for_update(conn: psycopg.Connection, ticker: str, lock: str) -> dict[str, Any]:
    """The market row, locked: "share" while trading it, "update" while settling it."""
    row = conn.cursor(row_factory=dict_row).execute(_MARKET_LOCKS[lock], [ticker]).fetchone()
    if row is None:
        raise WriteError(f"unknown market ticker {ticker!r}", field="ticker", code="unknown_market")
    return row


def _strategy_id(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("SELECT id FROM ops.strategies WHERE name = %s", [name]).fetchone()
    if row is None:
        raise WriteError(f"unknown strategy {name!r}", field="strategy", code="unknown_strategy")
    return int(row[0])


def _on_grid(market: dict[str, Any], price_micros: int, field: str) -> None:
    """Refuse a price off the market's tick grid, naming the tick."""
    why = money.price_off_grid(market["price_level_structure"], price_micros)
    if why is not None:
        raise WriteError(f"{field}: {why} ({market['ticker']})", field=field, code="off_grid")


def record_signal(conn: psycopg.Connection, signal: SignalIn) -> int:
    """Record one signal (model probability, YES price, decision) of an account's strategy for
    a market. Shadow accounts record signals too. Returns its id."""
    signal = checked(signal)
    with database_errors(), conn.transaction():
        account = account_named(conn, signal.account)
        market = _market_for_update(conn, signal.ticker, "share")
        _on_grid(market, signal.yes_price_micros, "yes_price_dollars")
        strategy_id = _strategy_id(conn, signal.strategy)
        row = conn.execute(
            """
            INSERT INTO ops.signals (account_id, created_at, strategy_id, market_id, city_code,
                                     event_date, model_prob, yes_price_micros, forecast_high_f,
                                     decision)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING id
            """,
            [
                account.id,
                signal.created_at,
                strategy_id,
                market["id"],
                market["city_code"],
                market["event_date"],
                signal.model_prob,
                signal.yes_price_micros,
                signal.forecast_high_f,
                signal.decision,
            ],
        ).fetchone()
    assert row is not None
    return int(row[0])


_SAME_TRADE_COLUMNS = (
    "ticker",
    "strategy",
    "side",
    "action",
    "quantity_centi",
    "price_micros",
    "executed_at",
)
_SAME_TRADE_FIELDS = {"quantity_centi": "count", "price_micros": "price_dollars"}


def _existing_trade(
    conn: psycopg.Connection, account_id: int, trade: TradeIn
) -> RecordedTrade | None:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            """
        SELECT t.id, t.ticker, s.name AS strategy, t.side, t.action, t.quantity_centi,
               t.price_micros, t.created_at AS executed_at, t.trade_fee_micros,
               t.rounding_fee_micros, t.rebate_micros, t.realized_pnl_micros
        FROM ops.trades t JOIN ops.strategies s ON s.id = t.strategy_id
        WHERE t.account_id = %s AND t.client_trade_id = %s
        """,
            [account_id, trade.client_trade_id],
        )
        .fetchone()
    )
    if row is None:
        return None
    sent = {
        **trade.model_dump(),
        "quantity_centi": trade.quantity_centi,
        "price_micros": trade.price_micros,
    }
    differs = [_SAME_TRADE_FIELDS.get(c, c) for c in _SAME_TRADE_COLUMNS if row[c] != sent[c]]
    if differs:
        raise WriteError(
            f"client_trade_id {trade.client_trade_id!r} was already recorded for account "
            f"{trade.account} with different {', '.join(differs)}",
            field="client_trade_id",
            code="conflict",
        )
    return RecordedTrade(
        int(row["id"]),
        True,
        int(row["trade_fee_micros"]),
        int(row["rounding_fee_micros"]),
        int(row["rebate_micros"]),
        row["realized_pnl_micros"],
    )


# Serialises the writers of one client_trade_id of one account (two-key advisory locks: their
# own key space, apart from the migration runner's one-key lock). Different ids hash apart and
# never wait on each other; a rare hash collision only makes two ids take turns.
_CLIENT_ID_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, hashtext(%s::text || '/' || %s))"
_CLIENT_ID_LOCK_SPACE = 0x74726164  # "trad"


def record_trade(conn: psycopg.Connection, trade: TradeIn) -> RecordedTrade:
    """Record one fill of an account idempotently and update the position and pre-aggregates.

    Sending the same ``client_trade_id`` for the same account again returns the stored trade
    and changes nothing (a different trade under the same id is refused as ``conflict``). A
    sale closes FIFO lots of the account's strategy's position on that market and side and
    realises its P&L at once; selling more than is held, or trading a settled market, is
    refused. So is a price off the market's tick grid (``off_grid``, naming the tick), a
    fractional count where the market does not allow one (``fractional_count``), any trade of
    a shadow account (``shadow_account``) and a buy beyond one of the account's risk limits
    (``risk_limit``, naming the limit: :mod:`milkbot.store.limits`).

    Concurrency: the transaction first takes a lock on the account's client id, then looks the
    id up. So writers of the same id (a bot retrying from several connections) run one after
    the other, and each one after the first sees the stored trade (``duplicate``, or
    ``conflict`` if it differs) rather than the position the first one changed. Then it locks
    the account's row, so an account's trades are checked against its limits one at a time
    (two writers cannot both pass a limit only one of them fits in). The client-id lock is the
    transaction's first and the account's row the next, so neither can deadlock with the row
    locks; a caller recording several trades in one outer transaction should take their ids in
    a consistent order.
    """
    trade = checked(trade)
    with database_errors():
        try:
            return _insert_trade(conn, trade)
        except errors.UniqueViolation as exc:
            # A writer that bypasses the lock (raw SQL, an older release) recorded the id
            # first: ours rolled back whole, and the stored trade answers.
            if exc.diag.constraint_name != "trades_client_trade_id_unique":
                raise
            account = account_named(conn, trade.account)
            again = _existing_trade(conn, account.id, trade)
            if again is None:
                raise
            return again


def _fees(trade: TradeIn, market: dict[str, Any], precision_micros: int) -> tuple[int, int, int]:
    """The fill's trade fee, rounding fee and rebate (micros): as reported, else computed."""
    price, quantity = trade.price_micros, trade.quantity_centi
    if trade.trade_fee_dollars is not None:
        trade_fee = money.parse_dollars(trade.trade_fee_dollars)
    else:
        rate = market["taker_fee_rate"] if trade.is_taker else market["maker_fee_rate"]
        trade_fee = money.trade_fee_micros(price, quantity, rate)
    if trade.rounding_fee_dollars is not None:
        rounding = money.parse_dollars(trade.rounding_fee_dollars)
    else:
        cost = money.cost_micros(price, quantity)
        rounding = money.rounding_fee_micros(trade.action, cost, trade_fee, precision_micros)
    rebate = 0 if trade.rebate_dollars is None else money.parse_dollars(trade.rebate_dollars)
    return trade_fee, rounding, rebate


def _insert_trade(conn: psycopg.Connection, trade: TradeIn) -> RecordedTrade:
    """In one transaction: the stored trade if the id is taken, else the new one."""
    with conn.transaction():
        account = account_named(conn, trade.account)
        conn.execute(
            _CLIENT_ID_LOCK_SQL, [_CLIENT_ID_LOCK_SPACE, account.id, trade.client_trade_id]
        )
        existing = _existing_trade(conn, account.id, trade)
        if existing:
            return existing
        account = lock_account(conn, account.id)
        if account.mode == "shadow":
            raise WriteError(
                f"account {account.name} is a shadow account: it records signals only, "
                "never trades",
                field="account",
                code="shadow_account",
            )
        market = _market_for_update(conn, trade.ticker, "share")
        if market["result"] is not None:
            raise WriteError(
                f"market {trade.ticker} is already settled; it takes no more trades",
                field="ticker",
                code="market_settled",
            )
        price, quantity = trade.price_micros, trade.quantity_centi
        _on_grid(market, price, "price_dollars")
        if quantity % money.CENTI_PER_CONTRACT and not market["fractional_trading_enabled"]:
            raise WriteError(
                f"count {money.format_count(quantity)} is fractional, but market "
                f"{trade.ticker} trades whole contracts only",
                field="count",
                code="fractional_count",
            )
        strategy_id = _strategy_id(conn, trade.strategy)
        if trade.action == "buy":
            check_buy(conn, account, market, money.cost_micros(price, quantity))
        trade_fee, rounding, rebate = _fees(trade, market, account.balance_precision_micros)
        realized: int | None = None
        open_qty = quantity
        if trade.action == "sell":
            realized = _close_lots(conn, account.id, market["id"], strategy_id, trade)
            open_qty = 0
        row = conn.execute(
            _INSERT_TRADE_SQL,
            [
                account.id,
                trade.client_trade_id,
                trade.order_id,
                trade.executed_at,
                market["id"],
                market["ticker"],
                market["city_code"],
                market["event_date"],
                strategy_id,
                trade.side,
                trade.action,
                quantity,
                price,
                trade_fee,
                rounding,
                rebate,
                trade.is_taker,
                trade.model_prob,
                open_qty,
                realized,
                trade.executed_at if realized is not None else None,
            ],
        ).fetchone()
    assert row is not None
    return RecordedTrade(int(row[0]), False, trade_fee, rounding, rebate, realized)


_INSERT_TRADE_SQL = """
INSERT INTO ops.trades (account_id, client_trade_id, order_id, created_at, market_id, ticker,
    city_code, event_date, strategy_id, side, action, quantity_centi, price_micros,
    trade_fee_micros, rounding_fee_micros, rebate_micros, is_taker, model_prob, open_qty_centi,
    realized_pnl_micros, realized_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id
"""


def _close_lots(
    conn: psycopg.Connection, account_id: int, market_id: object, strategy_id: int, trade: TradeIn
) -> int:
    """Consume the oldest open buys of the account's position; return the sale's gross P&L
    in micros."""
    lots = conn.execute(
        """
        SELECT id, open_qty_centi, price_micros FROM ops.trades
        WHERE account_id = %s AND market_id = %s AND strategy_id = %s AND side = %s
          AND action = 'buy' AND open_qty_centi > 0 AND realized_pnl_micros IS NULL
        ORDER BY created_at, id
        FOR UPDATE
        """,
        [account_id, market_id, strategy_id, trade.side],
    ).fetchall()
    held = sum(int(q) for _, q, _ in lots)
    quantity = trade.quantity_centi
    if quantity > held:
        raise WriteError(
            f"sell of {money.format_count(quantity)} {trade.side.upper()} contracts exceeds the "
            f"{money.format_count(held)} held by strategy {trade.strategy} of account "
            f"{trade.account} in {trade.ticker}",
            field="count",
            code="oversell",
        )
    remaining = quantity
    cost = 0
    for lot_id, lot_qty, lot_price in lots:
        if remaining == 0:
            break
        take = min(remaining, int(lot_qty))
        cost += money.cost_micros(int(lot_price), take)
        remaining -= take
        conn.execute(
            "UPDATE ops.trades SET open_qty_centi = open_qty_centi - %s WHERE id = %s",
            [take, lot_id],
        )
    return money.cost_micros(trade.price_micros, quantity) - cost


def post_heartbeat(
    conn: psycopg.Connection, beat: HeartbeatIn, max_skew_s: float = HEARTBEAT_MAX_SKEW_S
) -> None:
    """Log a heartbeat of one account's component and make it the component's latest state.

    ``observed_at`` defaults to the database clock, which health ages are computed from. A
    beat dated more than ``max_skew_s`` seconds ahead of that clock (the setting
    ``MILKBOT_HEARTBEAT_MAX_SKEW_S``, default 60 s) is refused with code ``clock_skew``: the
    newest beat is the component's state, so one from the future would keep it "healthy"
    until that time came. Beats from the past are kept in the log; an older one never
    replaces a newer state.
    """
    if not 0 <= max_skew_s < float("inf"):
        raise ValueError(f"max_skew_s must be a finite number of seconds >= 0, not {max_skew_s}")
    beat = checked(beat)
    with database_errors(), conn.transaction():
        account = account_named(conn, beat.account)
        # The clock now, not the transaction's start (a caller's outer transaction may be old).
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        now: datetime = row[0]
        at = beat.observed_at or now
        ahead = (at - now).total_seconds()
        if ahead > max_skew_s:
            raise WriteError(
                f"observed_at {at.isoformat()} is {ahead:.0f} s ahead of the database clock; "
                f"at most {max_skew_s:g} s of clock skew is allowed "
                "(MILKBOT_HEARTBEAT_MAX_SKEW_S): check the component's clock",
                field="observed_at",
                code="clock_skew",
            )
        conn.execute(
            "INSERT INTO ops.heartbeats (account_id, component, observed_at, status, message)"
            " VALUES (%s, %s, %s, %s, %s)",
            [account.id, beat.component, at, beat.status, beat.message],
        )
        conn.execute(
            """
            INSERT INTO ops.component_health (account_id, component, observed_at, status, message)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (account_id, component) DO UPDATE SET observed_at = EXCLUDED.observed_at,
                status = EXCLUDED.status, message = EXCLUDED.message
            WHERE ops.component_health.observed_at <= EXCLUDED.observed_at
            """,
            [account.id, beat.component, at, beat.status, beat.message],
        )

"""The write path the bot and the simulator record into.

Settlement lives in :mod:`milkbot.store.settlement` and is re-exported here, so that callers
import every write from one place. Every function runs in one transaction on the connection it
is given: it either writes all of its rows, with the pre-aggregates the analytics read (kept by
triggers in the same transaction), or nothing. Bad input raises :class:`WriteError` naming the
field or rule to fix.

Accounting (docs/DOMAIN.md): a buy holds its contracts until they are sold or its market
settles; at settlement each buy realises ``(payout - price) * open_qty`` cents, payout 100 if its
side won and 0 otherwise. A sale realises ``sell * q`` minus the cost of the contracts it closes,
taken from the position's oldest buys first (FIFO lots). When a sale closes the whole position
this equals docs/DOMAIN.md's "(sell - average buy) per contract"; for a partial sale FIFO keeps
every figure in whole cents, and the position's total P&L is the same either way. Fees are
always a cost (:func:`milkbot.market.fee_cents` unless the fill reports its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from milkbot.market import fee_cents
from milkbot.reference import load_reference
from milkbot.settings import HEARTBEAT_MAX_SKEW_S
from milkbot.store.errors import WriteError, checked, database_errors
from milkbot.store.models import HeartbeatIn, MarketIn, SignalIn, TradeIn
from milkbot.store.settlement import Settlement, settle_event, settle_market

__all__ = [
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
    """Outcome of :func:`record_trade`: the stored row's id and whether it was already there."""

    id: int
    duplicate: bool
    fee_cents: int
    realized_pnl_cents: int | None


def record_market(conn: psycopg.Connection, market: MarketIn) -> int:
    """Insert a market (idempotent on ticker: an identical existing market is returned as is).

    Returns the market id. A different market under an existing ticker is refused.
    """
    market = checked(market)
    try:
        with database_errors(), conn.transaction():
            row = conn.execute(
                """
                INSERT INTO ops.markets (ticker, event_ticker, city_code, event_date, floor_f,
                                         cap_f, title, opened_at, closes_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
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
                ],
            ).fetchone()
            if row:
                return int(row[0])
            existing = conn.execute(
                "SELECT id, event_ticker, city_code, event_date, floor_f, cap_f FROM ops.markets"
                " WHERE ticker = %s",
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
    ):
        raise WriteError(
            f"ticker {market.ticker!r} already names a different market",
            field="ticker",
            code="conflict",
        )
    return int(existing[0])


_MARKET_SQL = "SELECT id, ticker, city_code, event_date, result FROM ops.markets WHERE ticker = %s"
_MARKET_LOCKS = {"share": _MARKET_SQL + " FOR SHARE", "update": _MARKET_SQL + " FOR UPDATE"}


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


def record_signal(conn: psycopg.Connection, signal: SignalIn) -> int:
    """Record one signal (model probability, YES price, decision) for a market. Returns its id."""
    signal = checked(signal)
    with database_errors(), conn.transaction():
        market = _market_for_update(conn, signal.ticker, "share")
        strategy_id = _strategy_id(conn, signal.strategy)
        row = conn.execute(
            """
            INSERT INTO ops.signals (created_at, strategy_id, market_id, city_code, event_date,
                                     model_prob, yes_price, forecast_high_f, decision)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING id
            """,
            [
                signal.created_at,
                strategy_id,
                market["id"],
                market["city_code"],
                market["event_date"],
                signal.model_prob,
                signal.yes_price,
                signal.forecast_high_f,
                signal.decision,
            ],
        ).fetchone()
    assert row is not None
    return int(row[0])


_SAME_TRADE_COLUMNS = ("ticker", "strategy", "side", "action", "quantity", "price", "executed_at")


def _existing_trade(conn: psycopg.Connection, trade: TradeIn) -> RecordedTrade | None:
    row = (
        conn.cursor(row_factory=dict_row)
        .execute(
            """
        SELECT t.id, t.ticker, s.name AS strategy, t.side, t.action, t.quantity, t.price,
               t.created_at AS executed_at, t.fee_cents, t.realized_pnl_cents
        FROM ops.trades t JOIN ops.strategies s ON s.id = t.strategy_id
        WHERE t.client_trade_id = %s
        """,
            [trade.client_trade_id],
        )
        .fetchone()
    )
    if row is None:
        return None
    sent = trade.model_dump()
    differs = [c for c in _SAME_TRADE_COLUMNS if row[c] != sent[c]]
    if differs:
        raise WriteError(
            f"client_trade_id {trade.client_trade_id!r} was already recorded with different "
            f"{', '.join(differs)}",
            field="client_trade_id",
            code="conflict",
        )
    return RecordedTrade(int(row["id"]), True, int(row["fee_cents"]), row["realized_pnl_cents"])


# Serialises the writers of one client_trade_id (two-key advisory locks: their own key space,
# apart from the migration runner's one-key lock). Different ids hash apart and never wait on
# each other; a rare hash collision only makes two ids take turns.
_CLIENT_ID_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
_CLIENT_ID_LOCK_SPACE = 0x74726164  # "trad"


def record_trade(conn: psycopg.Connection, trade: TradeIn) -> RecordedTrade:
    """Record one fill idempotently and update the position and pre-aggregates with it.

    Sending the same ``client_trade_id`` again returns the stored trade and changes nothing
    (a different trade under the same id is refused as ``conflict``). A sale closes FIFO lots
    of the strategy's position on that market and side and realises its P&L at once; selling
    more than is held, or trading a settled market, is refused.

    Concurrency: the transaction first takes a lock on the client id, then looks the id up. So
    writers of the same id (a bot retrying from several connections) run one after the other,
    and each one after the first sees the stored trade (``duplicate``, or ``conflict`` if it
    differs) rather than the position the first one changed (a retried sale would otherwise
    read as an oversell). The lock is the transaction's first, so it cannot deadlock with the
    row locks; a caller recording several trades in one outer transaction should take their
    ids in a consistent order.
    """
    trade = checked(trade)
    ref = load_reference()
    fee = trade.fee_cents
    if fee is None:
        rate = ref.taker_fee_rate if trade.is_taker else ref.maker_fee_rate
        fee = fee_cents(trade.quantity, trade.price, rate)
    with database_errors():
        try:
            return _insert_trade(conn, trade, fee)
        except errors.UniqueViolation as exc:
            # A writer that bypasses the lock (raw SQL, an older release) recorded the id
            # first: ours rolled back whole, and the stored trade answers.
            if exc.diag.constraint_name != "trades_client_trade_id_unique":
                raise
            again = _existing_trade(conn, trade)
            if again is None:
                raise
            return again


def _insert_trade(conn: psycopg.Connection, trade: TradeIn, fee: int) -> RecordedTrade:
    """In one transaction: the stored trade if the id is taken, else the new one."""
    with conn.transaction():
        conn.execute(_CLIENT_ID_LOCK_SQL, [_CLIENT_ID_LOCK_SPACE, trade.client_trade_id])
        existing = _existing_trade(conn, trade)
        if existing:
            return existing
        market = _market_for_update(conn, trade.ticker, "share")
        if market["result"] is not None:
            raise WriteError(
                f"market {trade.ticker} is already settled; it takes no more trades",
                field="ticker",
                code="market_settled",
            )
        strategy_id = _strategy_id(conn, trade.strategy)
        realized: int | None = None
        open_qty = trade.quantity
        if trade.action == "sell":
            realized = _close_lots(conn, market["id"], strategy_id, trade)
            open_qty = 0
        row = conn.execute(
            _INSERT_TRADE_SQL,
            [
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
                trade.quantity,
                trade.price,
                fee,
                trade.is_taker,
                trade.model_prob,
                open_qty,
                realized,
                trade.executed_at if realized is not None else None,
            ],
        ).fetchone()
    assert row is not None
    return RecordedTrade(int(row[0]), False, fee, realized)


_INSERT_TRADE_SQL = """
INSERT INTO ops.trades (client_trade_id, order_id, created_at, market_id, ticker, city_code,
    event_date, strategy_id, side, action, quantity, price, fee_cents, is_taker, model_prob,
    open_qty, realized_pnl_cents, realized_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id
"""


def _close_lots(
    conn: psycopg.Connection, market_id: object, strategy_id: int, trade: TradeIn
) -> int:
    """Consume the oldest open buys of the position; return the sale's gross P&L in cents."""
    lots = conn.execute(
        """
        SELECT id, open_qty, price FROM ops.trades
        WHERE market_id = %s AND strategy_id = %s AND side = %s AND action = 'buy'
          AND open_qty > 0 AND realized_pnl_cents IS NULL
        ORDER BY created_at, id
        FOR UPDATE
        """,
        [market_id, strategy_id, trade.side],
    ).fetchall()
    held = sum(int(q) for _, q, _ in lots)
    if trade.quantity > held:
        raise WriteError(
            f"sell of {trade.quantity} {trade.side.upper()} contracts exceeds the {held} held "
            f"by strategy {trade.strategy} in {trade.ticker}",
            field="quantity",
            code="oversell",
        )
    remaining = trade.quantity
    cost = 0
    for lot_id, lot_qty, lot_price in lots:
        if remaining == 0:
            break
        take = min(remaining, int(lot_qty))
        cost += take * int(lot_price)
        remaining -= take
        conn.execute("UPDATE ops.trades SET open_qty = open_qty - %s WHERE id = %s", [take, lot_id])
    return trade.price * trade.quantity - cost


def post_heartbeat(
    conn: psycopg.Connection, beat: HeartbeatIn, max_skew_s: float = HEARTBEAT_MAX_SKEW_S
) -> None:
    """Log a component heartbeat and make it the component's latest state.

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
            "INSERT INTO ops.heartbeats (component, observed_at, status, message)"
            " VALUES (%s, %s, %s, %s)",
            [beat.component, at, beat.status, beat.message],
        )
        conn.execute(
            """
            INSERT INTO ops.component_health (component, observed_at, status, message)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (component) DO UPDATE SET observed_at = EXCLUDED.observed_at,
                status = EXCLUDED.status, message = EXCLUDED.message
            WHERE ops.component_health.observed_at <= EXCLUDED.observed_at
            """,
            [beat.component, at, beat.status, beat.message],
        )

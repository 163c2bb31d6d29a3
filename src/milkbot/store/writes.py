"""The write path the bot (and the HTTP API, and the simulator) records into.

Every function runs in one transaction on the connection it is given: it either writes all of
its rows, with the pre-aggregates the analytics read (kept by triggers in the same transaction),
or nothing. Bad input raises :class:`WriteError` naming the field or rule to fix.

Accounting (DOMAIN.md): a buy holds its contracts until they are sold or its market settles; at
settlement each buy realises ``(payout - price) * open_qty`` cents, payout 100 if its side won and
0 otherwise. A sale realises ``sell * q`` minus the cost of the contracts it closes, taken from
the position's oldest buys first (FIFO lots). When a sale closes the whole position this equals
DOMAIN.md's "(sell - average buy) per contract"; for a partial sale FIFO keeps every figure in
whole cents, and the position's total P&L is the same either way. Fees are always a cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from milkbot.reference import fee_cents, load_reference
from milkbot.store.models import HeartbeatIn, MarketIn, SettlementIn, SignalIn, TradeIn


class WriteError(ValueError):
    """A write was refused; ``field`` names what to fix when one input is to blame."""

    def __init__(self, message: str, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class RecordedTrade:
    """Outcome of :func:`record_trade`: the stored row's id and whether it was already there."""

    id: int
    duplicate: bool
    fee_cents: int
    realized_pnl_cents: int | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """Outcome of a settlement: the market results and the P&L it realised (cents, gross)."""

    results: dict[str, str]
    trades_realized: int
    realized_pnl_cents: int
    changed: bool


_CONSTRAINT_FIELDS = {
    "trades_price_cents_1_to_99": "price",
    "trades_quantity_positive": "quantity",
    "trades_fee_not_negative": "fee_cents",
    "trades_model_prob_0_to_1": "model_prob",
    "trades_side_yes_or_no": "side",
    "trades_action_buy_or_sell": "action",
    "signals_model_prob_0_to_1": "model_prob",
    "signals_yes_price_1_to_99": "yes_price",
    "markets_city_code_fkey": "city_code",
    "markets_ticker_key": "ticker",
}


def _from_db_error(exc: psycopg.Error) -> WriteError:
    """Turn a constraint violation into a WriteError naming the rule (and field, when known)."""
    diag = exc.diag
    constraint = diag.constraint_name or ""
    detail = diag.message_detail or ""
    message = f"{diag.message_primary or exc}" + (f" ({detail})" if detail else "")
    return WriteError(message, field=_CONSTRAINT_FIELDS.get(constraint), code="constraint")


def _now() -> datetime:
    return datetime.now(UTC)


def record_market(conn: psycopg.Connection, market: MarketIn) -> int:
    """Insert a market (idempotent on ticker: an identical existing market is returned as is).

    Returns the market id. A different market under an existing ticker is refused.
    """
    try:
        with conn.transaction():
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
    except errors.ForeignKeyViolation as exc:
        raise WriteError(
            f"unknown city code {market.city_code!r}", field="city_code", code="unknown_city"
        ) from exc
    except (errors.CheckViolation, errors.UniqueViolation) as exc:
        raise _from_db_error(exc) from exc
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
    with conn.transaction():
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


def record_trade(conn: psycopg.Connection, trade: TradeIn) -> RecordedTrade:
    """Record one fill idempotently and update the position and pre-aggregates with it.

    Sending the same ``client_trade_id`` again returns the stored trade and changes nothing
    (a different trade under the same id is refused). A sale closes FIFO lots of the strategy's
    position on that market and side and realises its P&L at once; selling more than is held,
    or trading a settled market, is refused.
    """
    existing = _existing_trade(conn, trade)
    if existing:
        return existing
    ref = load_reference()
    fee = trade.fee_cents
    if fee is None:
        rate = ref.taker_fee_rate if trade.is_taker else ref.maker_fee_rate
        fee = fee_cents(trade.quantity, trade.price, rate)
    try:
        with conn.transaction():
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
                """
                INSERT INTO ops.trades (client_trade_id, order_id, created_at, market_id, ticker,
                    city_code, event_date, strategy_id, side, action, quantity, price, fee_cents,
                    is_taker, model_prob, open_qty, realized_pnl_cents, realized_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                RETURNING id
                """,
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
    except errors.UniqueViolation as exc:
        # A concurrent writer recorded the same client_trade_id first: ours rolled back whole.
        if exc.diag.constraint_name == "trades_client_trade_id_unique":
            again = _existing_trade(conn, trade)
            if again:
                return again
        raise _from_db_error(exc) from exc
    except (errors.CheckViolation, errors.ForeignKeyViolation) as exc:
        raise _from_db_error(exc) from exc
    assert row is not None
    return RecordedTrade(int(row[0]), False, fee, realized)


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


def settle_market(
    conn: psycopg.Connection,
    ticker: str,
    result: str,
    observed_high_f: int | None = None,
    settled_at: datetime | None = None,
) -> Settlement:
    """Settle one market YES or NO and realise the P&L of every buy in it.

    Settling again with the same result changes nothing; a different result is a correction
    (the climate report was revised): the P&L is recomputed from the new result.
    """
    if result not in ("yes", "no"):
        raise WriteError("result must be 'yes' or 'no'", field="result")
    with conn.transaction():
        market = _market_for_update(conn, ticker, "update")
        return _settle(
            conn, {int(market["id"]): (ticker, result)}, observed_high_f, settled_at or _now()
        )


def settle_event(conn: psycopg.Connection, settlement: SettlementIn) -> Settlement:
    """Settle every market of an event from the observed high: the one bracket holding it
    settles YES, the rest NO. Refused (nothing written) unless exactly one market wins."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, ticker, floor_f, cap_f FROM ops.markets WHERE event_ticker = %s"
            " ORDER BY id FOR UPDATE",
            [settlement.event_ticker],
        ).fetchall()
        if not rows:
            raise WriteError(
                f"unknown event ticker {settlement.event_ticker!r}",
                field="event_ticker",
                code="unknown_event",
            )
        t = settlement.observed_high_f
        results = {
            int(mid): (tk, "yes" if (lo is None or t >= lo) and (hi is None or t <= hi) else "no")
            for mid, tk, lo, hi in rows
        }
        winners = [tk for tk, r in results.values() if r == "yes"]
        if len(winners) != 1:
            raise WriteError(
                f"{t} F settles {len(winners)} markets of {settlement.event_ticker} YES "
                f"({', '.join(winners) or 'none'}); exactly one must win",
                field="observed_high_f",
                code="bad_settlement",
            )
        return _settle(conn, results, t, settlement.settled_at or _now())


_SETTLE_MARKETS_SQL = """
UPDATE ops.markets m
SET result = v.result, settled_at = %s, observed_high_f = coalesce(%s, m.observed_high_f)
FROM unnest(%s::bigint[], %s::text[]) AS v(id, result)
WHERE m.id = v.id AND m.result IS DISTINCT FROM v.result
RETURNING m.id
"""

# Each buy of a settled market realises (payout - price) * open_qty; the trigger on ops.trades
# moves the change into the pre-aggregates in the same transaction.
_REALISE_BUYS_SQL = """
WITH upd AS (
    UPDATE ops.trades t
    SET payout_cents = CASE WHEN t.side = m.result THEN 100 ELSE 0 END,
        realized_pnl_cents = (CASE WHEN t.side = m.result THEN 100 ELSE 0 END - t.price)::bigint
                             * t.open_qty,
        realized_at = %s
    FROM ops.markets m
    WHERE m.id = t.market_id AND t.market_id = ANY(%s) AND t.action = 'buy'
    RETURNING t.realized_pnl_cents
)
SELECT count(*), coalesce(sum(realized_pnl_cents), 0) FROM upd
"""


def _settle(
    conn: psycopg.Connection,
    results: dict[int, tuple[str, str]],
    observed_high_f: int | None,
    settled_at: datetime,
) -> Settlement:
    changed: list[tuple[int]] = []
    try:
        # NO results first: a corrected event moves its YES from one market to another, and the
        # one-YES-per-event index is checked row by row.
        for verdict in ("no", "yes"):
            ids = [mid for mid, (_, r) in results.items() if r == verdict]
            if ids:
                changed += conn.execute(
                    _SETTLE_MARKETS_SQL, [settled_at, observed_high_f, ids, [verdict] * len(ids)]
                ).fetchall()
    except errors.UniqueViolation as exc:
        raise WriteError(
            "an event can have only one market settled YES "
            f"({exc.diag.message_detail or exc.diag.constraint_name})",
            field="result",
            code="bad_settlement",
        ) from exc
    changed_ids = [int(r[0]) for r in changed]
    count, pnl = 0, 0
    if changed_ids:
        row = conn.execute(_REALISE_BUYS_SQL, [settled_at, changed_ids]).fetchone()
        assert row is not None
        count, pnl = int(row[0]), int(row[1])
    return Settlement(
        results={tk: r for tk, r in results.values()},
        trades_realized=count,
        realized_pnl_cents=pnl,
        changed=bool(changed_ids),
    )


def post_heartbeat(conn: psycopg.Connection, beat: HeartbeatIn) -> None:
    """Log a component heartbeat and make it the component's latest state."""
    at = beat.observed_at or _now()
    with conn.transaction():
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

"""Settlement: the climate report's high decides which market of an event pays.

Each function runs in one transaction on the connection it is given (see
:mod:`milkbot.store.writes`, which re-exports them). At settlement each buy of a market realises
``(payout - price) x open count`` (micros), payout $1 a contract if its side won and $0
otherwise, for every account that holds it; a corrected result recomputes it. An event has exactly one YES market once all of its markets are settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import errors
from pydantic import ValidationError

from milkbot.market import Bracket
from milkbot.store.errors import WriteError, checked, database_errors, from_validation_error
from milkbot.store.models import MarketSettlementIn, SettlementIn


@dataclass(frozen=True, slots=True)
class Settlement:
    """Outcome of a settlement: the market results and the P&L it realised (micros, gross, over
    every account)."""

    results: dict[str, str]
    trades_realized: int
    realized_pnl_micros: int
    changed: bool


_EVENT_OF_MARKET_SQL = """
SELECT id, ticker FROM ops.markets
WHERE event_ticker = (SELECT event_ticker FROM ops.markets WHERE ticker = %s)
ORDER BY id FOR UPDATE
"""


def settle_market(
    conn: psycopg.Connection,
    ticker: str,
    result: str,
    observed_high_f: int | None = None,
    settled_at: datetime | None = None,
) -> Settlement:
    """Settle one market YES or NO and realise the P&L of every buy in it.

    Settling again with the same result changes nothing; a different result is a correction
    (the climate report was revised): the P&L is recomputed from the new result. The arguments
    are validated as a :class:`MarketSettlementIn` (``observed_high_f`` in whole degrees F,
    ``settled_at`` timezone-aware UTC, default the database clock).

    An event has exactly one YES market: a second YES is refused, and so is the call that
    would leave every market of the event settled NO (``bad_settlement``, nothing written).
    Moving the YES to another market is a correction of the whole event: :func:`settle_event`.
    The "at least one" half is a deferred constraint trigger (migration 0004) rather than a
    check here, so it also holds for writes that do not come through this module (operators'
    SQL, scripts) and for concurrent settlements of one event; this function locks the
    event's markets (in id order, as :func:`settle_event` does) so two of its calls on one
    event take turns, and fires the deferred check before returning so the refusal is its own.
    """
    try:
        args = MarketSettlementIn(
            ticker=ticker, result=result, observed_high_f=observed_high_f, settled_at=settled_at
        )
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    with database_errors(), conn.transaction():
        event = conn.execute(_EVENT_OF_MARKET_SQL, [args.ticker]).fetchall()
        market_id = next((int(mid) for mid, tk in event if tk == args.ticker), None)
        if market_id is None:
            raise WriteError(
                f"unknown market ticker {args.ticker!r}", field="ticker", code="unknown_market"
            )
        return _settle(
            conn,
            {market_id: (args.ticker, args.result)},
            args.observed_high_f,
            args.settled_at,
        )


def settle_event(conn: psycopg.Connection, settlement: SettlementIn) -> Settlement:
    """Settle every market of an event from the observed high: the one bracket holding it
    settles YES, the rest NO. Refused (nothing written) unless exactly one market wins.
    Settling again with another high is a correction: the YES moves and the P&L follows."""
    settlement = checked(settlement)
    with database_errors(), conn.transaction():
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
            int(mid): (tk, "yes" if Bracket(lo, hi).settles_yes(t) else "no")
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
        return _settle(conn, results, t, settlement.settled_at)


_SETTLE_MARKETS_SQL = """
UPDATE ops.markets m
SET result = v.result, settled_at = coalesce(%s, now()),
    observed_high_f = coalesce(%s, m.observed_high_f)
FROM unnest(%s::bigint[], %s::text[]) AS v(id, result)
WHERE m.id = v.id AND m.result IS DISTINCT FROM v.result
RETURNING m.id
"""

# Each buy of a settled market realises (payout - price) x open count, exactly in micros (a
# price is a multiple of 100 micros, a count is in hundredths); the trigger on ops.trades moves
# the change into every account's pre-aggregates in the same transaction.
_REALISE_BUYS_SQL = """
WITH upd AS (
    UPDATE ops.trades t
    SET payout_micros = CASE WHEN t.side = m.result THEN 1000000 ELSE 0 END,
        realized_pnl_micros = (CASE WHEN t.side = m.result THEN 1000000 ELSE 0 END
                               - t.price_micros)::bigint * t.open_qty_centi / 100,
        realized_at = coalesce(%s, now())
    FROM ops.markets m
    WHERE m.id = t.market_id AND t.market_id = ANY(%s) AND t.action = 'buy'
    RETURNING t.realized_pnl_micros
)
SELECT count(*), coalesce(sum(realized_pnl_micros), 0) FROM upd
"""


_CHECK_WINNER_NOW_SQL = "SET CONSTRAINTS ops.markets_one_yes_when_settled IMMEDIATE"
_CHECK_WINNER_LATER_SQL = "SET CONSTRAINTS ops.markets_one_yes_when_settled DEFERRED"


def _settle(
    conn: psycopg.Connection,
    results: dict[int, tuple[str, str]],
    observed_high_f: int | None,
    settled_at: datetime | None,
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
        # Run the deferred one-YES check (migration 0004) now, inside this call's transaction
        # or savepoint, so a refusal rolls back this call only; then defer it again for the
        # rest of the caller's transaction.
        conn.execute(_CHECK_WINNER_NOW_SQL)
        conn.execute(_CHECK_WINNER_LATER_SQL)
    return Settlement(
        results={tk: r for tk, r in results.values()},
        trades_realized=count,
        realized_pnl_micros=pnl,
        changed=bool(changed_ids),
    )

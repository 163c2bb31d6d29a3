"""The pre-aggregates of a generated block, computed beside the rows instead of by PostgreSQL.

``analytics.rebuild_aggregates()`` (migration 0002) defines these tables: each trade and signal
contributes a pure function of its own row, grouped by settlement day, city, strategy, market
or probability decile. Rebuilding them in SQL after a 10M-trade load costs minutes on a small
machine, so the generator computes the same sums from its arrays while PostgreSQL is busy
loading, and COPYs the results. The test suite checks them against a fresh
``analytics.rebuild_aggregates()``, so a change to the SQL definitions cannot drift unnoticed.
Money in cents; ``edge`` is probability minus price in dollars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from milkbot.generator.binary import Column, encode_rows
from milkbot.generator.listing import Listing
from milkbot.generator.signals import Looks
from milkbot.generator.strategy import Strategies
from milkbot.generator.trades import Trades

PNL_DAILY_COLUMNS = (
    "event_date",
    "city_code",
    "strategy_id",
    "trades",
    "contracts",
    "buy_cost_cents",
    "realized_trades",
    "realized_cost_cents",
    "gross_pnl_cents",
    "fees_cents",
    "net_pnl_cents",
    "wins",
    "losses",
    "gross_profit_cents",
    "gross_loss_cents",
    "open_exposure_cents",
    "edge_sum",
    "edge_n",
    "settled_edge_cents",
    "settled_edge_n",
)
PNL_BY_DAY_COLUMNS = (
    "event_date",
    "trades",
    "contracts",
    "realized_trades",
    "gross_pnl_cents",
    "fees_cents",
    "net_pnl_cents",
    "wins",
    "losses",
)
POSITION_COLUMNS = (
    "strategy_id",
    "market_id",
    "side",
    "bought_qty",
    "sold_qty",
    "open_qty",
    "open_cost_cents",
    "realized_pnl_cents",
    "fees_cents",
)
SIGNAL_DAILY_COLUMNS = (
    "event_date",
    "strategy_id",
    "bucket",
    "signals",
    "settled_n",
    "prob_sum",
    "outcome_sum",
    "sq_err_sum",
)
AGGREGATE_TABLES = {
    "analytics.pnl_daily": PNL_DAILY_COLUMNS,
    "analytics.pnl_by_day": PNL_BY_DAY_COLUMNS,
    "ops.positions": POSITION_COLUMNS,
    "analytics.signal_daily": SIGNAL_DAILY_COLUMNS,
}
_SIDES = np.array([b"yes", b"no"], dtype=np.bytes_)


@dataclass(frozen=True, slots=True)
class AggregateRows:
    """Encoded COPY rows per aggregate table (see AGGREGATE_TABLES for the columns)."""

    rows: dict[str, bytes]
    counts: dict[str, int]


def _group(*keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Group rows by the key columns: each group's first row, and each row's group."""
    combined = np.zeros(len(keys[0]), np.int64)
    for key in keys:
        values, codes = np.unique(key, return_inverse=True)
        combined = combined * len(values) + codes.reshape(-1)
    _, first, group = np.unique(combined, return_index=True, return_inverse=True)
    return first, group.reshape(-1)


def _sum(
    group: npt.NDArray[np.intp], size: int, values: npt.NDArray[np.generic]
) -> npt.NDArray[np.int64]:
    """Integer sums per group (exact: the sums stay far below 2**53)."""
    return np.rint(np.bincount(group, values.astype(np.float64), minlength=size)).astype(np.int64)


def _fsum(
    group: npt.NDArray[np.intp], size: int, values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return np.bincount(group, values, minlength=size).astype(np.float64)


def aggregate_block(
    listing: Listing, strategies: Strategies, looks: Looks, trades: Trades
) -> AggregateRows:
    """The block's rows of analytics.pnl_daily, pnl_by_day, signal_daily and ops.positions.

    Blocks hold whole settlement days, so no group spans two blocks."""
    rows: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    t = trades
    buy = ~t.sell
    realized = t.realized_us >= 0
    settled = t.payout >= 0
    net = np.where(realized, t.realized - t.fee, 0)
    day = listing.day[t.event]
    city = listing.city[t.event]
    strategy_id = strategies.ids[t.strategy]
    codes = np.array([c.code.encode() for c in listing.cities], dtype=np.bytes_)

    first, group = _group(day, city, strategy_id)
    n = len(first)
    measures = {
        "trades": np.ones(len(t), np.int64),
        "contracts": t.quantity,
        "buy_cost_cents": np.where(buy, t.price * t.quantity, 0),
        "realized_trades": realized,
        "realized_cost_cents": np.where(realized & buy, t.price * t.quantity, 0),
        "gross_pnl_cents": np.where(realized, t.realized, 0),
        "fees_cents": np.where(realized, t.fee, 0),
        "net_pnl_cents": net,
        "wins": realized & (net > 0),
        "losses": realized & (net < 0),
        "gross_profit_cents": np.where(realized & (net > 0), net, 0),
        "gross_loss_cents": np.where(realized & (net < 0), -net, 0),
        "open_exposure_cents": np.where(~realized & buy, t.price * t.open_qty, 0),
    }
    sums = {name: _sum(group, n, values) for name, values in measures.items()}
    daily = [
        Column("date", day[first]),
        Column("text", city[first], labels=codes),
        Column("int2", strategy_id[first]),
        *(Column("int8", sums[name]) for name in PNL_DAILY_COLUMNS[3:16]),
        Column("float8", _fsum(group, n, t.model_prob - t.price / 100.0)),
        Column("int8", np.bincount(group, minlength=n).astype(np.int64)),
        Column("int8", _sum(group, n, np.where(settled, t.payout - t.price, 0))),
        Column("int8", _sum(group, n, settled)),
    ]
    rows["analytics.pnl_daily"], counts["analytics.pnl_daily"] = encode_rows(daily), n

    first, group = _group(day)
    n = len(first)
    by_day = [Column("date", day[first])] + [
        Column("int8", _sum(group, n, measures[name])) for name in PNL_BY_DAY_COLUMNS[1:]
    ]
    rows["analytics.pnl_by_day"], counts["analytics.pnl_by_day"] = encode_rows(by_day), n

    side = t.side_no.astype(np.int64)
    first, group = _group(strategy_id, t.market, side)
    n = len(first)
    positions = [
        Column("int2", strategy_id[first]),
        Column("int8", t.market[first] + 1),
        Column("text", side[first], labels=_SIDES),
        Column("int8", _sum(group, n, np.where(buy, t.quantity, 0))),
        Column("int8", _sum(group, n, np.where(t.sell, t.quantity, 0))),
        Column("int8", _sum(group, n, np.where(realized, 0, t.open_qty))),
        Column("int8", _sum(group, n, np.where(realized, 0, t.price * t.open_qty))),
        Column("int8", _sum(group, n, np.where(realized, t.realized, 0))),
        Column("int8", _sum(group, n, t.fee)),
    ]
    rows["ops.positions"], counts["ops.positions"] = encode_rows(positions), n

    signal_day = listing.day[looks.event]
    bucket = np.minimum(np.floor(looks.model_prob * 10), 9).astype(np.int64)
    first, group = _group(signal_day, strategies.ids[looks.strategy], bucket)
    n = len(first)
    known = listing.settled[looks.event]
    outcome = listing.wins.reshape(-1)[looks.market]
    error = looks.model_prob - outcome
    signal_daily = [
        Column("date", signal_day[first]),
        Column("int2", strategies.ids[looks.strategy][first]),
        Column("int2", bucket[first]),
        Column("int8", np.bincount(group, minlength=n).astype(np.int64)),
        Column("int8", _sum(group, n, known)),
        Column("float8", _fsum(group, n, np.where(known, looks.model_prob, 0.0))),
        Column("int8", _sum(group, n, known & outcome)),
        Column("float8", _fsum(group, n, np.where(known, error * error, 0.0))),
    ]
    rows["analytics.signal_daily"], counts["analytics.signal_daily"] = encode_rows(signal_daily), n
    return AggregateRows(rows, counts)

"""The pre-aggregates of a generated block, computed beside the rows instead of by PostgreSQL.

Migration 0002's trigger SQL (``trade_delta_sql``, ``signal_delta_sql``) defines these tables:
each trade and signal contributes a pure function of its own row, grouped by settlement day,
city, strategy, market or probability decile. Rebuilding them in SQL after a 10M-trade load
costs 60-80 s on a small machine, half the whole load's time or more (docs/PERFORMANCE.md),
so the generator computes the same sums from its arrays while PostgreSQL is busy loading, and
COPYs the results. Their roll-ups (0003's pnl_city_day, pnl_strategy_day and
signal_strategy_day, 0007's account_totals) are sums of those rows over coarser keys, which are
the same sums of the trades and signals over those keys: they are computed here too and COPYed
while the roll-up triggers are disabled (letting the triggers roll up a 10M-trade load took
~40 s). A block holds whole settlement days, so only account_totals (one row per account, over
every day) spans blocks: each block yields its partial sums and :func:`merge` adds them up.

Each table is an :class:`Aggregate` whose key columns and measures are keyed by their column
names, each measure written once as the function of one row that the SQL sums. Two checks keep
the two definitions together: at load time the loader compares every table's columns in the
catalogue with the names here and refuses to load when one is missing or extra
(:func:`milkbot.generator.loader.check_columns`), and the test suite compares the values with a
fresh ``analytics.rebuild_aggregates()``. Money in micros, counts in hundredths of a contract;
``edge`` is probability minus price in dollars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from milkbot.generator.binary import Column, encode_rows
from milkbot.generator.listing import Listing
from milkbot.generator.signals import Looks
from milkbot.generator.strategy import Strategies
from milkbot.generator.trades import Trades
from milkbot.money import CENTI_PER_CONTRACT

R = TypeVar("R")
Array = npt.NDArray[np.generic]
_SIDES = np.array([b"yes", b"no"], dtype=np.bytes_)


@dataclass(frozen=True, slots=True)
class Sum(Generic[R]):
    """A measure: per group, the sum of ``of(rows)`` (one value per row). ``kind`` is the
    column's COPY type: "int8" sums integers exactly, "float8" sums floats."""

    kind: Literal["int8", "float8"]
    of: Callable[[R], Array]


@dataclass(frozen=True, slots=True)
class Aggregate(Generic[R]):
    """One pre-aggregate table: the rows grouped by ``keys`` (column name -> the rows' key
    column) and each of ``sums`` per group. ``defaults`` are the table's columns left to their
    DEFAULT (as the trigger SQL leaves them)."""

    table: str
    keys: Mapping[str, Callable[[R], Column]]
    sums: Mapping[str, Sum[R]]
    defaults: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the generator COPYs, in COPY order."""
        return (*self.keys, *self.sums)

    @property
    def table_columns(self) -> frozenset[str]:
        """Every column the table must have: those COPYed and those left to their DEFAULT."""
        return frozenset((*self.columns, *self.defaults))

    def group(self, rows: R) -> Grouped:
        """The grouped ``rows``: one row per key, its sums (columns in :attr:`columns` order)."""
        keys = [key(rows) for key in self.keys.values()]
        first, group = _group(*(key.values for key in keys))
        n = len(first)
        columns = [replace(key, values=key.values[first]) for key in keys]
        for measure in self.sums.values():
            total = _SUMS[measure.kind](group, n, measure.of(rows))
            columns.append(Column(measure.kind, total))
        return Grouped(len(keys), columns)

    def encode(self, rows: R) -> tuple[bytes, int]:
        """Binary COPY tuples of the grouped ``rows`` (see :attr:`columns`), and their count."""
        grouped = self.group(rows)
        return grouped.encode(), grouped.count


@dataclass(frozen=True, slots=True)
class Grouped:
    """Grouped rows of an aggregate: ``columns`` in COPY order, the first ``keys`` of them
    its key."""

    keys: int
    columns: list[Column]

    @property
    def count(self) -> int:
        return len(self.columns[0].values)

    def encode(self) -> bytes:
        return encode_rows(self.columns)


def merge(parts: Sequence[Grouped]) -> Grouped:
    """Partial sums of one aggregate (one per block) added up per key: the sums over every
    block. Integer sums stay exact (int64 additions)."""
    if not parts:
        raise ValueError("merge needs at least one part")
    first = parts[0]
    columns = [
        replace(c, values=np.concatenate([p.columns[i].values for p in parts]))
        for i, c in enumerate(first.columns)
    ]
    key_columns = columns[: first.keys]
    head, group = _group(*(c.values for c in key_columns))
    n = len(head)
    merged = [replace(c, values=c.values[head]) for c in key_columns]
    for c in columns[first.keys :]:
        total = np.zeros(n, c.values.dtype)
        np.add.at(total, group, c.values)
        merged.append(Column(c.kind, total))
    return Grouped(first.keys, merged)


@dataclass(frozen=True, slots=True)
class TradeRows:
    """A block's trades with the terms their measures share (trade_delta_sql's ``c``)."""

    t: Trades
    account_id: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    city: npt.NDArray[np.int64]
    city_codes: npt.NDArray[np.bytes_]
    strategy_id: npt.NDArray[np.int64]
    one: npt.NDArray[np.int64]
    buy: npt.NDArray[np.bool_]
    realized: npt.NDArray[np.bool_]  # realized_pnl_micros IS NOT NULL
    settled: npt.NDArray[np.bool_]  # payout_micros IS NOT NULL
    net: npt.NDArray[np.int64]  # realised net P&L, 0 while unrealised
    cost: npt.NDArray[np.int64]  # price x quantity (micros)
    open_cost: npt.NDArray[np.int64]  # price x open quantity (micros)
    fee: npt.NDArray[np.int64]  # fee_micros, the net fee

    @classmethod
    def of(cls, listing: Listing, strategies: Strategies, trades: Trades) -> TradeRows:
        realized = trades.realized_us >= 0
        fee = trades.fee
        return cls(
            t=trades,
            account_id=trades.account_id,
            day=listing.day[trades.event],
            city=listing.city[trades.event],
            city_codes=np.array([c.code.encode() for c in listing.cities], dtype=np.bytes_),
            strategy_id=strategies.ids[trades.strategy],
            one=np.ones(len(trades), np.int64),
            buy=~trades.sell,
            realized=realized,
            settled=trades.payout >= 0,
            net=np.where(realized, trades.realized - fee, 0),
            cost=trades.price * trades.quantity // CENTI_PER_CONTRACT,
            open_cost=trades.price * trades.open_qty // CENTI_PER_CONTRACT,
            fee=fee,
        )


@dataclass(frozen=True, slots=True)
class SignalRows:
    """A block's signals with the terms their measures share (signal_delta_sql's ``c``)."""

    looks: Looks
    account_id: npt.NDArray[np.int64]
    day: npt.NDArray[np.int64]
    strategy_id: npt.NDArray[np.int64]
    bucket: npt.NDArray[np.int64]  # probability decile 0..9
    one: npt.NDArray[np.int64]
    known: npt.NDArray[np.bool_]  # the market is settled
    outcome: npt.NDArray[np.bool_]  # the market settles YES
    error: npt.NDArray[np.float64]  # model probability minus outcome

    @classmethod
    def of(cls, listing: Listing, strategies: Strategies, looks: Looks) -> SignalRows:
        outcome = listing.wins.reshape(-1)[looks.market]
        return cls(
            looks=looks,
            account_id=looks.account_id,
            day=listing.day[looks.event],
            strategy_id=strategies.ids[looks.strategy],
            bucket=np.minimum(np.floor(looks.model_prob * 10), 9).astype(np.int64),
            one=np.ones(len(looks), np.int64),
            known=listing.settled[looks.event],
            outcome=outcome,
            error=looks.model_prob - outcome,
        )


def _trade_day(r: TradeRows) -> Column:
    return Column("date", r.day)


def _trade_account(r: TradeRows) -> Column:
    return Column("int4", r.account_id)


def _trade_strategy(r: TradeRows) -> Column:
    return Column("int2", r.strategy_id)


# What each trade adds to analytics.pnl_daily (trade_delta_sql), by column.
TRADE_SUMS: dict[str, Sum[TradeRows]] = {
    "trades": Sum("int8", lambda r: r.one),
    "contracts_centi": Sum("int8", lambda r: r.t.quantity),
    "buy_cost_micros": Sum("int8", lambda r: np.where(r.buy, r.cost, 0)),
    "realized_trades": Sum("int8", lambda r: r.realized),
    "realized_cost_micros": Sum("int8", lambda r: np.where(r.realized & r.buy, r.cost, 0)),
    "gross_pnl_micros": Sum("int8", lambda r: np.where(r.realized, r.t.realized, 0)),
    "fees_micros": Sum("int8", lambda r: np.where(r.realized, r.fee, 0)),
    "net_pnl_micros": Sum("int8", lambda r: r.net),
    "wins": Sum("int8", lambda r: r.realized & (r.net > 0)),
    "losses": Sum("int8", lambda r: r.realized & (r.net < 0)),
    "gross_profit_micros": Sum("int8", lambda r: np.where(r.realized & (r.net > 0), r.net, 0)),
    "gross_loss_micros": Sum("int8", lambda r: np.where(r.realized & (r.net < 0), -r.net, 0)),
    "open_exposure_micros": Sum("int8", lambda r: np.where(~r.realized & r.buy, r.open_cost, 0)),
    "edge_sum": Sum("float8", lambda r: r.t.model_prob - r.t.price / 1_000_000.0),
    "edge_n": Sum("int8", lambda r: r.one),
    "settled_edge_micros": Sum("int8", lambda r: np.where(r.settled, r.t.payout - r.t.price, 0)),
    "settled_edge_n": Sum("int8", lambda r: r.settled),
}

PNL_DAILY: Aggregate[TradeRows] = Aggregate(
    "analytics.pnl_daily",
    keys={
        "account_id": _trade_account,
        "event_date": _trade_day,
        "city_code": lambda r: Column("text", r.city, labels=r.city_codes),
        "strategy_id": _trade_strategy,
    },
    sums=TRADE_SUMS,
)
# The same measures per day; the table's definition (0002) says which of them it holds.
PNL_BY_DAY: Aggregate[TradeRows] = Aggregate(
    "analytics.pnl_by_day",
    keys={"account_id": _trade_account, "event_date": _trade_day},
    sums={
        name: TRADE_SUMS[name]
        for name in (
            "trades",
            "contracts_centi",
            "realized_trades",
            "gross_pnl_micros",
            "fees_micros",
            "net_pnl_micros",
            "wins",
            "losses",
        )
    },
)
# Per strategy, market and side (the positions upsert of trade_delta_sql).
POSITIONS: Aggregate[TradeRows] = Aggregate(
    "ops.positions",
    keys={
        "account_id": _trade_account,
        "strategy_id": _trade_strategy,
        "market_id": lambda r: Column("int8", r.t.market + 1),
        "side": lambda r: Column("text", r.t.side_no.astype(np.int64), labels=_SIDES),
    },
    sums={
        "bought_qty_centi": Sum("int8", lambda r: np.where(r.buy, r.t.quantity, 0)),
        "sold_qty_centi": Sum("int8", lambda r: np.where(r.t.sell, r.t.quantity, 0)),
        "open_qty_centi": Sum("int8", lambda r: np.where(r.realized, 0, r.t.open_qty)),
        "open_cost_micros": Sum("int8", lambda r: np.where(r.realized, 0, r.open_cost)),
        "realized_pnl_micros": Sum("int8", lambda r: np.where(r.realized, r.t.realized, 0)),
        "fees_micros": Sum("int8", lambda r: r.fee),
    },
    defaults=("updated_at",),
)
# Per settlement day, strategy and probability decile (signal_delta_sql).
SIGNAL_DAILY: Aggregate[SignalRows] = Aggregate(
    "analytics.signal_daily",
    keys={
        "account_id": lambda r: Column("int4", r.account_id),
        "event_date": lambda r: Column("date", r.day),
        "strategy_id": lambda r: Column("int2", r.strategy_id),
        "bucket": lambda r: Column("int2", r.bucket),
    },
    sums={
        "signals": Sum("int8", lambda r: r.one),
        "settled_n": Sum("int8", lambda r: r.known),
        "prob_sum": Sum("float8", lambda r: np.where(r.known, r.looks.model_prob, 0.0)),
        "outcome_sum": Sum("int8", lambda r: r.known & r.outcome),
        "sq_err_sum": Sum("float8", lambda r: np.where(r.known, r.error * r.error, 0.0)),
    },
)
# The roll-ups of pnl_daily and signal_daily: the same measures over coarser keys (0003's
# pnl_rollup_sql and signal_rollup_sql as 0006 re-made them, 0007's account_totals_sql).
PNL_CITY_DAY: Aggregate[TradeRows] = Aggregate(
    "analytics.pnl_city_day",
    keys={
        "account_id": _trade_account,
        "event_date": _trade_day,
        "city_code": lambda r: Column("text", r.city, labels=r.city_codes),
    },
    sums={
        name: TRADE_SUMS[name]
        for name in (
            "trades",
            "contracts_centi",
            "realized_trades",
            "realized_cost_micros",
            "gross_pnl_micros",
            "fees_micros",
            "net_pnl_micros",
            "wins",
            "losses",
            "open_exposure_micros",
        )
    },
)
PNL_STRATEGY_DAY: Aggregate[TradeRows] = Aggregate(
    "analytics.pnl_strategy_day",
    keys={"account_id": _trade_account, "strategy_id": _trade_strategy, "event_date": _trade_day},
    sums={
        name: TRADE_SUMS[name]
        for name in (
            "trades",
            "realized_trades",
            "net_pnl_micros",
            "wins",
            "losses",
            "gross_profit_micros",
            "gross_loss_micros",
            "edge_sum",
            "edge_n",
            "settled_edge_micros",
            "settled_edge_n",
        )
    },
)
SIGNAL_STRATEGY_DAY: Aggregate[SignalRows] = Aggregate(
    "analytics.signal_strategy_day",
    keys={
        "account_id": SIGNAL_DAILY.keys["account_id"],
        "strategy_id": SIGNAL_DAILY.keys["strategy_id"],
        "event_date": SIGNAL_DAILY.keys["event_date"],
    },
    sums={name: SIGNAL_DAILY.sums[name] for name in ("signals", "settled_n", "sq_err_sum")},
)
# Per account over every day: the one table whose groups span blocks (see merge).
ACCOUNT_TOTALS: Aggregate[TradeRows] = Aggregate(
    "analytics.account_totals",
    keys={"account_id": _trade_account},
    sums={
        name: TRADE_SUMS[name]
        for name in (
            "trades",
            "realized_trades",
            "fees_micros",
            "net_pnl_micros",
            "wins",
            "losses",
            "open_exposure_micros",
        )
    },
)
TRADE_AGGREGATES = (PNL_DAILY, PNL_BY_DAY, POSITIONS, PNL_CITY_DAY, PNL_STRATEGY_DAY)
SIGNAL_AGGREGATES = (SIGNAL_DAILY, SIGNAL_STRATEGY_DAY)
# Aggregates summed over the whole run: each block gives partial sums (AggregateRows.partial).
RUN_AGGREGATES = (ACCOUNT_TOTALS,)
AGGREGATES = (*TRADE_AGGREGATES, *SIGNAL_AGGREGATES, *RUN_AGGREGATES)
# Table -> the columns the generator COPYs into it, in load order.
AGGREGATE_TABLES = {a.table: a.columns for a in AGGREGATES}
# Table -> every column its catalogue entry must have (the load-time check).
AGGREGATE_TABLE_COLUMNS = {a.table: a.table_columns for a in AGGREGATES}


@dataclass(frozen=True, slots=True)
class AggregateRows:
    """Encoded COPY rows per aggregate table (see AGGREGATE_TABLES for the columns), and the
    block's partial sums of the RUN_AGGREGATES (to :func:`merge`, then encode, after the last
    block)."""

    rows: dict[str, bytes]
    counts: dict[str, int]
    partial: dict[str, Grouped]


def _group(*keys: Array) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Group rows by the key columns: each group's first row, and each row's group."""
    combined = np.zeros(len(keys[0]), np.int64)
    for key in keys:
        if len(key) and np.issubdtype(key.dtype, np.integer):
            # Integer keys span a small range: offsets from the least need no sort.
            low = int(key.min())
            size = int(key.max()) - low + 1
            codes = key.astype(np.int64) - low
        else:
            values, codes = np.unique(key, return_inverse=True)
            size = len(values)
        combined = combined * size + codes.reshape(-1)
    _, first, group = np.unique(combined, return_index=True, return_inverse=True)
    return first, group.reshape(-1)


def _sum(group: npt.NDArray[np.intp], size: int, values: Array) -> npt.NDArray[np.int64]:
    """Integer sums per group (exact: the sums stay far below 2**53)."""
    return np.rint(np.bincount(group, values.astype(np.float64), minlength=size)).astype(np.int64)


def _fsum(group: npt.NDArray[np.intp], size: int, values: Array) -> npt.NDArray[np.float64]:
    return np.bincount(group, values.astype(np.float64), minlength=size).astype(np.float64)


_SUMS: dict[str, Callable[[npt.NDArray[np.intp], int, Array], Array]] = {
    "int8": _sum,
    "float8": _fsum,
}


def aggregate_block(
    listing: Listing, strategies: Strategies, looks: Looks, trades: Trades
) -> AggregateRows:
    """The block's rows of ops.positions and every analytics aggregate.

    Blocks hold whole settlement days, so no group spans two blocks except those of the
    RUN_AGGREGATES (account_totals), which come as partial sums."""
    trade_rows = TradeRows.of(listing, strategies, trades)
    signal_rows = SignalRows.of(listing, strategies, looks)
    encoded = {a.table: a.encode(trade_rows) for a in TRADE_AGGREGATES}
    encoded |= {a.table: a.encode(signal_rows) for a in SIGNAL_AGGREGATES}
    return AggregateRows(
        rows={table: rows for table, (rows, _) in encoded.items()},
        counts={table: count for table, (_, count) in encoded.items()},
        partial={a.table: a.group(trade_rows) for a in RUN_AGGREGATES},
    )

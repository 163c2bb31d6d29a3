"""The run cut into blocks of consecutive days, each generated from its own seeded stream and
encoded for COPY with its pre-aggregates, so memory stays bounded and the output is the same
whatever runs beside it.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import structlog

from milkbot.generator.accounts import Accounts
from milkbot.generator.aggregates import AggregateRows, aggregate_block
from milkbot.generator.binary import Column, encode_rows
from milkbot.generator.listing import Listing
from milkbot.generator.plan import Plan
from milkbot.generator.signals import DECISIONS, Looks, Pairs, draw_looks
from milkbot.generator.strategy import Strategies, activity_weights
from milkbot.generator.trades import CANDIDATE_SHARE, Book, Fees, Trades, build_trades
from milkbot.reference import Reference

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Blocks generated ahead of the COPY (each holds a few tens of MB).
PREFETCH = 2
# Looks (signals) per block: bounds memory (a few hundred MB at most) and keeps COPY busy.
BLOCK_LOOKS = 300_000
# When too few looks of a block qualify for its trade quota, draw this share more, up to
# this many times (it takes unusual luck on tiny blocks to need it at all).
TOP_UP_SHARE = 0.08
MAX_TOP_UPS = 60

SIGNAL_COLUMNS = (
    "id",
    "account_id",
    "created_at",
    "strategy_id",
    "market_id",
    "city_code",
    "event_date",
    "model_prob",
    "yes_price_micros",
    "forecast_high_f",
    "decision",
)
TRADE_COLUMNS = (
    "id",
    "account_id",
    "client_trade_id",
    "created_at",
    "recorded_at",
    "market_id",
    "ticker",
    "city_code",
    "event_date",
    "strategy_id",
    "side",
    "action",
    "quantity_centi",
    "price_micros",
    "trade_fee_micros",
    "rounding_fee_micros",
    "is_taker",
    "model_prob",
    "open_qty_centi",
    "payout_micros",
    "realized_pnl_micros",
    "realized_at",
)
CLIENT_ID_PREFIX = b"gen-"
CLIENT_ID_DIGITS = 11
SIDES = np.array([b"yes", b"no"], dtype=np.bytes_)
ACTIONS = np.array([b"buy", b"sell"], dtype=np.bytes_)


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """Block ``index`` covers listing events ``first_event`` up to ``stop_event``."""

    index: int
    first_event: int
    stop_event: int
    looks: int
    trades: int


@dataclass(frozen=True, slots=True)
class EncodedBlock:
    """A block ready for COPY (binary tuples without header or trailer)."""

    spec: BlockSpec
    signals: int
    trades: int
    sales: int
    open_trades: int
    signal_rows: bytes
    trade_rows: bytes
    aggregates: AggregateRows


def plan_blocks(plan: Plan, listing: Listing, strategies: Strategies) -> list[BlockSpec]:
    """Cut the run into blocks of whole days and share the looks and trades among them by the
    activity their events can hold."""
    events = np.arange(listing.events, dtype=np.int64)
    weight = activity_weights(listing, events, strategies, plan.now_us).sum(axis=1)
    day_starts = np.flatnonzero(np.diff(listing.day, prepend=listing.day[0] - 1))
    day_weight = np.add.reduceat(weight, day_starts) if len(events) else np.zeros(0)
    expected = plan.signals * day_weight / max(day_weight.sum(), 1e-12)
    bounds = [0]
    running = 0.0
    for day, looks in enumerate(expected.tolist()):
        running += looks
        if running >= BLOCK_LOOKS and day + 1 < len(expected):
            bounds.append(day + 1)
            running = 0.0
    bounds.append(len(expected))
    block_weight = np.array([day_weight[a:b].sum() for a, b in itertools.pairwise(bounds)])
    looks = _apportion(plan.signals, block_weight)
    trades = _apportion(plan.trades, block_weight)
    stops = [*day_starts.tolist(), listing.events]
    return [
        BlockSpec(i, stops[a], stops[b], int(looks[i]), int(trades[i]))
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]


def _apportion(total: int, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Split ``total`` in proportion to ``weights`` (largest remainders; sums to ``total``)."""
    if total == 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = total * weights / weights.sum()
    base: npt.NDArray[np.int64] = np.floor(exact).astype(np.int64)
    short = total - int(base.sum())
    base[np.argsort(-(exact - base), kind="stable")[:short]] += 1
    return base


def generate_blocks(
    plan: Plan,
    ref: Reference,
    listing: Listing,
    strategies: Strategies,
    accounts: Accounts,
    book: Book,
    specs: list[BlockSpec],
) -> Iterator[EncodedBlock]:
    """Generate and encode each block in turn, ids continuing from block to block and the
    accounts' equity carried in ``book``."""
    fees = Fees(ref.taker_fee_rate, ref.maker_fee_rate)
    names = sorted({c.cluster for c in listing.cities})
    clusters = np.array([names.index(c.cluster) for c in listing.cities], dtype=np.int64)
    next_signal, next_trade = 1, 1
    for spec in specs:
        rng = np.random.default_rng([plan.seed, 1, spec.index])
        events = np.arange(spec.first_event, spec.stop_event, dtype=np.int64)
        pairs = Pairs.draw(listing, events, strategies, plan.now_us, rng)
        # Accounts stopped out (trades.STOP_OUT_BP) have gone quiet.
        silent = np.tile(book.stopped[strategies.account], len(events))
        pairs = replace(pairs, weight=np.where(silent, 0.0, pairs.weight))
        looks = _looks_for(plan, ref, listing, strategies, pairs, spec, book.owed, rng)
        trades = build_trades(
            listing,
            strategies,
            accounts,
            clusters,
            book,
            pairs,
            looks,
            spec.trades,
            fees,
            ref.model_sigma_f,
            plan.now_us,
            next_trade,
            rng,
        )
        signal_rows = encode_rows(_signal_columns(listing, strategies, looks, next_signal))
        yield EncodedBlock(
            spec=spec,
            signals=len(looks),
            trades=len(trades),
            sales=int(trades.sell.sum()),
            open_trades=int(((trades.realized_us < 0) & (trades.open_qty > 0)).sum()),
            signal_rows=signal_rows,
            trade_rows=encode_rows(_trade_columns(listing, strategies, trades)),
            aggregates=aggregate_block(listing, strategies, looks, trades),
        )
        next_signal += len(looks)
        next_trade += len(trades)


def _looks_for(
    plan: Plan,
    ref: Reference,
    listing: Listing,
    strategies: Strategies,
    pairs: Pairs,
    spec: BlockSpec,
    owed: int,
    rng: np.random.Generator,
) -> Looks:
    """The block's looks, topped up while fewer qualify than the block has trades to fill
    (its own and ``owed``, those earlier blocks could not place), with a margin for the fills
    the risk limits refuse."""
    if spec.looks == 0 or pairs.weight.sum() <= 0:
        return draw_looks(listing, strategies, pairs, 0, ref.model_sigma_f, ref.min_edge, rng)
    parts = [
        draw_looks(listing, strategies, pairs, spec.looks, ref.model_sigma_f, ref.min_edge, rng)
    ]
    wanted = (spec.trades + owed) * CANDIDATE_SHARE
    for _ in range(MAX_TOP_UPS):
        qualifying = sum(
            int(((p.decision != 0) & strategies.trades[p.strategy]).sum()) for p in parts
        )
        if qualifying >= wanted:
            break
        extra = math.ceil(spec.looks * TOP_UP_SHARE) + 10
        parts.append(
            draw_looks(listing, strategies, pairs, extra, ref.model_sigma_f, ref.min_edge, rng)
        )
    looks = (
        parts[0]
        if len(parts) == 1
        else Looks(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Looks.__dataclass_fields__)
        )
    )
    order = np.argsort(looks.time_us, kind="stable")
    return Looks(*(getattr(looks, f)[order] for f in Looks.__dataclass_fields__))


def _signal_columns(
    listing: Listing, strategies: Strategies, looks: Looks, first_id: int
) -> list[Column]:
    n = len(looks)
    return [
        Column("int8", first_id + np.arange(n, dtype=np.int64)),
        Column("int4", looks.account_id),
        Column("timestamptz", looks.time_us),
        Column("int2", strategies.ids[looks.strategy]),
        Column("int8", looks.market + 1),
        Column("text", listing.city[looks.event], labels=_city_codes(listing)),
        Column("date", listing.day[looks.event]),
        Column("float8", looks.model_prob),
        Column("int4", looks.yes_price),
        Column("float4", np.round(looks.forecast, 1)),
        Column("text", looks.decision, labels=DECISIONS),
    ]


def _trade_columns(listing: Listing, strategies: Strategies, trades: Trades) -> list[Column]:
    unsettled = trades.payout < 0
    unrealized = trades.realized_us < 0
    return [
        Column("int8", trades.id),
        Column("int4", trades.account_id),
        Column("text", client_trade_ids(trades.id)),
        Column("timestamptz", trades.time_us),
        Column("timestamptz", trades.recorded_us),
        Column("int8", trades.market + 1),
        Column("text", trades.market, labels=listing.tickers),
        Column("text", listing.city[trades.event], labels=_city_codes(listing)),
        Column("date", listing.day[trades.event]),
        Column("int2", strategies.ids[trades.strategy]),
        Column("text", trades.side_no.astype(np.int64), labels=SIDES),
        Column("text", trades.sell.astype(np.int64), labels=ACTIONS),
        Column("int8", trades.quantity),
        Column("int4", trades.price),
        Column("int8", trades.trade_fee),
        Column("int8", trades.rounding_fee),
        Column("bool", trades.taker),
        Column("float8", trades.model_prob),
        Column("int8", trades.open_qty),
        Column("int4", trades.payout, null=unsettled),
        Column("int8", trades.realized, null=unrealized),
        Column("timestamptz", trades.realized_us, null=unrealized),
    ]


def client_trade_ids(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bytes_]:
    """``gen-00000000042``: fixed width, so their text order is the ids' order."""
    powers = 10 ** np.arange(CLIENT_ID_DIGITS - 1, -1, -1, dtype=np.int64)
    digits = (ids[:, None] // powers % 10 + ord("0")).astype(np.uint8)
    prefix = np.broadcast_to(
        np.frombuffer(CLIENT_ID_PREFIX, np.uint8), (len(ids), len(CLIENT_ID_PREFIX))
    )
    raw = np.ascontiguousarray(np.concatenate([prefix, digits], axis=1))
    return raw.view(f"S{raw.shape[1]}").ravel()


def _city_codes(listing: Listing) -> npt.NDArray[np.bytes_]:
    return np.array([c.code.encode() for c in listing.cities], dtype=np.bytes_)


def prefetch(items: Iterator[T], depth: int = PREFETCH) -> Iterator[T]:
    """Iterate ``items`` produced by a background thread, up to ``depth`` ahead, so numpy
    generates the next block while PostgreSQL loads this one. Errors surface in the caller."""
    buffer: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("done", None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put("error", exc)

    worker = threading.Thread(target=produce, name="milkbot-generator", daemon=True)
    worker.start()
    waited = 0.0
    try:
        while True:
            started = time.perf_counter()
            kind, value = buffer.get()
            waited += time.perf_counter() - started
            if kind == "done":
                log.debug("generator_waited", seconds=round(waited, 2))
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()

"""Fills from the looks whose edge cleared the threshold, the few sales before settlement, and
the P&L that follows from the settled highs, by the write path's rules (store/writes.py).

A BUY look buys YES at its price, a SELL look buys NO at 100 - price; the trade's model
probability is the model's probability that the side it bought wins. Not every qualifying look
fills (risk limits, unfilled orders). About 3 % of positions are sold, wholly or partly, before
the close: the sale closes the oldest lots first (FIFO by execution time, then id) and realises
``price * quantity`` minus their cost at once. At settlement each buy realises
``(payout - price) * open_qty``, payout 100 if its side won, else 0. Fees follow
:func:`milkbot.market.fee_cents` at the taker rate, or the maker rate for the few maker fills.
All money in cents, times in microseconds since 1970-01-01 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from milkbot.generator.listing import Listing
from milkbot.generator.signals import (
    SELL,
    Looks,
    Pairs,
    market_yes_price,
    strategy_forecast,
    yes_probability,
)
from milkbot.generator.strategy import SECOND_US, Strategies
from milkbot.money import (
    CENT_MICROS,
    CENTI_PER_CONTRACT,
    PAYOUT_MICROS,
    rounding_fee_micros_array,
    trade_fee_micros_array,
)

# docs/DOMAIN.md's per-trade risk limit (a share of the bankroll); a tenth of Kelly's stake.
MAX_TRADE_SHARE = 0.02
KELLY_FRACTION = 0.1
MAX_CONTRACTS = 50
MAKER_SHARE = 0.06
# The generated accounts' balance precision ($0.01: not direct members).
BALANCE_PRECISION_MICROS = CENT_MICROS
# Positions sold before settlement, and how many of those are sold whole.
SALE_SHARE = 0.03
WHOLE_SALE_SHARE = 0.4
SALE_MIN_WINDOW_US = 600 * SECOND_US
SALE_END_MARGIN_US = 60 * SECOND_US
# From the look to the fill, and from the fill to the platform recording it.
LATENCY_US = (50_000, 1_500_000)
RECORD_DELAY_US = (20_000, 400_000)


@dataclass(frozen=True, slots=True)
class Fees:
    """Kalshi's taker and maker fee rates (reference.toml)."""

    taker: Decimal
    maker: Decimal

    def trade_fee(
        self,
        quantity: npt.NDArray[np.int64],
        price: npt.NDArray[np.int64],
        taker: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.int64]:
        """Each fill's trade fee in micros (:func:`milkbot.money.trade_fee_micros_array`) at
        its rate; ``quantity`` in hundredths of a contract, ``price`` in micros."""
        fees: npt.NDArray[np.int64] = np.where(
            taker,
            trade_fee_micros_array(price, quantity, self.taker),
            trade_fee_micros_array(price, quantity, self.maker),
        )
        return fees


@dataclass(frozen=True, slots=True)
class Trades:
    """A block's trades in id order. ``payout`` and ``realized`` are -1 / masked when NULL."""

    id: npt.NDArray[np.int64]
    time_us: npt.NDArray[np.int64]
    recorded_us: npt.NDArray[np.int64]
    event: npt.NDArray[np.int64]
    market: npt.NDArray[np.int64]
    strategy: npt.NDArray[np.int64]
    side_no: npt.NDArray[np.bool_]
    sell: npt.NDArray[np.bool_]
    quantity: npt.NDArray[np.int64]  # hundredths of a contract
    price: npt.NDArray[np.int64]  # micros
    trade_fee: npt.NDArray[np.int64]  # micros
    rounding_fee: npt.NDArray[np.int64]  # micros
    taker: npt.NDArray[np.bool_]
    model_prob: npt.NDArray[np.float64]
    open_qty: npt.NDArray[np.int64]
    payout: npt.NDArray[np.int64]  # micros; -1: NULL (unsettled buy, or a sale)
    realized: npt.NDArray[np.int64]  # micros
    realized_us: npt.NDArray[np.int64]  # -1: NULL (realized too)
    account_id: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.id)

    @property
    def fee(self) -> npt.NDArray[np.int64]:
        """The net fee charged (fee_micros: trade fee + rounding fee, no rebates)."""
        fee: npt.NDArray[np.int64] = self.trade_fee + self.rounding_fee
        return fee


def build_trades(
    listing: Listing,
    strategies: Strategies,
    pairs: Pairs,
    looks: Looks,
    quota: int,
    fees: Fees,
    bankroll_cents: int,
    sigma: float,
    now_us: int,
    first_id: int,
    rng: np.random.Generator,
) -> Trades:
    """``quota`` trades (fewer only if too few looks qualify): fills of qualifying looks, with
    some of their positions sold before the close, numbered from ``first_id``; buys are sized
    to ``bankroll_cents``."""
    qualifying = np.flatnonzero(looks.decision != 0)
    fills = np.sort(rng.choice(qualifying, size=min(quota, len(qualifying)), replace=False))
    time = looks.time_us[fills] + rng.integers(*LATENCY_US, size=len(fills))
    keep, sold, sale_time = _plan_sales(listing, strategies, looks, fills, time, now_us, rng)
    buys, sale_looks = fills[keep], fills[sold]
    source = np.concatenate([buys, sale_looks])  # the look behind each row
    side_no = looks.decision[source] == SELL
    is_sale = np.arange(len(source)) >= len(buys)

    # Buys at the look's price; sales at the side's price (less a cent) when sold.
    yes = looks.yes_price[buys]
    buy_price = np.where(side_no[~is_sale], PAYOUT_MICROS - yes, yes)
    buy_prob = np.where(side_no[~is_sale], 1 - looks.model_prob[buys], looks.model_prob[buys])
    sale_yes_price, sale_yes_prob = _quotes_at(
        listing, strategies, pairs, looks, sale_looks, sale_time, sigma, rng
    )
    sale_side_no = side_no[is_sale]
    rows = {
        "event": looks.event[source],
        "market": looks.market[source],
        "strategy": looks.strategy[source],
        "side_no": side_no,
        "sale": is_sale,
        "time": np.concatenate([time[keep], sale_time]),
        "price": np.concatenate(
            [
                buy_price,
                _tick_below(
                    listing,
                    looks.event[sale_looks],
                    np.where(sale_side_no, PAYOUT_MICROS - sale_yes_price, sale_yes_price),
                ),
            ]
        ),
        "quantity": np.concatenate(
            [_stake(buy_prob, buy_price, bankroll_cents, rng), np.zeros(len(sold), np.int64)]
        ),
        "model_prob": np.concatenate(
            [buy_prob, np.where(sale_side_no, 1 - sale_yes_prob, sale_yes_prob)]
        ),
        "taker": np.concatenate([rng.random(len(buys)) >= MAKER_SHARE, np.ones(len(sold), bool)]),
    }
    # Ids in execution order (a sale after the buys of the same instant), as recorded live.
    order = np.lexsort((rows["sale"], rows["time"]))
    r = {name: values[order] for name, values in rows.items()}
    ids = first_id + np.arange(len(order), dtype=np.int64)
    key = _position_key(r["market"], r["strategy"], r["side_no"], len(strategies))
    quantity, open_qty, realized = _close_lots(key, ids, r["sale"], r["quantity"], r["price"], rng)

    settled_at = listing.settled_us[r["event"]]
    wins = listing.wins.reshape(-1)[r["market"]] != r["side_no"]
    settled = (settled_at >= 0) & ~r["sale"]
    payout = np.where(settled, np.where(wins, PAYOUT_MICROS, 0), -1)
    trade_fee = fees.trade_fee(quantity, r["price"], r["taker"])
    cost = r["price"] * quantity // CENTI_PER_CONTRACT
    rounding_fee = rounding_fee_micros_array(~r["sale"], cost, trade_fee, BALANCE_PRECISION_MICROS)
    return Trades(
        id=ids,
        time_us=r["time"],
        recorded_us=r["time"] + rng.integers(*RECORD_DELAY_US, size=len(ids)),
        event=r["event"],
        market=r["market"],
        strategy=r["strategy"],
        side_no=r["side_no"],
        sell=r["sale"],
        quantity=quantity,
        price=r["price"],
        trade_fee=trade_fee,
        rounding_fee=rounding_fee,
        taker=r["taker"],
        model_prob=r["model_prob"],
        open_qty=open_qty,
        payout=payout,
        realized=np.where(
            settled, (payout - r["price"]) * open_qty // CENTI_PER_CONTRACT, realized
        ),
        realized_us=np.where(settled, settled_at, np.where(r["sale"], r["time"], -1)),
        account_id=strategies.account_id[r["strategy"]],
    )


def _position_key(
    market: npt.NDArray[np.int64],
    strategy: npt.NDArray[np.int64],
    side_no: npt.NDArray[np.bool_],
    strategies: int,
) -> npt.NDArray[np.int64]:
    """One number per position (strategy, market, side)."""
    key: npt.NDArray[np.int64] = (market * strategies + strategy) * 2 + side_no
    return key


def _plan_sales(
    listing: Listing,
    strategies: Strategies,
    looks: Looks,
    fills: npt.NDArray[np.intp],
    time: npt.NDArray[np.int64],
    now_us: int,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Pick the positions sold before the close (one sale each, after the first buy, at least
    a minute before the close). As many fills of unsold positions are dropped, so the count
    stays. Returns the fills kept as buys, the fill behind each sale, and the sales' times."""
    key = _position_key(
        looks.market[fills], looks.strategy[fills], looks.decision[fills] == SELL, len(strategies)
    )
    order = np.lexsort((time, key))
    first = order[np.flatnonzero(np.diff(key[order], prepend=-1))]
    limit = np.minimum(listing.closes_us[looks.event[fills[first]]], now_us) - SALE_END_MARGIN_US
    room = limit - time[first]
    picked = np.flatnonzero((room >= SALE_MIN_WINDOW_US) & (rng.random(len(first)) < SALE_SHARE))
    unsold = np.flatnonzero(~np.isin(key, key[first[picked]]))
    picked = picked[: len(unsold)]
    keep = np.ones(len(fills), dtype=bool)
    keep[rng.choice(unsold, size=len(picked), replace=False)] = False
    sold = first[picked]
    when = time[sold] + (rng.uniform(0.1, 1.0, len(picked)) * room[picked]).astype(np.int64)
    return keep, sold, when


def _quotes_at(
    listing: Listing,
    strategies: Strategies,
    pairs: Pairs,
    looks: Looks,
    which: npt.NDArray[np.intp],
    time_us: npt.NDArray[np.int64],
    sigma: float,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The YES price and the strategy's YES probability on the markets of looks ``which`` at
    later times ``time_us``."""
    event, market = looks.event[which], looks.market[which]
    opened = listing.opened_us[event]
    progress = (time_us - opened) / (listing.closes_us[event] - opened)
    price = market_yes_price(listing, event, market, progress, rng)
    forecast = strategy_forecast(
        listing,
        strategies,
        event,
        looks.strategy[which],
        pairs.own_error[looks.pair[which]],
        progress,
        rng,
    )
    floor, cap = listing.floor.reshape(-1)[market], listing.cap.reshape(-1)[market]
    return price, yes_probability(forecast, sigma, floor, cap)


def _tick_below(
    listing: Listing, event: npt.NDArray[np.int64], price: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """One tick below ``price`` on each event's grid (a sale gives up a tick), not below the
    grid's lowest price."""
    tick = np.where(
        listing.tapered[event] & ((price <= 100_000) | (price > 900_000)), 1_000, CENT_MICROS
    )
    lowest = np.where(listing.tapered[event], 1_000, CENT_MICROS)
    below: npt.NDArray[np.int64] = np.maximum(price - tick, lowest)
    return below


def _stake(
    prob: npt.NDArray[np.float64],
    price: npt.NDArray[np.int64],
    bankroll_cents: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """Hundredths of a contract per buy (whole contracts): a fraction of Kelly's stake, capped
    at 2 % of the bankroll."""
    cost = price / PAYOUT_MICROS
    kelly = np.clip((prob - cost) / (1 - cost), 0.0, 1.0)
    stake = np.minimum(KELLY_FRACTION * kelly, MAX_TRADE_SHARE) * bankroll_cents * CENT_MICROS
    stake = stake * rng.uniform(0.2, 1.0, len(price))
    contracts = np.clip(stake // price, 1, MAX_CONTRACTS).astype(np.int64)
    centi: npt.NDArray[np.int64] = contracts * CENTI_PER_CONTRACT
    return centi


def _close_lots(
    key: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    is_sale: npt.NDArray[np.bool_],
    quantity: npt.NDArray[np.int64],
    price: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Size each sale from the lots it finds (the position's buys recorded before it) and close
    them oldest first, as writes._close_lots does. Returns quantity, open_qty and the sales'
    realised P&L (0 elsewhere), in the rows' order."""
    if len(key) == 0:
        return quantity, quantity.copy(), np.zeros_like(quantity)
    order = np.lexsort((ids, key))
    k, sale = key[order], is_sale[order]
    group = np.cumsum(np.diff(k, prepend=k[0] - 1) != 0) - 1
    groups = int(group[-1]) + 1 if len(k) else 0
    sale_id = np.full(groups, -1, dtype=np.int64)
    sale_id[group[sale]] = ids[order][sale]
    lot = ~sale & (ids[order] < sale_id[group])  # groups without a sale have none
    lot_qty = np.where(lot, quantity[order], 0)
    held = np.bincount(group, lot_qty, minlength=groups).astype(np.int64)
    contracts = held // CENTI_PER_CONTRACT
    whole = (rng.random(groups) < WHOLE_SALE_SHARE) | (contracts <= 1)
    part = CENTI_PER_CONTRACT * (
        1 + (rng.random(groups) * np.maximum(contracts - 1, 0)).astype(np.int64)
    )
    sold = np.where(whole, held, part)
    before = np.cumsum(lot_qty) - lot_qty
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    before = before - before[starts][group]
    closed = np.where(lot, np.clip(sold[group] - before, 0, lot_qty), 0)
    cost = np.bincount(group, closed * price[order], minlength=groups).astype(np.int64)
    sorted_quantity = np.where(sale, sold[group], quantity[order])
    sorted_open = np.where(sale, 0, quantity[order] - closed)
    sorted_realized = np.where(
        sale, (price[order] * sold[group] - cost[group]) // CENTI_PER_CONTRACT, 0
    )
    out_quantity, out_open, out_realized = (np.empty_like(quantity) for _ in range(3))
    out_quantity[order], out_open[order], out_realized[order] = (
        sorted_quantity,
        sorted_open,
        sorted_realized,
    )
    return out_quantity, out_open, out_realized

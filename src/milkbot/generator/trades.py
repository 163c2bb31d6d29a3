"""Fills from the looks whose edge cleared the threshold, the few sales before settlement, and
the P&L that follows from the settled highs, by the write path's rules (store/writes.py), each
sized within its account's risk limits.

A BUY look buys YES at its price, a SELL look buys NO at $1 - price; the trade's model
probability is the model's probability that the side it bought wins. Not every qualifying look
fills (risk limits, unfilled orders). About 3 % of positions are sold, wholly or partly, before
the close: the sale closes the oldest lots first (FIFO by execution time, then id) and realises
``price * quantity`` minus their cost at once. At settlement each buy realises
``(payout - price) * open_qty``, payout $1 if its side won, else 0. The trade fee is Kalshi's
formula (:func:`milkbot.money.trade_fee_micros_array`) at the taker rate, or the maker rate for
the few maker fills, plus the rounding fee at the account's balance precision.

Sizing (common.md's limit definitions) runs day by day, vectorised over the day's trades of
every account: an account's equity at the start of an event day (starting bankroll, deposits
and the net realised P&L of every earlier day) bounds each buy's cost (max_trade_bp), the open
cost per city, per cluster and in all (every buy of the day is open until the sales start, and
every earlier event has settled: see listing.BUYING_SHARE), and an account whose previous day
lost daily_loss_bp of its equity buys nothing that day. A stake is a fraction of Kelly's,
scaled down per city, then per cluster, then in all until each limit holds, then rounded down to
the contract (or the hundredth, on fractional markets); a fill that rounds to nothing is not
made. Equity cannot fall below zero: a day loses at most its open cost and fees.

Money in micros, counts in hundredths of a contract, times in microseconds since 1970-01-01 UTC.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from milkbot.generator.accounts import Accounts
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

# A tenth of Kelly's stake, at most 2 % of equity before the account's own limits.
KELLY_FRACTION = 0.008
MAX_TRADE_SHARE = 0.02
MAX_CONTRACTS = 2_000
MAKER_SHARE = 0.06
# Positions sold before settlement, and how many of those are sold whole.
SALE_SHARE = 0.03
WHOLE_SALE_SHARE = 0.4
SALE_MIN_WINDOW_US = 600 * SECOND_US
SALE_END_MARGIN_US = 60 * SECOND_US
# From the look to the fill, and from the fill to the platform recording it.
LATENCY_US = (50_000, 1_500_000)
RECORD_DELAY_US = (20_000, 400_000)
# Looks filled beyond the quota, as candidates for fills the limits refuse or round away.
CANDIDATE_SHARE = 1.02
# On fractional markets, the share of fills for a fraction of a contract.
FRACTIONAL_FILL_SHARE = 0.6
# Deposits arrive this long before the day's buying starts.
DEPOSIT_LEAD_US = 1_800 * SECOND_US
# Scaling leaves this much room, so that float rounding cannot push a sum over its limit.
SCALE_MARGIN = 1 - 1e-9
BP = 10_000
# An account whose equity falls below this share of what was put in (basis points: a 35 %
# drawdown from its funding) stops
# trading for good (docs/DOMAIN.md: it stops long before its equity could reach zero).
STOP_OUT_BP = 6_500


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


@dataclass
class Book:
    """Each account's state between days and blocks: equity (micros), whether the last day's
    loss pauses the next, the deposits made, and the trades still owed to the target."""

    equity: npt.NDArray[np.int64]
    funded: npt.NDArray[np.int64]  # starting bankroll + deposits
    paused: npt.NDArray[np.bool_]
    stopped: npt.NDArray[np.bool_]
    deposits: list[tuple[int, int, int]] = field(default_factory=list)  # (account, us, micros)
    owed: int = 0

    @classmethod
    def opening(cls, accounts: Accounts) -> Book:
        stopped = np.zeros(len(accounts), dtype=bool)
        return cls(accounts.bankroll.copy(), accounts.bankroll.copy(), stopped.copy(), stopped)


def build_trades(
    listing: Listing,
    strategies: Strategies,
    accounts: Accounts,
    clusters: npt.NDArray[np.int64],
    book: Book,
    pairs: Pairs,
    looks: Looks,
    quota: int,
    fees: Fees,
    sigma: float,
    now_us: int,
    first_id: int,
    rng: np.random.Generator,
) -> Trades:
    """About ``quota`` trades (fewer if too few looks qualify or the limits refuse them):
    fills of the qualifying looks of trading accounts, with some of their positions sold
    before the close, numbered from ``first_id`` and sized within each account's limits
    (``book`` carries the accounts' equity from block to block; ``clusters`` is each city's
    cluster)."""
    qualifying = np.flatnonzero((looks.decision != 0) & strategies.trades[looks.strategy])
    wanted = quota + book.owed
    size = min(math.ceil(wanted * CANDIDATE_SHARE) + 10, len(qualifying))
    fills = np.sort(rng.choice(qualifying, size=size, replace=False))
    time = looks.time_us[fills] + rng.integers(*LATENCY_US, size=len(fills))
    keep, sold, sale_time = _plan_sales(listing, strategies, looks, fills, time, now_us, rng)
    buys, sale_looks = fills[keep], fills[sold]
    source = np.concatenate([buys, sale_looks])  # the look behind each row
    side_no = looks.decision[source] == SELL
    is_sale = np.arange(len(source)) >= len(buys)

    # Buys at the look's price; sales at the side's price (less a tick) when sold.
    yes = looks.yes_price[buys]
    buy_price = np.where(side_no[~is_sale], PAYOUT_MICROS - yes, yes)
    buy_prob = np.where(side_no[~is_sale], 1 - looks.model_prob[buys], looks.model_prob[buys])
    sale_yes_price, sale_yes_prob = _quotes_at(
        listing, strategies, pairs, looks, sale_looks, sale_time, sigma, rng
    )
    sale_side_no = side_no[is_sale]
    lane = looks.strategy[source]
    rows = {
        "event": looks.event[source],
        "market": looks.market[source],
        "strategy": lane,
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
        "stake": np.concatenate(
            [
                _stake_share(buy_prob, buy_price, rng)
                * accounts.stake[strategies.account[lane[~is_sale]]],
                np.zeros(len(sold)),
            ]
        ),
        "model_prob": np.concatenate(
            [buy_prob, np.where(sale_side_no, 1 - sale_yes_prob, sale_yes_prob)]
        ),
        "taker": np.concatenate([rng.random(len(buys)) >= MAKER_SHARE, np.ones(len(sold), bool)]),
        "priority": rng.random(len(source)),
        "part": rng.random(len(source)),
        "whole": np.concatenate(
            [
                rng.random(len(buys)) >= FRACTIONAL_FILL_SHARE,
                rng.random(len(sold)) < WHOLE_SALE_SHARE,
            ]
        ),
    }
    # Rows in execution order (a sale after the buys of the same instant), as recorded live.
    order = np.lexsort((rows["sale"], rows["time"]))
    r = {name: values[order] for name, values in rows.items()}
    key = _position_key(r["market"], r["strategy"], r["side_no"], len(strategies))
    settled_at = listing.settled_us[r["event"]]
    wins = listing.wins.reshape(-1)[r["market"]] != r["side_no"]
    settled = (settled_at >= 0) & ~r["sale"]
    payout = np.where(wins, PAYOUT_MICROS, 0)
    sized = _size(listing, accounts, strategies, clusters, book, fees, r, key, payout, quota)

    made = sized.quantity > 0
    r = {name: values[made] for name, values in r.items()}
    key, settled_at, settled, payout = key[made], settled_at[made], settled[made], payout[made]
    quantity = sized.quantity[made]
    ids = first_id + np.arange(len(quantity), dtype=np.int64)
    open_qty, sale_realized = _close_lots(key, ids, r["sale"], quantity, r["price"])
    payout = np.where(settled, payout, -1)
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
        trade_fee=sized.trade_fee[made],
        rounding_fee=sized.rounding_fee[made],
        taker=r["taker"],
        model_prob=r["model_prob"],
        open_qty=open_qty,
        payout=payout,
        realized=np.where(
            settled, (payout - r["price"]) * open_qty // CENTI_PER_CONTRACT, sale_realized
        ),
        realized_us=np.where(settled, settled_at, np.where(r["sale"], r["time"], -1)),
        account_id=strategies.account_id[r["strategy"]],
    )


@dataclass(frozen=True, slots=True)
class Sized:
    """Per row (in execution order): hundredths of a contract (0: not made) and fees."""

    quantity: npt.NDArray[np.int64]
    trade_fee: npt.NDArray[np.int64]
    rounding_fee: npt.NDArray[np.int64]


def _size(
    listing: Listing,
    accounts: Accounts,
    strategies: Strategies,
    clusters: npt.NDArray[np.int64],
    book: Book,
    fees: Fees,
    r: dict[str, npt.NDArray[np.generic]],
    key: npt.NDArray[np.int64],
    payout: npt.NDArray[np.int64],
    quota: int,
) -> Sized:
    """Size the rows day by day within the limits, keep ``quota`` of them (plus what earlier
    blocks still owe, ``book.owed``) as far as the limits allow, and carry each account's
    equity and pause forward in ``book``."""
    n = len(key)
    quantity = np.zeros(n, dtype=np.int64)
    trade_fee = np.zeros(n, dtype=np.int64)
    rounding_fee = np.zeros(n, dtype=np.int64)
    if n == 0:
        return Sized(quantity, trade_fee, rounding_fee)
    event = r["event"].astype(np.int64)
    day = listing.day[event]
    account = strategies.account[r["strategy"].astype(np.int64)]
    city = listing.city[event]
    cluster = clusters[city]
    sale = r["sale"].astype(bool)
    price = r["price"].astype(np.int64)
    fractional = listing.fractional[event]
    limits = accounts.limits
    n_accounts, n_cities, n_clusters = len(accounts), len(listing.cities), int(clusters.max()) + 1
    starts = np.flatnonzero(np.diff(day, prepend=day[0] - 1))
    bounds = [*starts.tolist(), n]
    owed = float(book.owed)
    for lo, hi in itertools.pairwise(bounds):
        d = int(day[lo])
        due = np.flatnonzero(accounts.deposit_day == d)
        if len(due):
            book.equity[due] += accounts.deposit[due]
            book.funded[due] += accounts.deposit[due]
            when = int(listing.buys_from_us[event[lo]]) - DEPOSIT_LEAD_US
            book.deposits.extend((int(a), when, int(accounts.deposit[a])) for a in due)
        rows = np.arange(lo, hi)
        b = rows[~sale[lo:hi]]
        s = rows[sale[lo:hi]]
        a = account[b]
        equity = book.equity[a]
        cap = equity * limits[a, 0] // BP
        # At least one contract when one fits the per-trade limit (the city, cluster and open
        # limits below may still scale it away).
        # Stakes are sized on the lesser of equity and the money put in: a bot sizes down after
        # losses but does not size up from its profits (which would compound a lucky year into
        # a hundredfold one); the limits below still apply to the whole equity.
        base = np.minimum(equity, book.funded[a])
        cost = np.floor(r["stake"][b].astype(np.float64) * base)
        cost = np.where(price[b] <= cap, np.maximum(cost, price[b]), cost)
        cost = np.minimum(cost, cap).astype(np.float64)
        cost[book.paused[a]] = 0.0
        for group, column in (
            (a * n_cities + city[b], 1),
            (a * n_clusters + cluster[b], 2),
            (a, 3),
        ):
            total = np.bincount(group, cost)[group]
            cap = (equity * limits[a, column] // BP).astype(np.float64)
            scale = np.where(total > cap, cap / np.maximum(total, 1.0) * SCALE_MARGIN, 1.0)
            cost = np.floor(cost * scale)
        spend = cost.astype(np.int64)
        centi = spend * CENTI_PER_CONTRACT // price[b]
        whole = ~fractional[b] | r["whole"][b].astype(bool)
        centi = np.where(whole, centi // CENTI_PER_CONTRACT * CENTI_PER_CONTRACT, centi)
        centi = np.minimum(centi, MAX_CONTRACTS * CENTI_PER_CONTRACT)
        # Keep the day's share of the target among the fills the limits leave (sales count
        # too: leave room for them).
        owed += quota * (hi - lo) / n
        goal = max(int(owed + 1e-6) - len(s), 0)
        made = np.flatnonzero(centi > 0)
        if len(made) > goal:
            made = made[np.argsort(r["priority"][b][made], kind="stable")[:goal]]
        owed -= len(made)
        kept = np.zeros(len(b), dtype=np.int64)
        kept[made] = centi[made]
        quantity[b] = kept
        # Sales: whole or part of what the position bought today (0: nothing to sell).
        if len(s):
            keys, inverse = np.unique(np.concatenate([key[b], key[s]]), return_inverse=True)
            held = np.bincount(inverse[: len(b)], kept, minlength=len(keys)).astype(np.int64)
            have = held[inverse[len(b) :]]
            part = np.where(
                fractional[s],
                np.maximum(1, (r["part"][s] * have).astype(np.int64)),
                np.maximum(1, (r["part"][s] * (have // CENTI_PER_CONTRACT)).astype(np.int64))
                * CENTI_PER_CONTRACT,
            )
            whole_sale = r["whole"][s].astype(bool) | (part >= have)
            quantity[s] = np.where(have > 0, np.where(whole_sale, have, part), 0)
            owed -= int((have > 0).sum())
        # Fees, then the day's net realised P&L once every event of the day has settled.
        fills = rows[quantity[lo:hi] > 0]
        q, p, buy = quantity[fills], price[fills], ~sale[fills]
        fee = fees.trade_fee(q, p, r["taker"][fills].astype(bool))
        spent = p * q // CENTI_PER_CONTRACT
        rounding = rounding_fee_micros_array(buy, spent, fee, accounts.precision[account[fills]])
        trade_fee[fills], rounding_fee[fills] = fee, rounding
        if bool((listing.settled_us[event[lo:hi]] >= 0).all()):
            gain = np.where(buy, payout[fills] - p, p - payout[fills]) * q // CENTI_PER_CONTRACT
            net = np.bincount(account[fills], gain - fee - rounding, minlength=n_accounts)
            net = np.rint(net).astype(np.int64)
            after = book.equity + net
            book.paused = (-net * BP >= limits[:, 4] * after) & (net < 0)
            book.stopped |= after * BP < STOP_OUT_BP * book.funded
            book.paused |= book.stopped
            book.equity = after
    book.owed = max(round(owed), 0)
    return Sized(quantity, trade_fee, rounding_fee)


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
    """Pick the positions sold before the close (one sale each, once the day's buying is over,
    at least a minute before the close). As many fills of unsold positions are dropped, so the
    count stays. Returns the fills kept as buys, the fill behind each sale, and the sales'
    times."""
    key = _position_key(
        looks.market[fills], looks.strategy[fills], looks.decision[fills] == SELL, len(strategies)
    )
    order = np.lexsort((time, key))
    first = order[np.flatnonzero(np.diff(key[order], prepend=-1))]
    event = looks.event[fills[first]]
    limit = np.minimum(listing.closes_us[event], now_us) - SALE_END_MARGIN_US
    begin = np.maximum(listing.sales_from_us[event], time[first] + 1)
    room = limit - begin
    picked = np.flatnonzero((room >= SALE_MIN_WINDOW_US) & (rng.random(len(first)) < SALE_SHARE))
    unsold = np.flatnonzero(~np.isin(key, key[first[picked]]))
    picked = picked[: len(unsold)]
    keep = np.ones(len(fills), dtype=bool)
    keep[rng.choice(unsold, size=len(picked), replace=False)] = False
    sold = first[picked]
    when = begin[picked] + (rng.uniform(0.1, 1.0, len(picked)) * room[picked]).astype(np.int64)
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


def _stake_share(
    prob: npt.NDArray[np.float64], price: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Each buy's stake as a share of equity: a fraction of Kelly's, at most MAX_TRADE_SHARE,
    times a draw (the bot's sizing and the book's depth)."""
    cost = price / PAYOUT_MICROS
    kelly = np.clip((prob - cost) / (1 - cost), 0.0, 1.0)
    share: npt.NDArray[np.float64] = np.minimum(
        KELLY_FRACTION * kelly, MAX_TRADE_SHARE
    ) * rng.uniform(0.2, 1.0, len(price))
    return share


def _close_lots(
    key: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    is_sale: npt.NDArray[np.bool_],
    quantity: npt.NDArray[np.int64],
    price: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Close the lots each sale finds (the position's buys recorded before it) oldest first,
    as writes._close_lots does. Returns open_qty and the sales' realised P&L (0 elsewhere),
    in the rows' order."""
    if len(key) == 0:
        return quantity.copy(), np.zeros_like(quantity)
    order = np.lexsort((ids, key))
    k, sale = key[order], is_sale[order]
    group = np.cumsum(np.diff(k, prepend=k[0] - 1) != 0) - 1
    groups = int(group[-1]) + 1
    sale_id = np.full(groups, -1, dtype=np.int64)
    sale_id[group[sale]] = ids[order][sale]
    sold = np.zeros(groups, dtype=np.int64)
    sold[group[sale]] = quantity[order][sale]
    lot = ~sale & (ids[order] < sale_id[group])  # groups without a sale have none
    lot_qty = np.where(lot, quantity[order], 0)
    before = np.cumsum(lot_qty) - lot_qty
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    before = before - before[starts][group]
    closed = np.where(lot, np.clip(sold[group] - before, 0, lot_qty), 0)
    cost = np.zeros(groups, dtype=np.int64)
    np.add.at(cost, group, closed * price[order])
    sorted_open = np.where(sale, 0, quantity[order] - closed)
    sorted_realized = np.where(
        sale, (price[order] * sold[group] - cost[group]) // CENTI_PER_CONTRACT, 0
    )
    out_open, out_realized = np.empty_like(quantity), np.empty_like(quantity)
    out_open[order], out_realized[order] = sorted_open, sorted_realized
    return out_open, out_realized

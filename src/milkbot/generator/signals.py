"""The bot's cycles: which market each strategy looked at, when, and what it saw.

Each look is one signal (docs/DOMAIN.md): the strategy's forecast of the high (the truth plus an
error that shrinks as the day approaches), its model's probability that the market settles YES
(a normal around that forecast, sigma ``model_sigma_f``), the market's YES price (from the
consensus, which keeps all of the public forecast's error, plus quote noise; in micros on the
market's tick grid), and the decision: BUY when the edge clears
``min_edge``, SELL (buy NO) when it is below ``-min_edge``, HOLD otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from milkbot.generator.listing import Listing
from milkbot.generator.strategy import Strategies, activity_weights, trading_windows

# The spread (F) the market prices with around its consensus (a little tighter than the bot's
# model_sigma_f: the market knows its forecasts are good).
MARKET_SIGMA_F = 2.8
# Noise of a quoted price around the consensus fair value, in cents.
PRICE_NOISE_CENTS = 1.5
CENT_MICROS = 10_000
DECI_CENT_MICROS = 1_000
# Short-term wobble of forecasts between cycles (F).
FORECAST_JITTER_F = 0.5
CONSENSUS_JITTER_F = 0.7
# Share of the forecast error left at the close (errors shrink as the day unfolds).
ERROR_AT_CLOSE = 0.4
DECISIONS = np.array([b"HOLD", b"BUY", b"SELL"], dtype=np.bytes_)
HOLD, BUY, SELL = 0, 1, 2
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class Looks:
    """Signals of one block: per look the event (index into the listing), market (index into
    the listing's markets), strategy (index), pair (event-strategy index in the block) and
    what the strategy saw."""

    event: npt.NDArray[np.int64]
    market: npt.NDArray[np.int64]
    strategy: npt.NDArray[np.int64]
    pair: npt.NDArray[np.int64]
    time_us: npt.NDArray[np.int64]
    forecast: npt.NDArray[np.float64]
    model_prob: npt.NDArray[np.float64]
    yes_price: npt.NDArray[np.int64]
    decision: npt.NDArray[np.int64]
    account_id: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.time_us)


@dataclass(frozen=True, slots=True)
class Pairs:
    """The (event, strategy) pairs a block of looks is drawn from, and their forecast errors."""

    events: npt.NDArray[np.int64]  # listing indexes of the block's events
    start_us: npt.NDArray[np.int64]  # per pair (flattened events x strategies)
    end_us: npt.NDArray[np.int64]
    weight: npt.NDArray[np.float64]
    own_error: npt.NDArray[np.float64]  # per pair: the strategy's own error (F) at the listing

    @classmethod
    def draw(
        cls,
        listing: Listing,
        events: npt.NDArray[np.int64],
        strategies: Strategies,
        now_us: int,
        rng: np.random.Generator,
    ) -> Pairs:
        """The pairs of ``events``, each event busier or quieter than average at random."""
        start, end = trading_windows(listing, events, strategies, now_us)
        activity = rng.gamma(4.0, 0.25, size=(len(events), 1))
        weight = activity_weights(listing, events, strategies, now_us) * activity
        error = rng.normal(0.0, 1.0, size=start.shape) * strategies.own_error_sd[None, :]
        return cls(events, start.ravel(), end.ravel(), weight.ravel(), error.ravel())


def normal_cdf(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, error < 2e-7)."""
    x = np.abs(z) / _SQRT2
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.copysign(erf, z))


def yes_probability(
    centre: npt.NDArray[np.float64],
    sigma: float,
    floor: npt.NDArray[np.int64],
    cap: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """P(high settles in floor..cap) for a normal high around ``centre``; reports are whole
    degrees, so the bracket covers floor - 0.5 to cap + 0.5 (tails open-ended)."""
    upper = normal_cdf((cap + 0.5 - centre) / sigma)
    lower = normal_cdf((floor - 0.5 - centre) / sigma)
    return np.clip(upper - lower, 0.0, 1.0)


def market_yes_price(
    listing: Listing,
    event: npt.NDArray[np.int64],
    market: npt.NDArray[np.int64],
    progress: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """The market's YES price (micros) at a point ``progress`` (0..1) of its window: whole
    cents from $0.01 to $0.99, or on a ``tapered_deci_cent`` market $0.001 ticks below $0.10
    and above $0.90 (from $0.001 to $0.999)."""
    consensus = (
        listing.observed[event]
        + listing.consensus_error[event] * (1 - (1 - ERROR_AT_CLOSE) * progress)
        + rng.normal(0.0, CONSENSUS_JITTER_F, len(event))
    )
    fair = yes_probability(
        consensus, MARKET_SIGMA_F, _floor(listing, market), _cap(listing, market)
    )
    fine = np.rint(1000 * fair + 10 * rng.normal(0.0, PRICE_NOISE_CENTS, len(event)))
    fine = np.clip(fine, 1, 999).astype(np.int64) * DECI_CENT_MICROS
    cents = np.clip(np.rint(fine / CENT_MICROS), 1, 99).astype(np.int64) * CENT_MICROS
    tails = (fine < 100_000) | (fine > 900_000)
    tapered = listing.tapered[event]
    price: npt.NDArray[np.int64] = np.where(tapered & tails, fine, cents)
    return price


def strategy_forecast(
    listing: Listing,
    strategies: Strategies,
    event: npt.NDArray[np.int64],
    strategy: npt.NDArray[np.int64],
    error: npt.NDArray[np.float64],
    progress: npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """The strategy's forecast high (F) at ``progress`` of the window: the truth plus the part
    of the public forecast's error it keeps and its own error (both shrinking toward the
    close); mean reversion blends it with the seasonal normal."""
    public = strategies.public_error[strategy] * listing.consensus_error[event]
    raw = (
        listing.observed[event]
        + (public + error) * (1 - (1 - ERROR_AT_CLOSE) * progress)
        + rng.normal(0.0, FORECAST_JITTER_F, len(event))
    )
    pull = strategies.climatology_weight[strategy]
    return (1 - pull) * raw + pull * listing.normal[event]


def draw_looks(
    listing: Listing,
    strategies: Strategies,
    pairs: Pairs,
    count: int,
    sigma: float,
    min_edge: float,
    rng: np.random.Generator,
) -> Looks:
    """``count`` looks spread over the block's pairs by weight, each at a time within its
    pair's window, on a market near the strategy's forecast."""
    total = pairs.weight.sum()
    if count == 0 or total <= 0:
        pair = np.zeros(0, dtype=np.int64)
    else:
        pair = np.repeat(np.arange(len(pairs.weight)), rng.multinomial(count, pairs.weight / total))
    count = len(pair)
    n_strategies = len(strategies)
    event = pairs.events[pair // n_strategies]
    strategy = pair % n_strategies
    when = rng.beta(strategies.timing_a[strategy], strategies.timing_b[strategy])
    time_us = pairs.start_us[pair] + (when * (pairs.end_us[pair] - pairs.start_us[pair])).astype(
        np.int64
    )
    opened = listing.opened_us[event]
    progress = (time_us - opened) / (listing.closes_us[event] - opened)
    forecast = strategy_forecast(
        listing, strategies, event, strategy, pairs.own_error[pair], progress, rng
    )
    # The strategy looks where its model puts the high, so mostly at brackets near it.
    guess = np.rint(forecast + rng.normal(0.0, sigma, count)).astype(np.int64)
    per_event = listing.per_event
    low = listing.floor[event, 1]
    width = listing.cap[event, 1] - low + 1
    slot = np.clip((guess - low) // width + 1, 0, per_event - 1)
    market = event * per_event + slot
    model = yes_probability(forecast, sigma, _floor(listing, market), _cap(listing, market))
    price = market_yes_price(listing, event, market, progress, rng)
    edge = model - price / 1_000_000.0
    decision = np.where(edge >= min_edge, BUY, np.where(edge <= -min_edge, SELL, HOLD))
    return Looks(
        event=event,
        market=market,
        strategy=strategy,
        pair=pair,
        time_us=time_us,
        forecast=forecast,
        model_prob=model,
        yes_price=price,
        decision=decision,
        account_id=strategies.account_id[strategy],
    )


def _floor(listing: Listing, market: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return listing.floor.reshape(-1)[market]


def _cap(listing: Listing, market: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return listing.cap.reshape(-1)[market]

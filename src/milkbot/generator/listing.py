"""The listed events and markets: one event per city and climate day, each a set of 2 F bracket
markets plus two open-ended tails centred near the market's consensus forecast (docs/DOMAIN.md;
the rules themselves are :mod:`milkbot.market`'s).

Times are microseconds since 1970-01-01 UTC and days are counted from 1970-01-01, as numpy
arrays; events are ordered by day, then by the reference order of the cities, and the markets of
event ``e`` are ``e * markets_per_event + k`` (tails first and last), with id ``index + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from milkbot.generator.binary import Column
from milkbot.generator.climate import draw_highs, normal_highs
from milkbot.generator.plan import BUYING_LAG_US, SETTLE_DELAY_US, Plan
from milkbot.market import (
    NO_CAP,
    NO_FLOOR,
    Bracket,
    climate_day_starts_us,
    event_brackets_array,
    event_ticker,
    settles_yes_array,
    trading_hours_us,
)
from milkbot.reference import City, Reference

HOUR_US = 3_600_000_000
# Spread (F) of the public forecast, which the market's consensus follows, around the
# eventual high when listed.
CONSENSUS_ERROR_F = 2.5
# Shares of events listed on the tapered deci-cent grid, and with fractional counts (Kalshi
# moves series to both gradually; a city's events on a day share one draw per property).
TAPERED_SHARE = 0.25
FRACTIONAL_SHARE = 0.3
# The accounts buy an event day's markets only once every city's previous event has settled
# (so at most one event per city is open at any instant, and the equity the risk limits
# measure is settled), and sell only after they have done buying for the day: buying runs
# from a minute after the last possible settlement to BUYING_SHARE of the time to the first
# close, sales from there to each market's close.
BUYING_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Listing:
    """Every event and market of a run, with the hidden truth that settles them."""

    cities: tuple[City, ...]
    city: npt.NDArray[np.int64]  # per event: index into cities
    day: npt.NDArray[np.int64]  # per event: climate day
    start_us: npt.NDArray[np.int64]  # per event: climate day start
    opened_us: npt.NDArray[np.int64]
    closes_us: npt.NDArray[np.int64]
    settled_us: npt.NDArray[np.int64]  # -1 while unsettled
    observed: npt.NDArray[np.int64]  # the day's high (F), known or still to come
    normal: npt.NDArray[np.float64]  # climatological mean high (F)
    consensus_error: npt.NDArray[np.float64]  # market consensus minus truth when listed (F)
    floor: npt.NDArray[np.int64]  # per market (events x markets); NO_FLOOR for the lower tail
    cap: npt.NDArray[np.int64]  # per market; NO_CAP for the upper tail
    tickers: npt.NDArray[np.bytes_]  # per market
    event_tickers: npt.NDArray[np.bytes_]  # per event
    titles: npt.NDArray[np.bytes_]  # per market, UTF-8
    buys_from_us: npt.NDArray[np.int64]  # per event: the day's buying starts
    sales_from_us: npt.NDArray[np.int64]  # per event: buying ends, sales before the close start
    tapered: npt.NDArray[np.bool_]  # per event: tapered_deci_cent ($0.001 ticks in the tails)
    fractional: npt.NDArray[np.bool_]  # per event: fractional_trading_enabled

    @property
    def events(self) -> int:
        return len(self.day)

    @property
    def per_event(self) -> int:
        return int(self.floor.shape[1])

    @property
    def settled(self) -> npt.NDArray[np.bool_]:
        return self.settled_us >= 0

    @property
    def wins(self) -> npt.NDArray[np.bool_]:
        """Per market: settles (or will settle) YES; exactly one per event."""
        return settles_yes_array(self.floor, self.cap, self.observed[:, None])


def build_listing(
    plan: Plan, ref: Reference, rng: np.random.Generator, grid_rng: np.random.Generator
) -> Listing:
    """Draw the daily highs and list the events of every settlement day of ``plan``, plus the
    next day's events whose markets are already trading at ``plan.now``; ``grid_rng`` draws
    each event's tick grid and whether it allows fractional counts."""
    cities = ref.cities
    first = (plan.first_day - date(1970, 1, 1)).days
    days = np.arange(first, first + plan.days + 1, dtype=np.int64)  # one spare for next day
    highs = np.stack([draw_highs(c.climate, days, rng) for c in cities], axis=1)
    normals = np.stack([normal_highs(c.climate, days) for c in cities], axis=1)
    start = climate_day_starts_us(days, [c.timezone for c in cities])
    opened, closes = trading_hours_us(start)
    now = plan.now_us
    listed = np.ones(start.shape, dtype=bool)
    listed[-1] = (opened[-1] < now) & (now < closes[-1])  # the next day, if trading now
    day_of, city_of = np.nonzero(listed)
    n = len(day_of)
    buys_from = start.max(axis=1) + BUYING_LAG_US
    sales_from = buys_from + (BUYING_SHARE * (closes.min(axis=1) - buys_from)).astype(np.int64)
    delay = rng.integers(*SETTLE_DELAY_US, size=start.shape)
    settled_at = closes + delay
    settled = (np.arange(len(days))[:, None] < plan.days - 1) & (settled_at <= now)
    error = rng.normal(0.0, CONSENSUS_ERROR_F, size=start.shape)
    floors, caps = event_brackets_array(highs + error, ref.bracket_width_f, ref.brackets_per_event)
    pick = (day_of, city_of)
    listing_days = days[day_of]
    event_tickers, tickers, titles = _names(cities, city_of, listing_days, floors[pick], caps[pick])
    return Listing(
        cities=cities,
        city=city_of.astype(np.int64),
        day=listing_days,
        start_us=start[pick],
        opened_us=opened[pick],
        closes_us=closes[pick],
        settled_us=np.where(settled[pick], settled_at[pick], -1),
        observed=highs[pick],
        normal=normals[pick],
        consensus_error=error[pick],
        floor=floors[pick].reshape(n, -1),
        cap=caps[pick].reshape(n, -1),
        tickers=tickers,
        event_tickers=event_tickers,
        titles=titles,
        buys_from_us=buys_from[day_of],
        sales_from_us=sales_from[day_of],
        tapered=grid_rng.random(n) < TAPERED_SHARE,
        fractional=grid_rng.random(n) < FRACTIONAL_SHARE,
    )


def _names(
    cities: tuple[City, ...],
    city_of: npt.NDArray[np.intp],
    days: npt.NDArray[np.int64],
    floors: npt.NDArray[np.int64],
    caps: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_], npt.NDArray[np.bytes_]]:
    """Event tickers (KXHIGHNY-26NOV26), market tickers (-B45.5, -T44, -T57) and titles."""
    event_tickers: list[str] = []
    tickers: list[str] = []
    titles: list[str] = []
    for c, d, los, his in zip(
        city_of.tolist(), days.tolist(), floors.tolist(), caps.tolist(), strict=True
    ):
        city = cities[c]
        day = date(1970, 1, 1) + timedelta(days=d)
        event = event_ticker(city, day)
        event_tickers.append(event)
        for lo, hi in zip(los, his, strict=True):
            bracket = Bracket.of_bounds(lo, hi)
            tickers.append(bracket.ticker(event))
            titles.append(bracket.title(city, day))
    return (
        np.array(event_tickers, dtype=np.bytes_),
        np.array(tickers, dtype=np.bytes_),
        np.array([t.encode() for t in titles], dtype=np.bytes_),
    )


MARKET_COLUMNS = (
    "id",
    "ticker",
    "event_ticker",
    "city_code",
    "event_date",
    "floor_f",
    "cap_f",
    "title",
    "opened_at",
    "closes_at",
    "result",
    "observed_high_f",
    "settled_at",
    "price_level_structure",
    "fractional_trading_enabled",
)
RESULTS = np.array([b"no", b"yes"], dtype=np.bytes_)


STRUCTURES = np.array([b"linear_cent", b"tapered_deci_cent"], dtype=np.bytes_)


def market_columns(listing: Listing) -> list[Column]:
    """ops.markets rows of the listing, settled markets with their result and observed high,
    each with its tick grid and fractional flag (the fee rates keep the columns' defaults,
    Kalshi's standard schedule; the loader sets them when reference.toml differs)."""
    per_event = listing.per_event
    n = listing.events * per_event
    event = np.repeat(np.arange(listing.events, dtype=np.int64), per_event)
    unsettled = ~listing.settled[event]
    floor, cap = listing.floor.reshape(-1), listing.cap.reshape(-1)
    codes = np.array([c.code.encode() for c in listing.cities], dtype=np.bytes_)
    return [
        Column("int8", np.arange(1, n + 1, dtype=np.int64)),
        Column("text", np.arange(n, dtype=np.int64), labels=listing.tickers),
        Column("text", event, labels=listing.event_tickers),
        Column("text", listing.city[event], labels=codes),
        Column("date", listing.day[event]),
        Column("int2", floor, null=floor == NO_FLOOR),
        Column("int2", cap, null=cap == NO_CAP),
        Column("text", np.arange(n, dtype=np.int64), labels=listing.titles),
        Column("timestamptz", listing.opened_us[event]),
        Column("timestamptz", listing.closes_us[event]),
        Column("text", listing.wins.reshape(-1).astype(np.int64), labels=RESULTS, null=unsettled),
        Column("int2", listing.observed[event], null=unsettled),
        Column("timestamptz", listing.settled_us[event], null=unsettled),
        Column("text", listing.tapered[event].astype(np.int64), labels=STRUCTURES),
        Column("bool", listing.fractional[event]),
    ]

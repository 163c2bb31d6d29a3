"""The simulated world the paper bot trades in: the weather and the markets' prices.

Everything here is a pure function of a seed and its arguments, so a simulator run is repeatable:
the day's actual high, the bot's forecast and the market's own forecast are drawn once per
(seed, city, day), and each cycle's price jitter is drawn from (seed, cycle time, ticker).
Temperatures are degrees F; prices are micros on the market's tick grid (:mod:`milkbot.money`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime

from milkbot import money
from milkbot.market import Bracket
from milkbot.reference import City

# Forecast errors (F): the bot's model is a little sharper than the market's consensus, so the
# paper bot has a small real edge and its P&L has a direction to show.
BOT_FORECAST_SD_F = 2.5
MARKET_FORECAST_SD_F = 3.0
# Cycle-to-cycle noise of a market's price around its consensus (dollars).
PRICE_JITTER = 0.04


@dataclass(frozen=True, slots=True)
class DayWeather:
    """One city-day: the high the climate report will show, and the two forecasts of it (F)."""

    actual_high_f: int
    bot_forecast_f: float
    market_forecast_f: float


def day_weather(seed: int, city: City, day: date) -> DayWeather:
    """The weather of ``city`` on ``day``: actual high from the city's seasonal climatology,
    forecasts as the actual plus an error (bot: sd 2.5 F, market: sd 3 F)."""
    rng = random.Random(f"{seed}:weather:{city.code}:{day.isoformat()}")
    actual = round(city.climate.normal_high(day) + rng.gauss(0.0, city.climate.sd))
    return DayWeather(
        actual_high_f=actual,
        bot_forecast_f=actual + rng.gauss(0.0, BOT_FORECAST_SD_F),
        market_forecast_f=actual + rng.gauss(0.0, MARKET_FORECAST_SD_F),
    )


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def bracket_probability(bracket: Bracket, forecast_f: float, sigma_f: float) -> float:
    """Probability (0..1) that a high ~ Normal(forecast, sigma) rounds into ``bracket``."""
    lo = -math.inf if bracket.floor_f is None else (bracket.floor_f - 0.5 - forecast_f) / sigma_f
    hi = math.inf if bracket.cap_f is None else (bracket.cap_f + 0.5 - forecast_f) / sigma_f
    return max(0.0, min(1.0, _normal_cdf(hi) - _normal_cdf(lo)))


def yes_price(
    seed: int,
    at: datetime,
    ticker: str,
    bracket: Bracket,
    weather: DayWeather,
    sigma_f: float,
    structure: str = "linear_cent",
) -> int:
    """The market's YES price (micros) at ``at``: its consensus probability plus jitter, on
    the market's tick grid (``structure``), strictly between $0 and $1."""
    rng = random.Random(f"{seed}:price:{ticker}:{at.isoformat()}")
    consensus = bracket_probability(bracket, weather.market_forecast_f, sigma_f)
    raw = consensus + rng.gauss(0.0, PRICE_JITTER)
    # The finest tick first; then the grid's own tick at that price.
    fine = min(max(round(raw * 1000), 1), 999) * money.DECI_CENT_MICROS
    tick = money.tick_micros(structure, fine)
    price = min(max((fine + tick // 2) // tick * tick, tick), money.MICROS_PER_DOLLAR - tick)
    assert money.price_off_grid(structure, price) is None
    return price

"""Market facts from DOMAIN.md: cities, strategies, fees and the climate day.

The data lives in ``data/reference.toml`` (DOMAIN.md marks it configurable); this module loads it
and holds the two rules that are arithmetic rather than data: Kalshi's fee formula and the
settlement (climate) day in local *standard* time.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Climate:
    """Seasonal climatology of a city's daily high, in degrees F."""

    mean: float
    amplitude: float
    peak_doy: int
    sd: float

    def normal_high(self, day: date) -> float:
        """Climatological mean high (F) for ``day``."""
        doy = day.timetuple().tm_yday
        return self.mean + self.amplitude * math.cos(2 * math.pi * (doy - self.peak_doy) / 365.25)


@dataclass(frozen=True, slots=True)
class City:
    """One of the cities Milkbot trades (DOMAIN.md's table)."""

    code: str
    name: str
    station: str
    timezone: str
    series: str
    cluster: str
    climate: Climate

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def standard_offset(self) -> timedelta:
        """The zone's standard-time UTC offset (e.g. -5 h for New York), all year."""
        return standard_offset(self.timezone)


@dataclass(frozen=True, slots=True)
class Reference:
    """Everything loaded from ``reference.toml``."""

    cities: tuple[City, ...]
    strategies: tuple[tuple[str, str], ...]
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal
    model_sigma_f: float
    min_edge: float
    bracket_width_f: int
    brackets_per_event: int

    def city(self, code: str) -> City:
        for c in self.cities:
            if c.code == code:
                return c
        raise KeyError(f"unknown city code {code!r}; known: {', '.join(self.city_codes)}")

    @property
    def city_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.cities)

    @property
    def strategy_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.strategies)


@cache
def load_reference() -> Reference:
    """Load (once) the reference data shipped in the package."""
    text = resources.files("milkbot").joinpath("data/reference.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    cities = tuple(
        City(
            code=c["code"],
            name=c["name"],
            station=c["station"],
            timezone=c["timezone"],
            series=c["series"],
            cluster=c["cluster"],
            climate=Climate(**c["climate"]),
        )
        for c in raw["cities"]
    )
    for c in cities:
        ZoneInfo(c.timezone)  # fail early on a misspelt zone
    return Reference(
        cities=cities,
        strategies=tuple((s["name"], s["description"]) for s in raw["strategies"]),
        taker_fee_rate=Decimal(raw["fees"]["taker_rate"]),
        maker_fee_rate=Decimal(raw["fees"]["maker_rate"]),
        model_sigma_f=float(raw["bot"]["model_sigma_f"]),
        min_edge=float(raw["bot"]["min_edge"]),
        bracket_width_f=int(raw["bot"]["bracket_width_f"]),
        brackets_per_event=int(raw["bot"]["brackets_per_event"]),
    )


@cache
def standard_offset(timezone: str) -> timedelta:
    """UTC offset of ``timezone``'s standard time: utcoffset minus DST on a winter day."""
    zone = ZoneInfo(timezone)
    probe = datetime(2025, 1, 15, 12, tzinfo=UTC).astimezone(zone)
    offset = probe.utcoffset()
    dst = probe.dst()
    assert offset is not None and dst is not None
    return offset - dst


def climate_day(timezone: str, instant: datetime) -> date:
    """The NWS climate day that ``instant`` falls in: midnight to midnight local *standard*
    time all year, so during daylight saving it runs 01:00-00:59 by the local clock.
    """
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware (UTC)")
    return (instant.astimezone(UTC) + standard_offset(timezone)).date()


def climate_day_bounds(timezone: str, day: date) -> tuple[datetime, datetime]:
    """UTC start (inclusive) and end (exclusive) of climate day ``day`` in ``timezone``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - standard_offset(timezone)
    return start, start + timedelta(days=1)


def fee_cents(quantity: int, price_cents: int, rate: Decimal) -> int:
    """Kalshi's fee for one fill: ceil_to_cent(rate * C * P * (1 - P)), P in dollars.

    Computed in exact decimal arithmetic (0.07 * 10 * 0.5 * 0.5 must give 18 cents, never 17.5
    rounded the wrong way by binary floating point).
    """
    if quantity <= 0:
        raise ValueError("quantity must be > 0")
    if not 1 <= price_cents <= 99:
        raise ValueError("price must be 1..99 cents")
    p = Decimal(price_cents) / 100
    dollars = rate * quantity * p * (1 - p)
    return int((dollars * 100).to_integral_value(rounding=ROUND_CEILING))

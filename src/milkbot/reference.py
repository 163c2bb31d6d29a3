"""Reference data from docs/DOMAIN.md: cities, strategies, fee rates and the bot's model.

The data lives in ``data/reference.toml`` (docs/DOMAIN.md marks it configurable); this module
loads it. The rules that are arithmetic rather than data (the fee formula, the climate day,
tickers, brackets) live in :mod:`milkbot.market`.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
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
    """One of the cities Milkbot trades (docs/DOMAIN.md's table)."""

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

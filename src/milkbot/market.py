"""The rules of Kalshi's daily high-temperature markets (docs/DOMAIN.md), each written once.

Tickers and titles, the brackets and tails of an event, when its markets trade, which market
settles YES and the climate day (prices, counts and the trading fee: :mod:`milkbot.money`). The
store, the simulator, the generator and the tests all call this module. Where the generator needs a rule over numpy arrays, its vectorised
twin sits beside the scalar definition (names ending ``_array`` or ``_us``), and
tests/test_market.py checks every pair exhaustively.

Temperatures are whole degrees F, times UTC; the vectorised twins
count days and microseconds from 1970-01-01 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from milkbot.reference import City, standard_offset

# Spelt out rather than strftime's %b, whose spelling follows the process's locale.
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Kalshi lists a day's event at 10:00 local standard time the day before: 14 hours before the
# climate day starts. Its markets trade until the climate day ends.
LISTED_BEFORE = timedelta(hours=14)
DAY_US = 86_400_000_000
LISTED_BEFORE_US = LISTED_BEFORE // timedelta(microseconds=1)
# The vectorised brackets' stand-ins for the open side of a tail (NULL in ops.markets, None in
# Bracket): far outside any high, so the tails' comparisons need no special case.
NO_FLOOR, NO_CAP = -999, 999

Int64s = npt.NDArray[np.int64]


# -- The climate day -----------------------------------------------------------------------------


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


def climate_day_starts_us(days: Int64s, timezones: Sequence[str]) -> Int64s:
    """:func:`climate_day_bounds`' start over arrays: for days (since 1970-01-01) and zones,
    the microsecond each climate day starts, shape (days, zones)."""
    offsets = np.array([standard_offset(tz) // timedelta(microseconds=1) for tz in timezones])
    starts: Int64s = days[:, None] * DAY_US - offsets[None, :].astype(np.int64)
    return starts


# -- When markets trade --------------------------------------------------------------------------


def trading_hours(timezone: str, day: date) -> tuple[datetime, datetime]:
    """When the markets of climate day ``day`` open and close (UTC): 10:00 local standard time
    the day before, and the end of the climate day."""
    start, end = climate_day_bounds(timezone, day)
    return start - LISTED_BEFORE, end


def trading_hours_us(starts_us: Int64s) -> tuple[Int64s, Int64s]:
    """:func:`trading_hours` over arrays: opening and closing microseconds of the markets whose
    climate days start at ``starts_us``."""
    return starts_us - LISTED_BEFORE_US, starts_us + DAY_US


# -- Events, brackets and tails ------------------------------------------------------------------


def event_ticker(city: City, day: date) -> str:
    """Kalshi's event ticker, e.g. ``KXHIGHNY-26NOV26``."""
    return f"{city.series}-{day:%y}{MONTHS[day.month - 1]}{day:%d}"


def event_title(city: City, day: date) -> str:
    """The event's heading, e.g. "Chicago high on Mar 10, 2026"."""
    return f"{city.name} high on {MONTHS[day.month - 1].title()} {day.day}, {day.year}"


@dataclass(frozen=True, slots=True)
class Bracket:
    """One market of an event: whole degrees ``floor_f..cap_f`` settle YES (None = open end)."""

    floor_f: int | None
    cap_f: int | None

    @classmethod
    def of_bounds(cls, floor_f: int, cap_f: int) -> Bracket:
        """The bracket of a vectorised row, whose tails hold NO_FLOOR / NO_CAP."""
        return cls(None if floor_f == NO_FLOOR else floor_f, None if cap_f == NO_CAP else cap_f)

    def suffix(self) -> str:
        """Ticker suffix: ``B45.5`` for 45-46 (its midpoint), ``T44`` / ``T53`` for the tails."""
        if self.floor_f is None:
            return f"T{self.cap_f}"
        if self.cap_f is None:
            return f"T{self.floor_f}"
        return f"B{(self.floor_f + self.cap_f) / 2:g}"

    def ticker(self, event: str) -> str:
        """Market ticker of the bracket in ``event``, e.g. ``KXHIGHNY-26NOV26-B45.5``."""
        return f"{event}-{self.suffix()}"

    def label(self) -> str:
        """What settles YES, e.g. "45° to 46°", "44° or below", "53° or above"."""
        if self.floor_f is None:
            return f"{self.cap_f}° or below"
        if self.cap_f is None:
            return f"{self.floor_f}° or above"
        return f"{self.floor_f}° to {self.cap_f}°"

    def title(self, city: City, day: date) -> str:
        """Market title, e.g. "Chicago high on Mar 10, 2026: 45° to 46°"."""
        return f"{event_title(city, day)}: {self.label()}"

    def settles_yes(self, high_f: int) -> bool:
        """Whether the climate report's high (whole F) settles this market YES."""
        return (self.floor_f is None or self.floor_f <= high_f) and (
            self.cap_f is None or high_f <= self.cap_f
        )


def settles_yes_array(floors: Int64s, caps: Int64s, highs: Int64s) -> npt.NDArray[np.bool_]:
    """:meth:`Bracket.settles_yes` over arrays (tails as NO_FLOOR / NO_CAP), broadcasting."""
    result: npt.NDArray[np.bool_] = (floors <= highs) & (highs <= caps)
    return result


def _lowest_floor(centre_f: int | Int64s, width_f: int, count: int) -> int | Int64s:
    """Floor of the first of ``count`` brackets of ``width_f`` degrees centred on ``centre_f``."""
    return centre_f - (width_f * count) // 2


def event_brackets(centre_f: float, width_f: int, count: int) -> list[Bracket]:
    """An event's markets: the lower tail, ``count`` brackets of ``width_f`` whole degrees
    centred on ``centre_f`` (rounded half to even), the upper tail. Together they cover every
    temperature exactly once."""
    low = int(_lowest_floor(round(centre_f), width_f, count))
    brackets = [Bracket(None, low - 1)]
    for i in range(count):
        floor = low + i * width_f
        brackets.append(Bracket(floor, floor + width_f - 1))
    brackets.append(Bracket(low + count * width_f, None))
    return brackets


def event_brackets_array(
    centres_f: npt.NDArray[np.float64], width_f: int, count: int
) -> tuple[Int64s, Int64s]:
    """:func:`event_brackets` over arrays: floors and caps of each centre's markets along a new
    last axis (``count + 2`` of them), tails as NO_FLOOR / NO_CAP."""
    low = np.asarray(_lowest_floor(np.rint(centres_f).astype(np.int64), width_f, count))[..., None]
    floor = low + np.arange(count, dtype=np.int64) * width_f
    lower_cap = low - 1
    upper_floor = low + count * width_f
    floors = np.concatenate([np.full_like(lower_cap, NO_FLOOR), floor, upper_floor], axis=-1)
    caps = np.concatenate([lower_cap, floor + width_f - 1, np.full_like(upper_floor, NO_CAP)], -1)
    return floors, caps

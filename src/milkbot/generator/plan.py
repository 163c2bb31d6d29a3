"""What to generate: the settlement days, the trade target, the generation instant, the bankroll.

The defaults follow docs/DOMAIN.md's volumes: one bot trades about 20k times a year, so a run
given only ``days`` gets that density, and a run given only ``trades`` gets as many days as that
density needs (at least 30, at most about three years; beyond that trades pack more densely,
as a platform hosting many paper bots and replays would).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from milkbot.market import climate_day_starts_us, trading_hours
from milkbot.reference import load_reference
from milkbot.settings import STARTING_BANKROLL_CENTS

# One bot's density (docs/DOMAIN.md: 10-30k trades a year): trades per settlement day, all cities.
TRADES_PER_DAY = 55
MIN_DAYS = 30
MAX_DEFAULT_DAYS = 1096
MAX_DAYS = 3650
# Signals per trade: most cycles look without trading (the 10M load's budget sets the ratio).
SIGNALS_PER_TRADE = 2.3
_EPOCH = date(1970, 1, 1)
HOUR_US = 3_600_000_000
# The NWS climate report, and so settlement, arrives the next morning: this long after the
# close. The accounts buy an event day only from a minute after the latest settlement of the
# day before (listing.BUYING_SHARE), so a day's buying starts BUYING_LAG_US after its latest
# climate-day start.
SETTLE_DELAY_US = (6 * HOUR_US, 10 * HOUR_US)
BUYING_LAG_US = SETTLE_DELAY_US[1] + 60_000_000


class GeneratorError(ValueError):
    """Generation was refused; the message names the parameter (or flag) to fix."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A resolved request. Days count from 1970-01-01; times are microseconds since then (UTC).
    ``bankroll_cents`` sizes the trades (the risk limits are shares of it)."""

    seed: int
    trades: int
    signals: int
    first_day: date
    end_date: date
    now: datetime
    bankroll_cents: int

    @property
    def days(self) -> int:
        """Settlement days from ``first_day`` to ``end_date`` inclusive."""
        return (self.end_date - self.first_day).days + 1

    @property
    def now_us(self) -> int:
        """The generation instant in microseconds since 1970-01-01 UTC."""
        return to_us(self.now)


def to_us(instant: datetime) -> int:
    """Microseconds since 1970-01-01 UTC of an aware datetime."""
    delta = instant.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def day_number(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - _EPOCH).days


def make_plan(
    *,
    trades: int | None,
    days: int | None,
    seed: int,
    end_date: date | None,
    now: datetime | None,
    bankroll_cents: int = STARTING_BANKROLL_CENTS,
) -> Plan:
    """Resolve the defaults of :func:`milkbot.generator.generate_dataset` and check every value."""
    if trades is not None and trades < 0:
        raise GeneratorError(f"trades must be 0 or more (got {trades})")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise GeneratorError(f"days must be between 1 and {MAX_DAYS} (got {days})")
    if seed < 0:
        raise GeneratorError(f"seed must be 0 or more (got {seed})")
    if bankroll_cents <= 0:
        raise GeneratorError(f"bankroll_cents must be more than 0 (got {bankroll_cents})")
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise GeneratorError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    if end_date is None:
        end_date = _last_day_bought(now)
    last_open = max(trading_hours(c.timezone, end_date)[0] for c in load_reference().cities)
    if last_open >= now:
        raise GeneratorError(
            f"--end-date {end_date} is too late: its markets open at {last_open:%Y-%m-%d %H:%M} "
            f"UTC, after now ({now:%Y-%m-%d %H:%M} UTC), so they could hold no trades"
        )
    if days is None:
        days = 365 if trades is None else _days_for(trades)
    if trades is None:
        trades = TRADES_PER_DAY * days
    return Plan(
        seed=seed,
        trades=trades,
        signals=math.ceil(trades * SIGNALS_PER_TRADE),
        first_day=end_date - timedelta(days=days - 1),
        end_date=end_date,
        now=now,
        bankroll_cents=bankroll_cents,
    )


def _last_day_bought(now: datetime) -> date:
    """The latest settlement day whose buying has started at ``now``: today once every city's
    yesterday has settled (late morning on the west coast), yesterday before that."""
    today = now.date()
    zones = [c.timezone for c in load_reference().cities]
    starts = climate_day_starts_us(np.array([day_number(today)], dtype=np.int64), zones)
    buying = int(starts.max()) + BUYING_LAG_US
    return today if buying < to_us(now) else today - timedelta(days=1)


def _days_for(trades: int) -> int:
    return min(max(math.ceil(trades / TRADES_PER_DAY), MIN_DAYS), MAX_DEFAULT_DAYS)

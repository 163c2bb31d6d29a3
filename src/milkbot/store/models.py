"""What the bot sends to the write path, validated before anything touches the database.

Each model rejects impossible input with a message naming the field (pydantic's errors), so the
bot learns exactly what to fix. The bounds are the domain's, and always within the column types
of ``db/migrations/0001_ops.sql`` (smallint, integer, bigint, text without NUL, timestamptz), so
a value that passes here cannot make PostgreSQL raise a data error. The write functions validate
their input again (:func:`milkbot.store.errors.checked`), because ``model_copy(update=...)`` and
``model_construct`` skip validation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from milkbot.vocabulary import Action, HealthStatus, Side

# Column types' limits (PostgreSQL integer and bigint).
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
# Dates and times the store accepts: Kalshi's weather markets began in 2021, and a bound far
# from Python's and PostgreSQL's limits keeps every value readable in any session time zone.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2199, 12, 31)
# Whole degrees F a climate report can hold (also the bracket bounds); smallint in the store.
HIGH_F_MIN, HIGH_F_MAX = -80, 150


def _out_of_range() -> PydanticCustomError:
    return PydanticCustomError(
        "date_range",
        "must be between {earliest} and {latest}",
        {"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
    )


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone (e.g. 2026-11-26T14:05:00Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 lies before year 1 in UTC
        raise _out_of_range() from None
    if not EARLIEST_DAY <= utc.date() <= LATEST_DAY:
        raise _out_of_range()
    return utc


def _day(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise _out_of_range()
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware_utc)]
Day = Annotated[date, AfterValidator(_day)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Ticker = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9.\-]*$")]
PriceCents = Annotated[int, Field(ge=1, le=99, description="Whole cents, 1..99.")]
HighF = Annotated[int, Field(ge=HIGH_F_MIN, le=HIGH_F_MAX, description="Whole degrees F.")]


class _Input(BaseModel):
    # NaN and infinity are refused for every float (they pass no meaningful bound).
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Every text field of every model: what PostgreSQL text can hold (one home)."""
        # (Lone surrogates, which UTF-8 cannot encode, pydantic refuses itself: string_unicode.)
        if isinstance(value, str) and "\x00" in value:
            raise PydanticCustomError(
                "nul_character", "must not contain NUL characters (PostgreSQL text cannot)"
            )
        return value


class MarketIn(_Input):
    """A market listed on the exchange: a 2 F bracket or an open-ended tail of one event."""

    ticker: Ticker
    event_ticker: Ticker
    city_code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    event_date: Day = Field(description="Settlement (climate) day, local standard time.")
    floor_f: HighF | None = None
    cap_f: HighF | None = None
    title: str = Field(default="", max_length=200)
    opened_at: AwareDatetime
    closes_at: AwareDatetime

    @model_validator(mode="after")
    def _check(self) -> MarketIn:
        if self.floor_f is None and self.cap_f is None:
            raise ValueError("a market needs floor_f, cap_f or both")
        if self.floor_f is not None and self.cap_f is not None and self.floor_f > self.cap_f:
            raise ValueError("floor_f must be <= cap_f")
        if self.closes_at <= self.opened_at:
            raise ValueError("closes_at must be after opened_at")
        return self


class SignalIn(_Input):
    """The model's view of one market at one cycle."""

    strategy: Name
    ticker: Ticker
    created_at: AwareDatetime
    model_prob: float = Field(ge=0.0, le=1.0, description="Probability the market settles YES.")
    yes_price: PriceCents
    decision: Literal["BUY", "SELL", "HOLD"]
    forecast_high_f: float | None = Field(default=None, ge=HIGH_F_MIN, le=HIGH_F_MAX)


class TradeIn(_Input):
    """One fill. ``client_trade_id`` makes recording idempotent: the same id again changes nothing.

    ``price`` is what the traded side cost (a NO bought at 40 is a YES sold at 60).
    ``fee_cents`` defaults to Kalshi's taker formula (maker fills: the maker rate).
    """

    client_trade_id: Annotated[str, Field(min_length=1, max_length=100)]
    ticker: Ticker
    strategy: Name
    side: Side
    action: Action
    quantity: int = Field(gt=0, le=1_000_000)
    price: PriceCents
    executed_at: AwareDatetime
    is_taker: bool = True
    fee_cents: int | None = Field(default=None, ge=0, le=INT4_MAX)
    model_prob: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Model probability that the traded side wins."
    )
    order_id: int | None = Field(default=None, gt=0, le=INT8_MAX)


class SettlementIn(_Input):
    """The NWS climate report's high for an event; settles every market of it."""

    event_ticker: Ticker
    observed_high_f: HighF
    settled_at: AwareDatetime | None = None


class MarketSettlementIn(_Input):
    """One market settled YES or NO (what :func:`~milkbot.store.writes.settle_market` takes)."""

    ticker: Ticker
    result: Side
    observed_high_f: HighF | None = None
    settled_at: AwareDatetime | None = None


class HeartbeatIn(_Input):
    """A component saying it is alive."""

    component: Name
    status: HealthStatus = "healthy"
    message: str = Field(default="", max_length=500)
    observed_at: AwareDatetime | None = None

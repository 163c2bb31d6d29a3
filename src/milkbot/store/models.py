"""What the bot sends to the write path, validated before anything touches the database.

Each model rejects impossible input with a message naming the field (pydantic's errors), so the
HTTP layer can return it as is and the bot learns exactly what to fix.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone (e.g. 2026-11-26T14:05:00Z)")
    return value.astimezone(UTC)


AwareDatetime = Annotated[datetime, AfterValidator(_aware_utc)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Ticker = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9.\-]*$")]
PriceCents = Annotated[int, Field(ge=1, le=99, description="Whole cents, 1..99.")]
Side = Literal["yes", "no"]


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class MarketIn(_Input):
    """A market listed on the exchange: a 2 F bracket or an open-ended tail of one event."""

    ticker: Ticker
    event_ticker: Ticker
    city_code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    event_date: date = Field(description="Settlement (climate) day, local standard time.")
    floor_f: int | None = Field(default=None, ge=-80, le=150)
    cap_f: int | None = Field(default=None, ge=-80, le=150)
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
    forecast_high_f: float | None = Field(default=None, ge=-80, le=150)


class TradeIn(_Input):
    """One fill. ``client_trade_id`` makes recording idempotent: the same id again changes nothing.

    ``price`` is what the traded side cost (a NO bought at 40 is a YES sold at 60).
    ``fee_cents`` defaults to Kalshi's taker formula (maker fills: the maker rate).
    """

    client_trade_id: Annotated[str, Field(min_length=1, max_length=100)]
    ticker: Ticker
    strategy: Name
    side: Side
    action: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=1_000_000)
    price: PriceCents
    executed_at: AwareDatetime
    is_taker: bool = True
    fee_cents: int | None = Field(default=None, ge=0)
    model_prob: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Model probability that the traded side wins."
    )
    order_id: int | None = Field(default=None, gt=0)


class SettlementIn(_Input):
    """The NWS climate report's high for an event; settles every market of it."""

    event_ticker: Ticker
    observed_high_f: int = Field(ge=-80, le=150)
    settled_at: AwareDatetime | None = None


class HeartbeatIn(_Input):
    """A component saying it is alive."""

    component: Name
    status: Literal["healthy", "degraded", "unhealthy"] = "healthy"
    message: str = Field(default="", max_length=500)
    observed_at: AwareDatetime | None = None

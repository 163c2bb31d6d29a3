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
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from milkbot import money
from milkbot.money import PriceLevelStructure
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
# The largest count of one fill (hundredths of a contract fit easily in bigint) and the largest
# fee part of one fill (far above any real fee, far below bigint).
MAX_COUNT = Decimal(1_000_000)
MAX_FEE = Decimal(1_000_000)


def _not_binary_float(value: Any) -> Any:
    """Money and counts arrive as Kalshi writes them (strings such as "0.4200" or Decimals),
    never as binary floats, whose 0.1 is not 0.1."""
    if isinstance(value, float):
        raise PydanticCustomError(
            "binary_float",
            'must be a decimal string such as "0.42" or a Decimal, not a binary float',
        )
    if isinstance(value, str):
        return value.strip()
    return value


def _dollars(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise PydanticCustomError("finite_number", "must be a finite dollar amount")
    try:
        money.parse_dollars(value)
    except money.MoneyError:
        raise PydanticCustomError(
            "too_precise", "has more than 6 decimals; $0.000001 is the finest"
        ) from None
    return value


def _count(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise PydanticCustomError("finite_number", "must be a finite number of contracts")
    try:
        money.parse_count(value)
    except money.MoneyError:
        raise PydanticCustomError(
            "too_precise", "has more than 2 decimals; 0.01 contract is the finest"
        ) from None
    return value


def _fee_rate(value: Decimal) -> Decimal:
    if not value.is_finite() or value != value.quantize(Decimal("0.00001")):
        raise PydanticCustomError("too_precise", "must be a rate with at most 5 decimals")
    return value


# A dollar amount with at most 6 decimals ("0.4200", Decimal("0.0012")).
Dollars = Annotated[Decimal, BeforeValidator(_not_binary_float), AfterValidator(_dollars)]
# A price strictly between $0 and $1 (the market's tick grid is checked on write).
PriceDollars = Annotated[Dollars, Field(gt=0, lt=1, description='Dollars, e.g. "0.4200".')]
FeeDollars = Annotated[Dollars, Field(ge=0, le=MAX_FEE)]
# A number of contracts with at most 2 decimals ("10.00", "2.5").
Count = Annotated[
    Decimal,
    BeforeValidator(_not_binary_float),
    AfterValidator(_count),
    Field(gt=0, le=MAX_COUNT, description='Contracts, e.g. "10.00".'),
]
FeeRate = Annotated[
    Decimal, BeforeValidator(_not_binary_float), AfterValidator(_fee_rate), Field(ge=0, lt=1)
]
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
    price_level_structure: PriceLevelStructure = "linear_cent"
    fractional_trading_enabled: bool = False
    taker_fee_rate: FeeRate | None = Field(
        default=None, description="Default: the reference data's taker rate."
    )
    maker_fee_rate: FeeRate | None = Field(
        default=None, description="Default: the reference data's maker rate."
    )

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
    """The model's view of one market at one cycle, as one account's strategy saw it."""

    account: Name
    strategy: Name
    ticker: Ticker
    created_at: AwareDatetime
    model_prob: float = Field(ge=0.0, le=1.0, description="Probability the market settles YES.")
    yes_price_dollars: PriceDollars
    decision: Literal["BUY", "SELL", "HOLD"]
    forecast_high_f: float | None = Field(default=None, ge=HIGH_F_MIN, le=HIGH_F_MAX)

    @property
    def yes_price_micros(self) -> int:
        """The YES price in micros."""
        return money.parse_dollars(self.yes_price_dollars)


class TradeIn(_Input):
    """One fill of one account. ``client_trade_id`` makes recording idempotent within the
    account: the same id again changes nothing.

    ``price_dollars`` is what the traded side cost (a NO bought at 0.40 is a YES sold at 0.60),
    ``count`` the contracts filled (fractional only where the market allows it). The fee parts
    are what the exchange charged; any part left out is computed: the trade fee by Kalshi's
    formula at the market's taker rate (maker fills: its maker rate), the rounding fee from the
    account's balance precision, the rebate 0.
    """

    account: Name
    client_trade_id: Annotated[str, Field(min_length=1, max_length=100)]
    ticker: Ticker
    strategy: Name
    side: Side
    action: Action
    count: Count
    price_dollars: PriceDollars
    executed_at: AwareDatetime
    is_taker: bool = True
    trade_fee_dollars: FeeDollars | None = None
    rounding_fee_dollars: FeeDollars | None = None
    rebate_dollars: FeeDollars | None = None
    model_prob: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Model probability that the traded side wins."
    )
    order_id: int | None = Field(default=None, gt=0, le=INT8_MAX)

    @property
    def price_micros(self) -> int:
        """The price in micros."""
        return money.parse_dollars(self.price_dollars)

    @property
    def quantity_centi(self) -> int:
        """The count in hundredths of a contract."""
        return money.parse_count(self.count)


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
    """A component of one account saying it is alive."""

    account: Name
    component: Name
    status: HealthStatus = "healthy"
    message: str = Field(default="", max_length=500)
    observed_at: AwareDatetime | None = None


AccountMode = Literal["live", "demo", "shadow", "replay"]
Environment = Literal["production", "demo", "simulated"]
# Basis points of equity (1 bp = 0.01 %); 10000 is all of it.
BasisPoints = Annotated[int, Field(ge=1, le=10_000)]
# The modes each environment allows (the schema's accounts_*_environment checks).
MODE_ENVIRONMENTS: dict[str, tuple[str, ...]] = {
    "live": ("production",),
    "demo": ("demo", "simulated"),
    "shadow": ("production", "demo", "simulated"),
    "replay": ("simulated",),
}


def _mode_fits(mode: str, environment: str) -> None:
    allowed = MODE_ENVIRONMENTS[mode]
    if environment not in allowed:
        raise ValueError(
            f"a {mode} account runs in environment {' or '.join(allowed)}, not {environment}"
        )


def _balance_precision(value: Decimal) -> Decimal:
    if value not in (Decimal("0.0001"), Decimal("0.01")):
        raise PydanticCustomError(
            "balance_precision",
            "must be 0.0001 (direct members) or 0.01 (everyone else)",
        )
    return value


BalancePrecision = Annotated[Dollars, AfterValidator(_balance_precision)]
Bankroll = Annotated[Dollars, Field(gt=0, le=Decimal(10**12))]


# Minutes before the public sees an account's trade (ops.accounts.public_delay_minutes): up to
# a week.
DelayMinutes = Annotated[int, Field(ge=0, le=10_080)]


class AccountIn(_Input):
    """A new account: a live bot, a paper bot (demo venue or the platform's simulator), a
    shadow run that records signals only, or a replay of a strategy over history."""

    name: Name
    display_name: str = Field(min_length=1, max_length=100)
    mode: AccountMode
    environment: Environment
    starting_bankroll_dollars: Bankroll
    balance_precision_dollars: BalancePrecision = Decimal("0.01")
    is_public: bool = True
    max_trade_bp: BasisPoints = 200
    max_city_bp: BasisPoints = 300
    max_cluster_bp: BasisPoints = 500
    max_open_bp: BasisPoints = 1000
    daily_loss_bp: BasisPoints = 500
    description: str = Field(default="", max_length=500)
    public_delay_minutes: DelayMinutes = 60
    strategies: tuple[Name, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> AccountIn:
        _mode_fits(self.mode, self.environment)
        return self


class AccountUpdate(_Input):
    """Changes to an account; fields left None stay as they are. The name, mode and
    environment are what the account's history means, so they never change."""

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    is_public: bool | None = None
    max_trade_bp: BasisPoints | None = None
    max_city_bp: BasisPoints | None = None
    max_cluster_bp: BasisPoints | None = None
    max_open_bp: BasisPoints | None = None
    daily_loss_bp: BasisPoints | None = None
    description: str | None = Field(default=None, max_length=500)
    public_delay_minutes: DelayMinutes | None = None
    strategies: tuple[Name, ...] | None = None


class TransferIn(_Input):
    """A deposit (positive) or withdrawal (negative) of an account; ``client_transfer_id``
    makes recording idempotent within the account."""

    account: Name
    client_transfer_id: Annotated[str, Field(min_length=1, max_length=100)]
    amount_dollars: Annotated[Dollars, Field(ge=-Decimal(10**12), le=Decimal(10**12))]
    transferred_at: AwareDatetime | None = None
    note: str = Field(default="", max_length=500)

    @field_validator("amount_dollars")
    @classmethod
    def _not_zero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("must not be zero (a deposit is positive, a withdrawal negative)")
        return value

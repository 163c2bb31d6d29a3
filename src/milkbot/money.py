"""Exact money and contract counts at the exchange's own precision (Kalshi's fixed-point API).

Units (migration 0006, docs/DOMAIN.md):

- money and prices are integer **micros**, millionths of a dollar ($1 = 1,000,000). Kalshi's
  prices are dollar strings of up to 4 decimals on a per-market tick grid, and price x count
  can need 6 decimals; micros hold all of it.
- contract counts are integer **centi**, hundredths of a contract (Kalshi's ``*_fp`` strings
  have 2 decimals; 1 contract = 100).

``price_micros * quantity_centi / 100`` is exact because every price is a multiple of 100
micros. Nothing here uses binary floating point.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

MICROS_PER_DOLLAR: Final = 1_000_000
CENTI_PER_CONTRACT: Final = 100
CENT_MICROS: Final = 10_000
DECI_CENT_MICROS: Final = 1_000
# A fill's trade fee is rounded up to $0.0001 (Kalshi's "fee rounding").
FEE_INCREMENT_MICROS: Final = 100
# A contract that wins pays $1.
PAYOUT_MICROS: Final = MICROS_PER_DOLLAR
# Member balance precision: $0.0001 for direct members, $0.01 otherwise.
BALANCE_PRECISIONS_MICROS: Final = (100, CENT_MICROS)

PriceLevelStructure = Literal["linear_cent", "tapered_deci_cent", "deci_cent"]
PRICE_LEVEL_STRUCTURES: Final[tuple[PriceLevelStructure, ...]] = (
    "linear_cent",
    "tapered_deci_cent",
    "deci_cent",
)
# tapered_deci_cent: $0.001 ticks below $0.10 and above $0.90, $0.01 between.
TAPER_LOW_MICROS: Final = 100_000
TAPER_HIGH_MICROS: Final = 900_000

Int64s = npt.NDArray[np.int64]


class MoneyError(ValueError):
    """A price, count or amount that is not exact at the exchange's precision; the message
    says what to fix."""


def tick_micros(structure: str, price_micros: int) -> int:
    """The tick size (micros) of ``structure`` at ``price_micros``."""
    if structure == "linear_cent":
        return CENT_MICROS
    if structure == "deci_cent":
        return DECI_CENT_MICROS
    if structure == "tapered_deci_cent":
        if price_micros < TAPER_LOW_MICROS or price_micros > TAPER_HIGH_MICROS:
            return DECI_CENT_MICROS
        return CENT_MICROS
    raise MoneyError(
        f"unknown price level structure {structure!r}; known: {PRICE_LEVEL_STRUCTURES}"
    )


def price_off_grid(structure: str, price_micros: int) -> str | None:
    """Why ``price_micros`` is not a valid price of a ``structure`` market, or None if it is.

    Valid prices lie strictly between $0 and $1 on the market's grid (the boundary prices of
    tapered_deci_cent, $0.10 and $0.90, are on both grids)."""
    if not 0 < price_micros < MICROS_PER_DOLLAR:
        return f"price must lie strictly between $0 and $1 (got {format_dollars(price_micros)})"
    tick = tick_micros(structure, price_micros)
    if price_micros % tick:
        return (
            f"price {format_dollars(price_micros)} is off the market's tick grid: "
            f"{structure} markets trade in ${format_dollars(tick)} ticks at this price"
        )
    return None


def on_grid_array(structure: str, price_micros: Int64s) -> npt.NDArray[np.bool_]:
    """:func:`price_off_grid` is None, over an array of prices of one structure."""
    inside = (price_micros > 0) & (price_micros < MICROS_PER_DOLLAR)
    if structure == "linear_cent":
        tick = np.full_like(price_micros, CENT_MICROS)
    elif structure == "deci_cent":
        tick = np.full_like(price_micros, DECI_CENT_MICROS)
    else:
        tails = (price_micros < TAPER_LOW_MICROS) | (price_micros > TAPER_HIGH_MICROS)
        tick = np.where(tails, DECI_CENT_MICROS, CENT_MICROS)
    result: npt.NDArray[np.bool_] = inside & (price_micros % tick == 0)
    return result


def parse_dollars(text: str | int | Decimal, *, field: str = "amount") -> int:
    """Micros of a dollar amount given as a decimal string ("0.1200", "-3.5"), a Decimal or
    an int of micros. More than 6 decimals, exponents, NaN and infinity are refused."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    try:
        value = Decimal(text) if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation:
        raise MoneyError(f"{field} must be a dollar amount such as 0.12 (got {text!r})") from None
    if not value.is_finite():
        raise MoneyError(f"{field} must be a finite dollar amount (got {text!r})")
    micros = value * MICROS_PER_DOLLAR
    if micros != micros.to_integral_value():
        raise MoneyError(
            f"{field} has more than 6 decimals (got {text!r}); $0.000001 is the finest"
        )
    return int(micros)


def parse_count(text: str | int | Decimal, *, field: str = "count") -> int:
    """Hundredths of a contract of a count given as a fixed-point string ("10.00", "2.5")."""
    try:
        value = Decimal(str(text).strip()) if not isinstance(text, Decimal) else text
    except InvalidOperation:
        raise MoneyError(
            f"{field} must be a number of contracts such as 10.00 (got {text!r})"
        ) from None
    if not value.is_finite():
        raise MoneyError(f"{field} must be a finite number of contracts (got {text!r})")
    centi = value * CENTI_PER_CONTRACT
    if centi != centi.to_integral_value():
        raise MoneyError(f"{field} has more than 2 decimals (got {text!r}); 0.01 is the finest")
    return int(centi)


def cost_micros(price_micros: int, quantity_centi: int) -> int:
    """Price x count, exactly (micros)."""
    value, rest = divmod(price_micros * quantity_centi, CENTI_PER_CONTRACT)
    if rest:
        raise MoneyError(f"price {price_micros} micros is not a multiple of 100 micros")
    return value


def payout_micros(quantity_centi: int) -> int:
    """What ``quantity_centi`` winning contracts pay ($1 each)."""
    return PAYOUT_MICROS * quantity_centi // CENTI_PER_CONTRACT


def trade_fee_micros(price_micros: int, quantity_centi: int, rate: Decimal | Fraction) -> int:
    """Kalshi's fee formula for one fill, ``rate * C * P * (1 - P)``, rounded up to $0.0001.

    In units of $0.0001 the fee is ceil(rate * q * p * (10^6 - p) / 10^10) with q in hundredths
    of a contract and p in micros; computed in integers."""
    if quantity_centi <= 0:
        raise MoneyError("quantity must be more than 0")
    exact = Fraction(rate)
    base = quantity_centi * price_micros * (MICROS_PER_DOLLAR - price_micros) * exact.numerator
    increments = -(-base // (exact.denominator * 10**10))
    return increments * FEE_INCREMENT_MICROS


def trade_fee_micros_array(
    price_micros: Int64s, quantity_centi: Int64s, rate: Decimal | Fraction
) -> Int64s:
    """:func:`trade_fee_micros` over arrays. Exact while q * p * (10^6 - p) * numerator stays
    below 2^63 (about 36,000 contracts a fill at the taker rate 0.07)."""
    exact = Fraction(rate)
    base = quantity_centi * price_micros * (MICROS_PER_DOLLAR - price_micros) * exact.numerator
    fees: Int64s = -((-base) // (exact.denominator * 10**10)) * FEE_INCREMENT_MICROS
    return fees


def rounding_fee_micros(
    action: Literal["buy", "sell"], cost: int, trade_fee: int, precision_micros: int
) -> int:
    """The rounding fee that brings the balance back to the member's precision after a fill.

    A buy debits cost + trade fee, rounded up to the precision; a sale credits proceeds - trade
    fee, rounded down. The difference is the rounding fee (never negative)."""
    if action == "buy":
        debit = cost + trade_fee
        return -(-debit // precision_micros) * precision_micros - debit
    credit = cost - trade_fee
    return credit - (credit // precision_micros) * precision_micros


def rounding_fee_micros_array(
    buy: npt.NDArray[np.bool_], cost: Int64s, trade_fee: Int64s, precision_micros: Int64s | int
) -> Int64s:
    """:func:`rounding_fee_micros` over arrays (``buy`` True for buys)."""
    debit = cost + trade_fee
    credit = cost - trade_fee
    up = -(-debit // precision_micros) * precision_micros - debit
    down = credit - (credit // precision_micros) * precision_micros
    fees: Int64s = np.where(buy, up, down)
    return fees


def to_dollars(micros: int) -> Decimal:
    """Micros as an exact Decimal number of dollars (at least 2 decimals, at most 6): the
    Decimal of :func:`format_dollars`' string, built without the string (reports convert
    thousands of figures per call; a product with a power of ten costs half a scaleb)."""
    if not -_EXACT < micros < _EXACT:
        return Decimal(format_dollars(micros))
    if micros % 10_000 == 0:
        return Decimal(micros // 10_000) * _E2
    if micros % 1_000 == 0:
        return Decimal(micros // 1_000) * _E3
    if micros % 100 == 0:
        return Decimal(micros // 100) * _E4
    if micros % 10 == 0:
        return Decimal(micros // 10) * _E5
    return Decimal(micros) * _E6


def to_count(centi: int) -> Decimal:
    """Hundredths of a contract as an exact Decimal count with two decimals (the Decimal of
    :func:`format_count`' string, built without the string)."""
    if not -_EXACT < centi < _EXACT:
        return Decimal(format_count(centi))
    return Decimal(centi) * _E2


# A product rounds to the context's precision (28 digits by default): below this it is exact,
# and every int64 is. 10**-n, exactly.
_EXACT: Final = 10**27
_E2, _E3, _E4, _E5, _E6 = (Decimal(1).scaleb(-n) for n in range(2, 7))
# price_dollars' table.
_GRID_PRICES: Final = tuple(to_dollars(m) for m in range(0, MICROS_PER_DOLLAR + 1, 1_000))


def format_dollars(micros: int) -> str:
    """Micros as a dollar string without the sign of the currency: "12.34", "0.0012",
    "-3.00". Cents always; sub-cent digits only where they exist."""
    sign = "-" if micros < 0 else ""
    whole, rest = divmod(abs(micros), MICROS_PER_DOLLAR)
    digits = f"{rest:06d}".rstrip("0")
    if len(digits) < 2:
        digits = digits.ljust(2, "0")
    return f"{sign}{whole}.{digits}"


def price_dollars(micros: int) -> Decimal:
    """:func:`to_dollars` of a price, from a table for the prices of the finest tick grid
    ($0.001 steps from $0 to $1: every price a market's grid allows), else computed."""
    if micros % 1_000 == 0 and 0 <= micros <= MICROS_PER_DOLLAR:
        return _GRID_PRICES[micros // 1_000]
    return to_dollars(micros)


def mean_micros(total: int, n: int) -> int:
    """``total / n`` (``n`` > 0) rounded half-even to an integer, as ``round(Fraction(total,
    n))`` gives it, in integer arithmetic (a Fraction costs microseconds)."""
    quotient, remainder = divmod(total, n)  # floor: 0 <= remainder < n
    if 2 * remainder > n or (2 * remainder == n and quotient % 2):
        quotient += 1
    return quotient


def format_count(centi: int) -> str:
    """Hundredths of a contract as Kalshi writes a count: two decimals ("10.00", "2.50")."""
    sign = "-" if centi < 0 else ""
    whole, rest = divmod(abs(centi), CENTI_PER_CONTRACT)
    return f"{sign}{whole}.{rest:02d}"

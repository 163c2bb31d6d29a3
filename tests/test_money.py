"""milkbot.money: Kalshi's fee and rounding fee worked by hand, tick grids, parsing and
formatting, and every vectorised twin checked exhaustively against its scalar definition."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from milkbot import money
from milkbot.money import (
    MoneyError,
    format_count,
    format_dollars,
    on_grid_array,
    parse_count,
    parse_dollars,
    price_off_grid,
    rounding_fee_micros,
    rounding_fee_micros_array,
    to_dollars,
    trade_fee_micros,
    trade_fee_micros_array,
)

RATE = Decimal("0.07")


@pytest.mark.parametrize(
    ("price", "quantity", "expected"),
    [
        (500_000, 1000, 175_000),  # 0.07 * 10 * 0.5 * 0.5 = $0.175 exactly: no rounding up
        (500_000, 100, 17_500),  # $0.0175: already on the $0.0001 grid
        (10_000, 10_000, 69_300),  # 0.07 * 100 * 0.01 * 0.99 = $0.0693
        (990_000, 100, 700),  # $0.000693 -> $0.0007
        (400_000, 1000, 168_000),  # $0.168
        (350_000, 800, 127_400),  # $0.1274
        (55_000, 250, 9_100),  # 0.07 * 2.5 * 0.055 * 0.945 = $0.009095625 -> $0.0091
        (1_000, 1, 100),  # the smallest fill still pays $0.0001
    ],
)
def test_trade_fee_follows_kalshis_formula(price: int, quantity: int, expected: int) -> None:
    assert trade_fee_micros(price, quantity, RATE) == expected


def test_trade_fee_refuses_an_empty_fill() -> None:
    with pytest.raises(MoneyError, match="quantity"):
        trade_fee_micros(500_000, 0, RATE)


def test_vectorised_trade_fee_equals_the_scalar_fee() -> None:
    # Every count 0.01..20.00 at every $0.001 price, at 0.07, 0.0175 and 0.
    quantity, price = np.meshgrid(
        np.arange(1, 2001, dtype=np.int64),
        np.arange(1_000, 1_000_000, 1_000, dtype=np.int64),
        indexing="ij",
    )
    q, p = quantity.ravel()[::7], price.ravel()[::7]
    for rate in (RATE, Decimal("0.0175"), Decimal(0), Fraction(7, 100)):
        scalar = [trade_fee_micros(a, b, rate) for a, b in zip(q.tolist(), p.tolist(), strict=True)]
        assert trade_fee_micros_array(q, p, rate).tolist() == scalar, rate


@pytest.mark.parametrize(
    ("action", "cost", "fee", "precision", "expected"),
    [
        ("buy", 4_000_000, 168_000, 10_000, 2_000),  # $4.168 debited as $4.17
        ("buy", 4_000_000, 168_000, 100, 0),  # a direct member's $0.0001 balance: exact
        ("buy", 2_800_000, 127_400, 10_000, 2_600),
        ("sell", 9_000_000, 252_000, 10_000, 8_000),  # $8.748 credited as $8.74
        ("sell", 137_500, 9_100, 100, 0),
        ("buy", 5_000_000, 0, 10_000, 0),
    ],
)
def test_rounding_fee(action: str, cost: int, fee: int, precision: int, expected: int) -> None:
    assert rounding_fee_micros(action, cost, fee, precision) == expected  # type: ignore[arg-type]


def test_vectorised_rounding_fee_equals_the_scalar_one() -> None:
    rng = np.random.default_rng(1)
    cost = rng.integers(0, 50_000_000, 5000, dtype=np.int64) // 100 * 100
    fee = rng.integers(0, 200_000, 5000, dtype=np.int64) // 100 * 100
    buy = rng.integers(0, 2, 5000).astype(bool)
    for precision in money.BALANCE_PRECISIONS_MICROS:
        scalar = [
            rounding_fee_micros("buy" if b else "sell", c, f, precision)
            for b, c, f in zip(buy.tolist(), cost.tolist(), fee.tolist(), strict=True)
        ]
        assert rounding_fee_micros_array(buy, cost, fee, precision).tolist() == scalar


@pytest.mark.parametrize(
    ("structure", "price", "tick"),
    [
        ("linear_cent", 405_000, "0.01"),
        ("linear_cent", 5_000, "0.01"),
        ("tapered_deci_cent", 505_000, "0.01"),
        ("deci_cent", 400_500, "0.001"),
    ],
)
def test_off_grid_names_the_tick(structure: str, price: int, tick: str) -> None:
    why = price_off_grid(structure, price)
    assert why is not None and f"${tick} ticks" in why


@pytest.mark.parametrize(
    ("structure", "price"),
    [
        ("linear_cent", 400_000),
        ("tapered_deci_cent", 55_000),
        ("tapered_deci_cent", 955_000),
        ("tapered_deci_cent", 100_000),  # the boundaries are on both grids
        ("tapered_deci_cent", 900_000),
        ("deci_cent", 401_000),
    ],
)
def test_on_grid(structure: str, price: int) -> None:
    assert price_off_grid(structure, price) is None


def test_prices_outside_0_and_1_are_refused() -> None:
    for price in (0, 1_000_000, -10_000):
        assert "strictly between $0 and $1" in (price_off_grid("linear_cent", price) or "")


def test_vectorised_grid_equals_the_scalar_one() -> None:
    prices = np.arange(-1_000, 1_001_000, 100, dtype=np.int64)
    for structure in money.PRICE_LEVEL_STRUCTURES:
        scalar = [price_off_grid(structure, p) is None for p in prices.tolist()]
        assert on_grid_array(structure, prices).tolist() == scalar, structure


def test_parse_and_format() -> None:
    assert parse_dollars("0.4200") == 420_000
    assert parse_dollars(Decimal("12.345678")) == 12_345_678
    assert parse_dollars("-3.5") == -3_500_000
    assert parse_count("10.00") == 1000 and parse_count("2.5") == 250
    assert format_dollars(12_340_000) == "12.34"
    assert format_dollars(1_200) == "0.0012"
    assert format_dollars(-3_000_000) == "-3.00"
    assert format_dollars(123_456) == "0.123456"
    assert format_count(250) == "2.50" and format_count(-1) == "-0.01"
    assert to_dollars(1_200) == Decimal("0.0012")
    for bad in ("0.1234567", "abc", "NaN", "Infinity"):
        with pytest.raises(MoneyError):
            parse_dollars(bad)
    for bad in ("1.005", "x", "inf"):
        with pytest.raises(MoneyError):
            parse_count(bad)


def test_to_dollars_is_the_decimal_of_format_dollars_exhaustively() -> None:
    # Every micro from -$1.00 to $1.00 (every shape of trailing zeros and both signs), and
    # the far ends of int64 and beyond, where to_dollars takes the string's way.
    far = [2**63 - 1, -(2**63), 10**27 - 1, -(10**27) + 1, 10**27, -(10**27), 10**40 + 7]
    for micros in [*range(-1_000_001, 1_000_002), *far]:
        got = to_dollars(micros)
        assert str(got) == format_dollars(micros), micros
        assert got == Decimal(format_dollars(micros)), micros


def test_mean_rounds_half_even_like_a_fraction() -> None:
    rng = np.random.default_rng(7)
    cases = [(5, 2), (7, 2), (-5, 2), (-7, 2), (3, 6), (9, 6), (-3, 6), (0, 4), (1, 3), (-1, 3)]
    cases += [
        (int(t), int(n))
        for t, n in zip(
            rng.integers(-(10**12), 10**12, 2_000), rng.integers(1, 500, 2_000), strict=True
        )
    ]
    cases += [
        (int(n) * k + int(n) // 2, int(n))
        for k, n in zip(range(-50, 50), rng.integers(2, 40, 100) * 2, strict=True)
    ]
    for total, n in cases:
        assert money.mean_micros(total, n) == round(Fraction(total, n)), (total, n)


def test_to_count_is_the_decimal_of_format_count() -> None:
    for centi in (0, 1, 50, 100, 250, 1_000_000, -250, 2**62):
        assert money.to_count(centi) == Decimal(money.format_count(centi))
        assert str(money.to_count(centi)) == money.format_count(centi)


def test_price_dollars_is_to_dollars() -> None:
    for micros in [*range(0, 1_000_001, 1_000), 1, 999_999, 1_500, 450_100, -1_000, 1_001_000]:
        got = money.price_dollars(micros)
        assert got == money.to_dollars(micros) and str(got) == str(money.to_dollars(micros))

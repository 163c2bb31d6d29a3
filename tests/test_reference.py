from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from milkbot.reference import climate_day, climate_day_bounds, fee_cents, load_reference

RATE = Decimal("0.07")


@pytest.mark.parametrize(
    ("quantity", "price", "expected"),
    [
        (10, 50, 18),  # 0.07*10*0.5*0.5 = 0.175 -> 18 cents (ceil, exact decimal)
        (1, 50, 2),  # 0.0175 -> 2
        (100, 1, 7),  # 0.07*100*0.01*0.99 = 0.0693 -> 7
        (1, 99, 1),  # 0.000693 -> 1
        (10, 40, 17),  # 0.168 -> 17
        (20, 30, 30),  # 0.294 -> 30
        (100, 50, 175),  # exactly 1.75 -> 175, no rounding up past an exact cent
    ],
)
def test_fee_follows_kalshi_formula(quantity: int, price: int, expected: int) -> None:
    assert fee_cents(quantity, price, RATE) == expected


def test_fee_rejects_impossible_fills() -> None:
    with pytest.raises(ValueError, match="price"):
        fee_cents(1, 100, RATE)
    with pytest.raises(ValueError, match="quantity"):
        fee_cents(0, 50, RATE)


def test_climate_day_uses_local_standard_time_all_year() -> None:
    # 2026-07-10 04:30 UTC = 00:30 EDT = 23:30 EST on the 9th: still the 9th's climate day.
    assert climate_day("America/New_York", datetime(2026, 7, 10, 4, 30, tzinfo=UTC)) == date(
        2026, 7, 9
    )
    # 05:00 UTC = 00:00 EST: the 10th begins.
    assert climate_day("America/New_York", datetime(2026, 7, 10, 5, 0, tzinfo=UTC)) == date(
        2026, 7, 10
    )
    # Winter: EST is the clock, 04:59 UTC = 23:59 on the 9th.
    assert climate_day("America/New_York", datetime(2026, 1, 10, 4, 59, tzinfo=UTC)) == date(
        2026, 1, 9
    )


def test_climate_day_bounds_on_dst_change_day() -> None:
    # 2026-03-08 is the US spring-forward day; the climate day is still 24 h of EST.
    start, end = climate_day_bounds("America/Chicago", date(2026, 3, 8))
    assert start == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 24 * 3600


def test_climate_day_rejects_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        climate_day("America/New_York", datetime(2026, 1, 1))


def test_reference_data_has_the_ten_cities() -> None:
    ref = load_reference()
    assert ref.city_codes == ("NYC", "CHI", "LAX", "MIA", "AUS", "DEN", "PHL", "BOS", "SEA", "SFO")
    assert ref.city("PHL").series == "KXHIGHPHIL"
    with pytest.raises(KeyError, match="unknown city"):
        ref.city("XXX")

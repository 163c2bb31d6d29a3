"""The market rules of milkbot.market: worked examples from docs/DOMAIN.md, and every vectorised
twin checked exhaustively against its scalar definition."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from milkbot.market import (
    NO_CAP,
    NO_FLOOR,
    Bracket,
    climate_day,
    climate_day_bounds,
    climate_day_starts_us,
    event_brackets,
    event_brackets_array,
    event_ticker,
    event_title,
    settles_yes_array,
    trading_hours,
    trading_hours_us,
)
from milkbot.reference import load_reference

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(microseconds=1)


# -- Tickers and titles --------------------------------------------------------------------------


def test_tickers_and_titles_follow_kalshi() -> None:
    nyc = load_reference().city("NYC")
    day = date(2026, 11, 26)
    event = event_ticker(nyc, day)
    assert event == "KXHIGHNY-26NOV26"
    assert Bracket(45, 46).ticker(event) == "KXHIGHNY-26NOV26-B45.5"
    assert Bracket(None, 44).ticker(event) == "KXHIGHNY-26NOV26-T44"
    assert Bracket(57, None).ticker(event) == "KXHIGHNY-26NOV26-T57"
    assert event_title(nyc, day) == "New York (Central Park) high on Nov 26, 2026"
    assert (
        Bracket(45, 46).title(nyc, day)
        == "New York (Central Park) high on Nov 26, 2026: 45° to 46°"
    )
    assert Bracket(None, 44).label() == "44° or below"
    assert Bracket(57, None).label() == "57° or above"


def test_every_month_is_spelt_the_same_whatever_the_locale() -> None:
    chi = load_reference().city("CHI")
    months = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    for month, name in enumerate(months, 1):
        day = date(2027, month, 5)
        assert event_ticker(chi, day) == f"KXHIGHCHI-27{name}05"
        assert event_title(chi, day) == f"Chicago high on {name.title()} 5, 2027"


# -- Brackets, tails and which market settles YES ------------------------------------------------


def test_brackets_cover_every_temperature_once() -> None:
    brackets = event_brackets(51.4, width_f=2, count=6)
    assert [(b.floor_f, b.cap_f) for b in brackets] == [
        (None, 44), (45, 46), (47, 48), (49, 50), (51, 52), (53, 54), (55, 56), (57, None),
    ]  # fmt: skip
    assert [b.suffix() for b in brackets][:2] == ["T44", "B45.5"]
    for high in range(20, 90):
        assert sum(b.settles_yes(high) for b in brackets) == 1


def test_vectorised_brackets_equal_the_scalar_ones() -> None:
    # Every quarter degree (ties at .5 round half to even in both), widths and counts around
    # the reference's 2 F x 6.
    centres = np.arange(-40.0, 130.0, 0.25)
    for width in range(1, 5):
        for count in range(1, 9):
            floors, caps = event_brackets_array(centres, width, count)
            assert floors.shape == caps.shape == (len(centres), count + 2)
            for centre, row_floors, row_caps in zip(
                centres.tolist(), floors.tolist(), caps.tolist(), strict=True
            ):
                vectorised = [
                    Bracket.of_bounds(lo, hi) for lo, hi in zip(row_floors, row_caps, strict=True)
                ]
                assert vectorised == event_brackets(centre, width, count), (centre, width, count)


def test_vectorised_settlement_equals_the_scalar_rule() -> None:
    centres = np.arange(20.0, 80.0, 0.5)
    floors, caps = event_brackets_array(centres, 2, 6)
    highs = np.arange(-60, 160, dtype=np.int64)
    # (centres, markets, highs): every market of every event against every high.
    yes = settles_yes_array(floors[:, :, None], caps[:, :, None], highs[None, None, :])
    assert (yes.sum(axis=1) == 1).all()  # exactly one market of an event settles YES
    for e, (row_floors, row_caps) in enumerate(zip(floors.tolist(), caps.tolist(), strict=True)):
        for k, (lo, hi) in enumerate(zip(row_floors, row_caps, strict=True)):
            bracket = Bracket.of_bounds(lo, hi)
            assert yes[e, k].tolist() == [bracket.settles_yes(h) for h in highs.tolist()]


def test_tails_are_open_ended() -> None:
    assert Bracket.of_bounds(NO_FLOOR, 44) == Bracket(None, 44)
    assert Bracket.of_bounds(57, NO_CAP) == Bracket(57, None)
    assert Bracket(None, 44).settles_yes(-80) and not Bracket(None, 44).settles_yes(45)
    assert Bracket(57, None).settles_yes(130) and not Bracket(57, None).settles_yes(56)


# -- When markets trade, and the climate day -----------------------------------------------------


def test_markets_open_at_ten_standard_time_the_day_before_and_close_with_the_climate_day() -> None:
    # Summer in New York: 10:00 EST on the 9th is 15:00 UTC (11:00 by the EDT clock).
    opens, closes = trading_hours("America/New_York", date(2026, 7, 10))
    assert opens == datetime(2026, 7, 9, 15, 0, tzinfo=UTC)
    assert closes == datetime(2026, 7, 11, 5, 0, tzinfo=UTC)


def test_vectorised_trading_hours_equal_the_scalar_ones() -> None:
    # Every day of four years (two DST changes a year) in every reference city.
    first = date(2024, 1, 1)
    days = np.arange((first - EPOCH.date()).days, (date(2028, 1, 1) - EPOCH.date()).days)
    zones = [c.timezone for c in load_reference().cities]
    starts = climate_day_starts_us(days, zones)
    opens, closes = trading_hours_us(starts)
    for i, number in enumerate(days.tolist()):
        day = EPOCH.date() + timedelta(days=number)
        for j, zone in enumerate(zones):
            start, _ = climate_day_bounds(zone, day)
            scalar_opens, scalar_closes = trading_hours(zone, day)
            assert (starts[i, j], opens[i, j], closes[i, j]) == (
                _us(start),
                _us(scalar_opens),
                _us(scalar_closes),
            ), (zone, day)


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


# -- The fee -------------------------------------------------------------------------------------

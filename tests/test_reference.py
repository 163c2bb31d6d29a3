from datetime import timedelta

import pytest

from milkbot.reference import load_reference, standard_offset


def test_reference_data_has_the_ten_cities() -> None:
    ref = load_reference()
    assert ref.city_codes == ("NYC", "CHI", "LAX", "MIA", "AUS", "DEN", "PHL", "BOS", "SEA", "SFO")
    assert ref.city("PHL").series == "KXHIGHPHIL"
    with pytest.raises(KeyError, match="unknown city"):
        ref.city("XXX")


def test_standard_offset_is_the_winter_offset_all_year() -> None:
    # The climate day follows standard time, so the offset must not depend on the date.
    assert standard_offset("America/New_York") == timedelta(hours=-5)
    assert standard_offset("America/Denver") == timedelta(hours=-7)
    assert load_reference().city("SEA").standard_offset() == timedelta(hours=-8)

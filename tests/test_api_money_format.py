"""How the dashboard writes exact money and counts (milkbot.web.format, and common.js's twin
checked in the browser tests), how the comparison sorts, and which accounts its chart draws."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from milkbot.analytics import AnalyticsInputError
from milkbot.web.accounts import Links, check_order
from milkbot.web.format import contracts, money, tone
from milkbot.web.overlay import Line, overlay_svg, pick_drawn


@pytest.mark.parametrize(
    ("dollars", "signed", "shown"),
    [
        ("1234.5", False, "$1,234.50"),
        (Decimal("1234.50"), False, "$1,234.50"),
        ("0.0012", False, "$0.0012"),
        ("0.0010", False, "$0.001"),
        ("-12", False, "-$12.00"),
        ("12.345678", True, "+$12.345678"),
        ("-0.0001", True, "-$0.0001"),
        ("0.00", True, "$0.00"),
        ("1000000", False, "$1,000,000.00"),
        (None, False, "\u2013"),
    ],
)
def test_money_shows_cents_and_sub_cent_digits_only_where_they_exist(
    dollars: str | Decimal | None, signed: bool, shown: str
) -> None:
    assert money(dollars, signed) == shown


def test_money_refuses_what_is_not_an_exact_amount() -> None:
    with pytest.raises(ValueError, match="more than 6 decimals"):
        money("0.0000001")


def test_counts_of_contracts_have_two_decimals() -> None:
    assert contracts("1250") == "1,250.00"
    assert contracts(Decimal("2.5")) == "2.50"
    assert contracts(None) == "\u2013"


def test_tone_reads_signed_dollar_strings() -> None:
    assert (tone("-0.0001"), tone("0.00"), tone("3.5"), tone(None)) == ("neg", "", "pos", "")


def test_links_carry_the_account_and_keep_the_other_parameters() -> None:
    links = Links("/cities", "paper_a", {"days": "90", "account": "paper_a", "x": "1"})
    assert links.url("/") == "/?account=paper_a"
    assert links.url("/trades", city="NYC", side=None) == "/trades?account=paper_a&city=NYC"
    assert links.here(days=7) == "/cities?account=paper_a&days=7&x=1"
    assert links.switch("live_b") == "/cities?account=live_b&days=90&x=1"
    inputs = str(links.hidden_inputs())
    assert 'name="days" value="90"' in inputs and 'name="account"' not in inputs


def test_comparison_order_is_checked_by_name_with_a_natural_default() -> None:
    assert check_order(None, None) == ("return_on_bankroll", True)
    assert check_order("name", None) == ("name", False)
    assert check_order("fees", "asc") == ("fees", False)
    with pytest.raises(AnalyticsInputError) as bad_order:
        check_order("trades", "up")
    assert bad_order.value.field == "order" and "asc, desc" in bad_order.value.message


def test_the_chart_draws_the_best_and_worst_and_the_selected_account() -> None:
    rows = [(f"acct{i:03d}", i / 100) for i in range(300)]
    drawn = pick_drawn(rows, "acct150", each_end=5)
    assert drawn[:5] == ["acct299", "acct298", "acct297", "acct296", "acct295"]
    assert drawn[5:10] == ["acct004", "acct003", "acct002", "acct001", "acct000"]
    assert drawn[10:] == ["acct150"]
    assert pick_drawn(rows[:4], "acct001") == ["acct003", "acct002", "acct001", "acct000"]


def test_overlay_svg_draws_one_line_per_account_on_a_bankroll_axis() -> None:
    days = [date(2026, 3, d) for d in (1, 2, 3)]
    lines = [
        Line("a", "A <up>", list(zip(days, [1.0, 1.1, 1.25], strict=True))),
        Line("b", "B", list(zip(days, [1.0, 0.95, 0.9], strict=True)), selected=True),
    ]
    svg = str(overlay_svg(lines, "Equity"))
    assert svg.count("<polyline") == 2
    assert 'class="curve selected" data-account="b"' in svg
    assert "A &lt;up&gt;" in svg  # names are escaped
    assert ">0%</text>" in svg and ">+20%</text>" in svg and ">-10%</text>" in svg
    assert "style=" not in svg  # the page's CSP allows no inline style

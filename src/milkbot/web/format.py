"""Jinja2 filters of the dashboard: exact dollar amounts and contract counts, ratios as
percentages, UTC times to the minute. The page scripts format refreshed values the same way
(common.js).

Money reaches the pages as the API serves it: exact decimal strings of dollars ("1234.5",
"0.0012") or :class:`~decimal.Decimal`. It is shown in dollars and cents, with the sub-cent
digits only where the amount has them ("$0.0012", never "$0.00"), and never goes through a
binary float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from markupsafe import Markup, escape

from milkbot import money as units

# Shown where a figure is undefined (no settled trades, fewer than two days...).
DASH = "\u2013"

Dollars = Decimal | str | int


def _micros(dollars: Dollars) -> int:
    """Micros of a dollar amount given as a Decimal or a decimal string (an int is dollars)."""
    if isinstance(dollars, int):
        return dollars * units.MICROS_PER_DOLLAR
    return units.parse_dollars(dollars if isinstance(dollars, Decimal) else str(dollars))


def money(dollars: Dollars | None, signed: bool = False) -> str:
    """An exact dollar amount for people: "1234.5" -> "$1,234.50", "0.0012" -> "$0.0012",
    "-12" -> "-$12.00"; ``signed`` adds "+" to a gain. A dash when undefined."""
    if dollars is None:
        return DASH
    micros = _micros(dollars)
    sign = "-" if micros < 0 else ("+" if signed and micros > 0 else "")
    whole, _, fraction = units.format_dollars(abs(micros)).partition(".")
    return f"{sign}${int(whole):,}.{fraction}"


def contracts(count: Decimal | str | None) -> str:
    """A count of contracts as Kalshi writes it, two decimals ("1,250.00", "2.50")."""
    if count is None:
        return DASH
    return f"{units.parse_count(count if isinstance(count, Decimal) else str(count)) / 100:,.2f}"


def percent(ratio: float | None, digits: int = 1) -> str:
    """A 0..1 ratio as a percentage, e.g. 0.5432 -> "54.3%"."""
    return DASH if ratio is None else f"{ratio * 100:.{digits}f}%"


def number(value: float | None, digits: int = 2) -> str:
    """A float with fixed digits, or a dash when undefined."""
    return DASH if value is None else f"{value:,.{digits}f}"


def tone(value: Dollars | float | None) -> str:
    """CSS class for a signed amount (a number, or a decimal string of dollars): "pos", "neg"
    or ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = Decimal(value)
    if value == 0:
        return ""
    return "pos" if value > 0 else "neg"


def utc_minute(value: datetime | str) -> str:
    """A UTC time as "2026-11-26 14:05"."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


def breakable(text: str) -> Markup:
    """Escaped ``text`` with a line-break opportunity after each "-" and "_", so a ticker such
    as KXHIGHPHIL-26NOV27-T55 wraps at its parts on a phone instead of mid-word."""
    out = str(escape(text))
    for sep in ("-", "_"):
        out = out.replace(sep, sep + "<wbr>")
    return Markup(out)


def time_cell(value: datetime | str) -> Markup:
    """A UTC time for a narrow table cell: the date never breaks, the time may wrap below it."""
    text = utc_minute(value)
    day, clock = text.split(" ")
    return Markup('<span class="nowrap">{}</span> {}').format(day, clock)

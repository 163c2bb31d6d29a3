"""Jinja2 filters of the dashboard: money in cents to dollars, ratios to percentages, UTC
times to the minute. The page scripts format refreshed values the same way (common.js)."""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

# Shown where a figure is undefined (no settled trades, fewer than two days...).
DASH = "\u2013"


def money(cents: int | float | None, signed: bool = False) -> str:
    """Cents as dollars, e.g. 123456 -> "$1,234.56" (signed: "+$1,234.56" / "-$12.00")."""
    if cents is None:
        return DASH
    sign = "-" if cents < 0 else ("+" if signed and cents > 0 else "")
    return f"{sign}${abs(cents) / 100:,.2f}"


def percent(ratio: float | None, digits: int = 1) -> str:
    """A 0..1 ratio as a percentage, e.g. 0.5432 -> "54.3%"."""
    return DASH if ratio is None else f"{ratio * 100:.{digits}f}%"


def number(value: float | None, digits: int = 2) -> str:
    """A float with fixed digits, or a dash when undefined."""
    return DASH if value is None else f"{value:,.{digits}f}"


def tone(value: float | None) -> str:
    """CSS class for a signed amount: "pos", "neg" or ""."""
    if value is None or value == 0:
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

"""The comparison page's view: every public account's figures sorted by a column, the totals
that add up across accounts (fees and trades, never equity), and the overlaid equity chart of
a readable subset of them (:mod:`milkbot.web.overlay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from milkbot.analytics import Window
from milkbot.analytics.results import AccountSummary
from milkbot.web.accounts import DEFAULT_SORT, check_sort, sort_rows
from milkbot.web.overlay import Line, legend, overlay_svg, pick_drawn

if TYPE_CHECKING:
    from milkbot.analytics.service import Analytics


@dataclass(frozen=True, slots=True)
class CompareView:
    """What the comparison page shows: ``data`` is the API's JSON of the same request."""

    data: dict[str, Any]
    sort: str
    order: str
    chart: Markup
    legend: list[tuple[Line, str]]
    drawn: int
    total: int

    def next_order(self, field: str) -> str:
        """The order a click on ``field``'s header asks for: the other one on the current
        column, else the column's natural one (names A-Z, figures highest first)."""
        if field == self.sort:
            return "asc" if self.order == "desc" else "desc"
        return check_sort(field, None)[1]

    def aria_sort(self, field: str) -> str | None:
        """``ascending`` / ``descending`` on the column sorted by, else None."""
        if field != self.sort:
            return None
        return "ascending" if self.order == "asc" else "descending"


async def compare_view(
    analytics: Analytics,
    window: Window,
    mode: str | None,
    sort: str | None,
    order: str | None,
    selected: AccountSummary,
) -> CompareView:
    """The comparison of ``mode``'s accounts (every mode when None) over ``window``, sorted by
    ``sort`` in ``order`` (validated: a bad value raises AnalyticsInputError naming it), with
    ``selected`` highlighted in the table and always drawn in the chart."""
    field, direction = check_sort(sort, order)
    report = await analytics.comparison(window, mode=mode)
    data = report.to_dict()
    rows = sort_rows(data["accounts"], field, direction)
    data |= {"accounts": rows, "sort": field, "descending": direction == "desc"}
    by_return = [(r["account"]["name"], r[DEFAULT_SORT]) for r in rows]
    names = pick_drawn(by_return, selected.name)
    index = {r["account"]["name"]: r for r in rows}
    lines = [
        Line(
            name=name,
            label=index[name]["account"]["display_name"],
            points=[
                (date.fromisoformat(p["date"]), float(p["value"])) for p in index[name]["curve"]
            ],
            selected=name == selected.name,
        )
        for name in names
    ]
    chart = overlay_svg(lines, f"Equity of {len(lines)} accounts as a share of their bankroll")
    return CompareView(data, field, direction, chart, legend(lines), len(lines), len(rows))

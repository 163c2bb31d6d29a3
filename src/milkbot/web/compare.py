"""The comparison page's view: every public account's figures sorted by a column, the totals
that add up across accounts (fees and trades, never equity), and the overlaid equity chart of
a readable subset of them (:mod:`milkbot.web.overlay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from markupsafe import Markup

from milkbot.analytics import Window
from milkbot.analytics.results import AccountSummary, ComparisonReport
from milkbot.web.accounts import check_order
from milkbot.web.overlay import Line, legend, overlay_svg, pick_drawn

if TYPE_CHECKING:
    from milkbot.analytics.service import Analytics

# The table's columns: (sort name, label, CSS class); "opt" columns hide on a phone.
COLUMNS = (
    ("name", "Account", ""),
    ("equity", "Equity", "num"),
    ("net_pnl", "Net P&L", "num opt"),
    ("return_on_bankroll", "Return", "num"),
    ("max_drawdown_pct", "Max DD", "num"),
    ("sharpe", "Sharpe", "num opt"),
    ("sortino", "Sortino", "num opt"),
    ("win_rate", "Win rate", "num"),
    ("fees", "Fees", "num opt"),
    ("trades", "Trades", "num"),
    ("open_risk", "Open risk", "num opt"),
)


@dataclass(frozen=True, slots=True)
class CompareView:
    """What the comparison page shows, from the analytics' (sorted) report."""

    report: ComparisonReport
    chart: Markup
    legend: list[tuple[Line, str]]
    drawn: int

    @property
    def total(self) -> int:
        return len(self.report.accounts)

    def next_order(self, field: str) -> str:
        """The order a click on ``field``'s header asks for: the other one on the column
        sorted by, else the column's natural one (names A-Z, figures highest first)."""
        if field == self.report.sort:
            return "asc" if self.report.descending else "desc"
        return "desc" if check_order(field, None)[1] else "asc"

    def aria_sort(self, field: str) -> str | None:
        """``ascending`` / ``descending`` on the column sorted by, else None."""
        if field != self.report.sort:
            return None
        return "descending" if self.report.descending else "ascending"


async def compare_view(
    analytics: Analytics,
    window: Window,
    mode: str | None,
    sort: str | None,
    order: str | None,
    selected: AccountSummary,
) -> CompareView:
    """The comparison of ``mode``'s accounts (every mode when None) over ``window``, sorted by
    ``sort`` in ``order`` (a bad value raises AnalyticsInputError naming it), with ``selected``
    always drawn in the chart (and highlighted in the table by the template)."""
    field, descending = check_order(sort, order)
    report = await analytics.comparison(window, mode=mode, sort=field, descending=descending)
    rows = report.accounts
    names = pick_drawn([(r.account.name, r.return_on_bankroll) for r in rows], selected.name)
    index = {r.account.name: r for r in rows}
    lines = [
        Line(
            name=name,
            label=index[name].account.display_name,
            points=[
                (day, value)
                for day, value in zip(report.curve_days, index[name].curve, strict=True)
                if value is not None
            ],
            selected=name == selected.name,
        )
        for name in names
    ]
    chart = overlay_svg(lines, f"Equity of {len(lines)} accounts as a share of their bankroll")
    return CompareView(report, chart, legend(lines), len(lines))

"""What a newcomer reads on the dashboard, in a real Chromium: daily charts tick on dates at
every range, the calibration chart says how many signals each point stands on and marks the
thin ones, the scripts' counts agree with their nouns, figures refreshed by script keep the
window of their labels, filters live in the address, and a bad address is an HTML page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from itertools import pairwise

import httpx
import pytest

from tests.browser.conftest import DAYS, REFRESH_SECONDS, Visit
from tests.browser.test_dashboard import assert_charts_drawn

pytestmark = pytest.mark.browser

DAY_S = 86400
# "Nov 26", "Nov 26\n2026", "Nov", "Nov\n2026" or "2026": dates, never a time of day.
DATE_LABEL = re.compile(r"^(?:[A-Z][a-z]{2}(?: \d{1,2})?(?:\n\d{4})?|\d{4})$")


def until(v: Visit, expression: str, timeout_s: float = 10.0) -> None:
    """Poll ``expression`` in the page until it is truthy (page.wait_for_function would poll
    through eval, which the pages' CSP refuses)."""
    deadline = time.monotonic() + timeout_s
    while not v.page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        v.page.wait_for_timeout(50)


def axis_ticks(v: Visit, chart: str) -> tuple[list[float], list[str]]:
    """The x axis's tick positions (seconds) and labels as uPlot last drew them."""
    splits, values = v.page.evaluate(
        f"(() => {{ const a = window.Milkbot.charts['{chart}'].axes[0];"
        " return [a._splits, a._values]; })()"
    )
    return splits, values


def assert_daily_ticks(v: Visit, chart: str, what: str) -> None:
    splits, values = axis_ticks(v, chart)
    assert len(splits) >= 2, (what, splits)
    assert all(s % DAY_S == 0 for s in splits), (what, splits)  # whole days, UTC midnight
    assert all(DATE_LABEL.match(label) for label in values), (what, values)


def test_daily_charts_tick_on_dates_at_every_range(visit: Callable[..., Visit]) -> None:
    for width in (1280, 390):
        v = visit(width, 900)
        v.open("/performance")
        assert_charts_drawn(v, "performance")
        points = "window.Milkbot.charts['equity-chart'].data[0].length"
        for label, n in (("7D", 7), ("30D", 30), ("90D", 90), ("1Y", 365), ("All", 0)):
            with v.page.expect_response(lambda r: "/api/v1/equity?days=" in r.url) as answer:
                v.page.click(f".ranges a:text-is('{label}')")
            if label == "All":  # the account's first settlement day on, as the API answers
                n = len(answer.value.json()["points"])
                assert 90 < n <= DAYS + 1
            until(v, f"{points} === {n}")
            for chart in ("equity-chart", "drawdown-chart"):
                assert_daily_ticks(v, chart, f"{width}px {label} {chart}")
            if label == "7D":
                v.screenshot(f"performance-7d-{width}")
                if width == 1280:  # room for a tick a day, each on its own date
                    splits = axis_ticks(v, "equity-chart")[0]
                    assert {b - a for a, b in pairwise(splits)} == {DAY_S}
        legend_day = v.page.evaluate(
            "(() => { const u = window.Milkbot.charts['equity-chart'];"
            " return u.series[0].value(u, u.data[0][0]); })()"
        )
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", legend_day)
        v.open("/")
        assert_charts_drawn(v, "overview")
        assert_daily_ticks(v, "spark", f"{width}px overview")
        assert v.errors == []


def test_calibration_shows_counts_and_marks_thin_deciles(
    visit: Callable[..., Visit], live_server: str
) -> None:
    cal = httpx.get(f"{live_server}/api/v1/calibration?days=365").json()
    v = visit(1280, 1000)
    v.open("/strategies")
    assert_charts_drawn(v, "strategies")
    filled = [b for b in cal["bins"] if b["n"] > 0]
    rows = v.page.eval_on_selector_all(
        "#calibration-table tbody tr",
        "rs => rs.map(r => [r.className, r.cells[1].textContent])",
    )
    assert [int(n.split()[0].replace(",", "")) for _, n in rows] == [b["n"] for b in cal["bins"]]
    assert [c == "small" for c, _ in rows] == [b["small"] for b in cal["bins"]]
    chart = "window.Milkbot.charts['calibration-chart']"
    label = v.page.evaluate(f"{chart}.series[3].label")
    assert label == f"Fewer than {cal['min_signals']} signals"
    hollow = v.page.evaluate(f"{chart}.data[3]")[1:-1]
    assert [x is not None for x in hollow] == [b["small"] for b in filled]
    legend = v.page.evaluate(
        f"(() => {{ const u = {chart}; return u.series[2].value(u, u.data[2][1], 2, 1); }})()"
    )
    n = filled[0]["n"]
    assert legend.endswith(f" · {n:,} signal{'s' if n != 1 else ''}"), legend
    v.screenshot("strategies-calibration")
    assert v.errors == []


def test_script_counts_agree_with_their_nouns(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/status")
    said = v.page.evaluate(
        "[[1, 'day'], [2, 'day'], [0, 'trade'], [1, 'city', 'cities'], [1234, 'city', 'cities']]"
        ".map(a => window.Milkbot.plural(a[0], a[1], a[2]))"
    )
    assert said == ["1 day", "2 days", "0 trades", "1 city", "1,234 cities"]


def test_refreshed_overview_figures_keep_their_window(
    visit: Callable[..., Visit], live_server: str
) -> None:
    v = visit(1280, 900)
    v.open("/?days=7")
    with v.page.expect_response(
        lambda r: "/api/v1/summary?days=7" in r.url, timeout=REFRESH_SECONDS * 5000
    ) as refreshed:
        pass
    body = refreshed.value.json()
    until(v, "document.querySelector('.span').textContent === '7 days'")
    spans = v.page.eval_on_selector_all(".span", "s => s.map(x => x.textContent)")
    assert spans == ["7 days"] * 5
    assert v.page.text_content("#max-dd") == f"{body['max_drawdown_pct']:.1f}%"
    assert v.page.text_content("#all-time-dd") == f"{body['all_time_max_drawdown_pct']:.1f}%"
    v.screenshot("overview-7d")
    assert v.errors == []


def test_filters_live_in_the_address_and_survive_a_reload(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/trades")
    with v.page.expect_response(lambda r: "city=NYC" in r.url):
        v.page.select_option("#city-filter", "NYC")
    with v.page.expect_response(lambda r: "side=no" in r.url):
        v.page.select_option("#side-filter", "no")
    assert v.page.url.endswith("/trades?city=NYC&side=no")
    v.page.reload()
    v.page.wait_for_load_state("networkidle")
    assert v.page.input_value("#city-filter") == "NYC"
    assert v.page.input_value("#side-filter") == "no"
    trades = v.page.eval_on_selector_all(
        "#trade-table tbody tr",
        "rs => rs.map(r => [r.cells[2].textContent, r.cells[3].textContent])",
    )
    assert trades and all(t.startswith("KXHIGHNY-") and s.endswith("NO") for t, s in trades)
    assert v.errors == []


def test_a_bad_address_is_an_html_page_that_says_what_to_fix(
    visit: Callable[..., Visit],
) -> None:
    v = visit(1280, 900)
    response = v.page.goto(v.base + "/trades?city=ZZZ")
    assert response is not None and response.status == 400
    message = v.page.text_content("#error-message") or ""
    assert message.startswith("city: unknown city 'ZZZ'; known: NYC, ")
    assert v.page.get_attribute("#error-back", "href") == "/trades"
    v.screenshot("error-400")
    v.page.click("#error-back")
    v.page.wait_for_load_state("networkidle")
    assert v.page.locator("#trade-table tbody tr").count() == 50

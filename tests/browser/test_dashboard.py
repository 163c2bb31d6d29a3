"""The dashboard in a real browser: every page loads without console errors and draws its
charts, the feed scrolls through the cursor API, the filters and the range selector work, the
pages refresh themselves, and the layout holds on a 390 px phone. Screenshots of every page go
to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from milkbot.web.format import money
from tests.browser.conftest import DAYS, REFRESH_SECONDS, Visit

pytestmark = pytest.mark.browser

PAGES = {
    "overview": "/",
    "cities": "/cities",
    "performance": "/performance",
    "strategies": "/strategies",
    "trades": "/trades",
    "status": "/status",
    "compare": "/compare",
}
CHARTS = {
    "overview": ["spark"],
    "cities": ["city-bars"],
    "performance": ["equity-chart", "drawdown-chart"],
    "strategies": ["calibration-chart"],
    "trades": [],
    "status": [],
    "compare": [],  # an inline SVG, drawn by the server
}
PAGE_WEIGHT_GOAL = 250_000  # bytes, every response of the first load


def assert_charts_drawn(v: Visit, name: str) -> None:
    for chart in CHARTS[name]:
        v.page.wait_for_selector(f"#{chart}[data-drawn='1'] canvas")
        width, height = v.page.eval_on_selector(f"#{chart} canvas", "c => [c.width, c.height]")
        assert width > 0 and height > 0, chart
        points = v.page.evaluate(f"window.Milkbot.charts['{chart}'].data[0].length")
        assert points > 1, chart


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_and_draws_without_console_errors(
    visit: Callable[..., Visit], name: str
) -> None:
    v = visit(1280, 900)
    v.open(PAGES[name])
    assert_charts_drawn(v, name)
    nav = v.page.eval_on_selector_all("header nav a", "links => links.map(a => a.textContent)")
    assert nav == [
        "Overview", "Cities", "Performance", "Strategies", "Trades", "Health", "Compare",
    ]  # fmt: skip
    current = v.page.get_attribute("nav a[aria-current='page']", "href")
    assert current == PAGES[name] + "?account=default"  # every link keeps the account
    v.screenshot(name)
    assert v.errors == []


@pytest.mark.parametrize("name", PAGES)
def test_layout_holds_at_390_px(visit: Callable[..., Visit], name: str) -> None:
    v = visit(390, 844)
    v.open(PAGES[name])
    assert_charts_drawn(v, name)
    overflow = v.page.evaluate(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert overflow[0] <= 390 and overflow[1] <= 390, overflow
    for chart in CHARTS[name]:
        box = v.page.eval_on_selector(f"#{chart} canvas", "c => c.getBoundingClientRect().right")
        assert box <= 390, chart
    v.screenshot(f"{name}-390")
    assert v.errors == []


def test_first_response_has_the_numbers_before_any_script(
    visit: Callable[..., Visit], live_server: str
) -> None:
    summary = httpx.get(f"{live_server}/api/v1/summary").json()
    v = visit(1280, 900, javascript=False)
    v.open("/")
    equity = v.page.text_content("#equity")
    assert equity == money(summary["equity_dollars"])
    assert v.page.text_content("#trades") == f"{summary['trades']:,}"
    assert v.page.locator("#city-table tbody tr").count() == 10
    assert v.page.text_content("#health-badge") in ("healthy", "degraded", "unhealthy")


def test_overview_page_weight_is_within_the_goal(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/")
    assert_charts_drawn(v, "overview")
    total = sum(len(r.body()) for r in v.responses if r.status == 200)
    assert 0 < total <= PAGE_WEIGHT_GOAL, total


def test_infinite_scroll_fetches_the_next_page(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/trades")
    rows = v.page.locator("#trade-table tbody tr")
    assert rows.count() == 50
    first_page = v.page.eval_on_selector_all(
        "#trade-table tbody tr", "r => r.map(x => x.innerText)"
    )
    with v.page.expect_response(
        lambda r: "/api/v1/trades/public" in r.url and "cursor=" in r.url
    ) as older:
        v.page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert older.value.status == 200
    v.page.wait_for_function("() => document.querySelectorAll('#trade-table tbody tr').length > 50")
    assert v.page.evaluate("window.Milkbot.feed.pages") >= 2
    all_rows = v.page.eval_on_selector_all("#trade-table tbody tr", "r => r.map(x => x.innerText)")
    assert all_rows[:50] == first_page  # appended, not replaced
    times = [row.split("\t")[0].replace("\n", " ") for row in all_rows]
    assert times == sorted(times, reverse=True)  # still newest first across pages
    assert v.errors == []


def test_city_filter_shows_only_that_city(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/trades")
    with v.page.expect_response(lambda r: "city=NYC" in r.url):
        v.page.select_option("#city-filter", "NYC")
    v.page.wait_for_function(
        "() => [...document.querySelectorAll('#trade-table tbody td.ticker')]"
        ".every(td => td.textContent.startsWith('KXHIGHNY-'))"
    )
    tickers = v.page.eval_on_selector_all(
        "#trade-table tbody td.ticker", "tds => tds.map(td => td.textContent)"
    )
    assert tickers and all(t.startswith("KXHIGHNY-") for t in tickers)
    assert v.errors == []


def test_range_selector_changes_the_curve(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/performance")
    assert_charts_drawn(v, "performance")
    points = "window.Milkbot.charts['equity-chart'].data[0].length"
    assert v.page.evaluate(points) == 365  # the default range: 1Y
    for label, days in (("7D", 7), ("90D", 90), ("All", None)):
        with v.page.expect_response(lambda r: "/api/v1/equity?days=" in r.url) as answer:
            v.page.click(f".ranges a:text-is('{label}')")
        if days is None:
            # All: from the account's first settlement day (the generator may start it after the
            # dataset's first day) to the window's end, today (the history may end yesterday).
            days = len(answer.value.json()["points"])
            assert 90 < days <= DAYS + 1
        # A function, not an expression: Playwright evaluates a bare expression with eval, which
        # the pages' CSP (no 'unsafe-eval') refuses whenever the first check is false.
        v.page.wait_for_function(f"() => {points} === {days}")
        assert v.page.get_attribute(".ranges a.active", "data-days") in (str(days), "3650")
        drawdown = v.page.evaluate("window.Milkbot.charts['drawdown-chart'].data[0].length")
        assert drawdown == days
    assert re.search(r"\?days=3650$", v.page.url)
    assert v.errors == []


def test_pages_refresh_without_reloading(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/")
    v.page.evaluate("window.__notReloaded = true")
    with v.page.expect_response(
        lambda r: "/api/v1/summary?days=30" in r.url, timeout=REFRESH_SECONDS * 5000
    ) as refreshed:
        pass
    assert refreshed.value.status == 200
    assert v.page.evaluate("window.__notReloaded") is True
    assert v.errors == []

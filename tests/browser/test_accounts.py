"""Accounts in a real Chromium: the switcher opens the same page for another account and the
choice stays across navigation (links, ranges, the page's refresh), the comparison sorts by its
column links, an unknown account is a 404 page, and the private account is nowhere to be
chosen or seen."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.conftest import REFRESH_SECONDS, Visit

pytestmark = pytest.mark.browser


def test_the_switcher_keeps_the_account_across_navigation(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/cities?days=7")
    assert v.page.text_content("#account-name") == "Default account"
    with v.page.expect_navigation():
        v.page.select_option("#account-select", "paper_a")  # common.js submits at once
    assert v.page.url.endswith("/cities?account=paper_a&days=7")  # the range is kept
    assert v.page.text_content("#account-name") == "Paper A"
    assert v.page.text_content(".account-line .badge") == "DEMO"
    # A link of the navigation, then the range selector: the account stays.
    with v.page.expect_navigation():
        v.page.click("header nav a:text-is('Performance')")
    assert "account=paper_a" in v.page.url
    assert v.page.text_content("#account-name") == "Paper A"
    with v.page.expect_response(
        lambda r: "/api/v1/equity?" in r.url and "account=paper_a" in r.url
    ) as picked:
        v.page.click(".ranges a:text-is('All')")
    assert picked.value.status == 200
    assert "account=paper_a" in v.page.url and "days=3650" in v.page.url
    # The page's own refresh asks for the same account's figures.
    with v.page.expect_response(
        lambda r: "/api/v1/" in r.url and "account=paper_a" in r.url,
        timeout=REFRESH_SECONDS * 5000,
    ):
        pass
    v.page.reload()
    assert v.page.text_content("#account-name") == "Paper A"
    assert v.errors == []


def test_the_switcher_works_without_script(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900, javascript=False)
    v.open("/?days=7")
    v.page.select_option("#account-select", "replay_b")
    with v.page.expect_navigation():
        v.page.click("#account-switcher button")
    assert v.page.url.endswith("/?account=replay_b&days=7")
    assert v.page.text_content("#account-name") == "Replay B"


def test_the_private_account_cannot_be_chosen_or_seen(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    listed = v.page.request.get(f"{v.base}/api/v1/accounts")
    assert listed.status == 200
    public = sorted(a["name"] for a in listed.json()["accounts"])
    assert {"default", "paper_a", "replay_b"} <= set(public) and "secret" not in public
    v.open("/compare?days=3650")
    options = v.page.eval_on_selector_all("#account-select option", "o => o.map(x => x.value)")
    assert sorted(options) == public
    rows = v.page.eval_on_selector_all(
        "#compare-table tbody tr", "r => r.map(x => x.dataset.account)"
    )
    assert sorted(rows) == public
    assert "secret" not in v.page.content().lower()
    for name in ("secret", "nobody"):
        response = v.page.goto(f"{v.base}/performance?account={name}")
        assert response is not None and response.status == 404
        assert v.page.text_content("h1").startswith("Account not found")
        assert "Secret bot" not in v.page.content()


def test_the_comparison_sorts_by_its_columns(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/compare?account=paper_a&days=3650")

    def names() -> list[str]:  # the accounts' names (the sort key; the cell shows display names)
        return v.page.eval_on_selector_all(
            "#compare-table tbody tr", "r => r.map(x => x.dataset.account)"
        )

    with v.page.expect_navigation():
        v.page.click("#compare-table th a[data-sort='name']")
    assert names() == sorted(names())
    with v.page.expect_navigation():
        v.page.click("#compare-table th a[data-sort='name']")  # again: reversed
    assert names() == sorted(names(), reverse=True)
    with v.page.expect_navigation():
        v.page.click("#compare-table th a[data-sort='equity']")
    equities = v.page.eval_on_selector_all(
        "#compare-table tbody tr td:nth-child(2)",
        "c => c.map(x => parseFloat(x.textContent.replace(/[$,]/g, '')))",
    )
    assert equities == sorted(equities, reverse=True)
    assert "account=paper_a" in v.page.url and "days=3650" in v.page.url
    assert v.page.get_attribute("tr.selected", "data-account") == "paper_a"
    # The chart draws the best and worst few by return plus the selected account.
    assert 3 <= v.page.locator("svg.overlay polyline").count() <= 11
    assert v.errors == []


def test_screenshots_of_the_comparison_and_an_accounts_overview(
    visit: Callable[..., Visit],
) -> None:
    v = visit(1280, 900)
    v.open("/compare?days=3650")
    v.screenshot("compare")
    v.open("/?account=paper_a")
    v.screenshot("overview-paper_a")
    assert v.errors == []

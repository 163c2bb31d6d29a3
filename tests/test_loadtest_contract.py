"""The locustfile's response checks: a usable response passes; a missing field, a wrong
status or a body the page could not use is a failure with a reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from milkbot.perf import contract

TRADE = dict.fromkeys(contract.TRADE_FIELDS, "x") | {"city": "NYC", "price_dollars": "0.42"}
CITY = dict.fromkeys(contract.CITY_FIELDS, 0) | {"city": "NYC", "win_rate": None}
ACCOUNT = {"name": "paper_017", "display_name": "Paper 17", "mode": "demo"}
COMPARED = dict.fromkeys(contract.COMPARED_FIELDS, "0") | {"account": ACCOUNT}
COMPARISON = {
    "as_of": "x", "window": {}, "sort": "sharpe", "descending": True, "accounts": [COMPARED],
    "total_fees_dollars": "1.25", "total_trades": 3,
}  # fmt: skip
FEED = {
    "delay_minutes": 60,
    "account": None,
    "trades": [TRADE, TRADE | {"city": "CHI"}],
    "next_cursor": "abc",
}
EQUITY = {
    "as_of": "2026-03-10T15:00:00Z",
    "points": [dict.fromkeys(contract.EQUITY_POINT_FIELDS, 0)] * 3,
    "summary": {"days": 3},
}
HEALTH = {
    "status": "degraded",
    "components": [{"name": "trader", "status": "degraded", "age_seconds": 200.0, "message": ""}],
}


def test_contract_bodies_pass() -> None:
    assert contract.check_city_metrics({"as_of": "x", "window": {}, "cities": [CITY]}) is None
    strategy = dict.fromkeys(contract.STRATEGY_FIELDS, 0)
    assert (
        contract.check_strategy_metrics({"as_of": "x", "window": {}, "strategies": [strategy]})
        is None
    )
    assert contract.check_equity(EQUITY, max_points=3) is None
    assert contract.check_public_trades(FEED, limit=2) is None
    assert contract.check_public_trades(FEED | {"next_cursor": None}) is None
    assert contract.check_health(HEALTH) is None
    assert (
        contract.check_calibration(
            {"brier_score": 0.2, "bins": [{"mean_prob": 0.1, "observed_freq": None}]}
        )
        is None
    )
    summary = dict.fromkeys(contract.SUMMARY_KEYS, "0") | {"win_rate": None}
    assert contract.check_summary(summary) is None
    listed = {"accounts": [dict.fromkeys(contract.ACCOUNT_FIELDS, "x")]}
    assert contract.check_accounts(listed) is None
    assert contract.check_comparison(COMPARISON, sort="sharpe") is None


def _without(body: dict[str, Any], *path: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


@pytest.mark.parametrize(
    ("check", "body", "reason"),
    [
        (
            contract.check_public_trades,
            _without(FEED, "next_cursor"),
            "missing field 'next_cursor'",
        ),
        (
            contract.check_public_trades,
            _without(FEED, "trades", 1, "price_dollars"),
            "trades.trades[1]: missing field 'price_dollars'",
        ),
        (contract.check_public_trades, FEED | {"trades": "none"}, "'trades' is not a list"),
        (contract.check_public_trades, FEED | {"next_cursor": ""}, "next_cursor"),
        (contract.check_equity, _without(EQUITY, "summary"), "missing field 'summary'"),
        (contract.check_equity, EQUITY | {"summary": []}, "'summary' is not an object"),
        (
            contract.check_city_metrics,
            {"as_of": "x", "window": {}, "cities": [_without(CITY, "fees_dollars")]},
            "'fees_dollars'",
        ),
        (contract.check_health, HEALTH | {"status": "fine"}, "unknown status"),
        (contract.check_health, [HEALTH], "expected a JSON object"),
        (contract.check_summary, {"as_of": "x"}, "missing field 'account'"),
        (contract.check_accounts, {"accounts": [{"name": "x"}]}, "missing field 'display_name'"),
        (
            contract.check_comparison,
            _without(COMPARISON, "accounts", 0, "open_risk_dollars"),
            "comparison.accounts[0]: missing field 'open_risk_dollars'",
        ),
        (contract.check_comparison, _without(COMPARISON, "total_fees_dollars"), "total_fees"),
    ],
)
def test_unusable_bodies_fail_with_a_reason(check: contract.Check, body: Any, reason: str) -> None:
    problem = check(body)
    assert problem is not None and reason in problem


def test_feed_respects_limit_and_city_filter() -> None:
    problem = contract.check_public_trades(FEED, limit=1)
    assert problem is not None and "more than limit=1" in problem
    problem = contract.check_public_trades(FEED, city="NYC")
    assert problem is not None and "filtered on NYC" in problem
    assert contract.check_equity(EQUITY, max_points=2) is not None


def test_load_balancer_health_accepts_503_only_when_unhealthy() -> None:
    assert contract.check_load_balancer_health(200, {"status": "healthy"}) is None
    assert contract.check_load_balancer_health(200, {"status": "degraded"}) is None
    assert contract.check_load_balancer_health(503, {"status": "unhealthy"}) is None
    assert contract.check_load_balancer_health(503, {"status": "healthy"}) is not None
    assert contract.check_load_balancer_health(200, {"status": "unhealthy"}) is not None
    assert contract.check_load_balancer_health(500, {"error": {}}) is not None


def test_pages_must_be_complete_html() -> None:
    page = "<!doctype html><html><body>ok</body></html>\n"
    assert contract.check_page(200, "text/html; charset=utf-8", page) is None
    assert contract.check_page(500, "text/html", page) == "page: HTTP 500"
    assert "content type" in (contract.check_page(200, "application/json", page) or "")
    assert "cut short" in (contract.check_page(200, "text/html", page[:30]) or "")


def test_the_comparison_must_be_sorted_as_asked() -> None:
    problem = contract.check_comparison(COMPARISON, sort="fees_dollars")
    assert problem == "comparison: sorted by 'sharpe', asked for 'fees_dollars'"


def test_a_body_of_another_account_than_asked_for_fails() -> None:
    report = {"as_of": "x", "window": {}, "cities": [CITY], "account": ACCOUNT}
    asked = contract.of_account(contract.check_city_metrics, "paper_017")
    assert asked(report) is None
    other = contract.of_account(contract.check_city_metrics, "paper_018")
    assert other(report) == "account: asked for 'paper_018', the body describes 'paper_017'"
    # The feed names its account bare; the check of the body itself comes first.
    feed = contract.of_account(contract.check_public_trades, "paper_018")
    assert "describes 'paper_017'" in (feed(FEED | {"account": "paper_017"}) or "")
    assert "next_cursor" in (feed(_without(FEED, "next_cursor")) or "")
    # Without ?account= (the primary account) the check is the route's own.
    assert contract.of_account(contract.check_city_metrics, None) is contract.check_city_metrics

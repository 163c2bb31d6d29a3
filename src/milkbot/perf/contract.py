"""What each response must contain for the page or client that asked for it.

The locustfile marks a response as failed when the check for its route returns a problem: a
wrong status, a body that is not JSON, or a missing field of the API's minimum contract.
Each check takes the parsed body and returns ``None`` when the response is usable, else a short
reason that Locust shows in its failures table. Pure functions: no I/O, safe under gevent.

The field names come from the types that define each response (the analytics result types and
the web's documents): a row of cities, strategies, equity points, trades or components must
hold every field of its type; elsewhere a check names the fields its page reads first, and
:func:`field_names` makes sure at import that each is still a field of the type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from milkbot.analytics.results import (
    AccountComparison,
    AccountSummary,
    CityMetrics,
    CityMetricsReport,
    ComparisonReport,
    ComponentStatus,
    EquityCurve,
    EquityPoint,
    HealthReport,
    PublicTrade,
    PublicTradePage,
    StrategyMetrics,
    StrategyMetricsReport,
)
from milkbot.vocabulary import HEALTH_STATUSES
from milkbot.web.accounts import AccountList
from milkbot.web.summary import Calibration, FlaggedBin, Summary

Check = Callable[[Any], str | None]


def field_names(shape: type, *only: str) -> tuple[str, ...]:
    """The JSON keys of dataclass ``shape``: all its fields in order, or ``only`` these, each
    of which must be one of them (a field renamed in the type fails here, not in a load test)."""
    names = tuple(f.name for f in dataclasses.fields(shape))
    unknown = [name for name in only if name not in names]
    if unknown:
        raise ValueError(f"{shape.__name__} has no field {', '.join(unknown)}")
    return only or names


CITY_FIELDS = field_names(CityMetrics)
STRATEGY_FIELDS = field_names(StrategyMetrics)
EQUITY_POINT_FIELDS = field_names(EquityPoint)
TRADE_FIELDS = field_names(PublicTrade)
COMPONENT_FIELDS = field_names(ComponentStatus)
CITY_REPORT_KEYS = field_names(CityMetricsReport, "as_of", "window", "cities")
STRATEGY_REPORT_KEYS = field_names(StrategyMetricsReport, "as_of", "window", "strategies")
EQUITY_KEYS = field_names(EquityCurve, "as_of", "points", "summary")
FEED_KEYS = field_names(PublicTradePage)
HEALTH_KEYS = field_names(HealthReport, "status", "components")
SUMMARY_KEYS = field_names(
    Summary, "as_of", "account", "equity_dollars", "net_pnl_dollars", "trades", "win_rate"
)
CALIBRATION_KEYS = field_names(Calibration, "brier_score", "bins")
CALIBRATION_BIN_KEYS = field_names(FlaggedBin, "mean_prob", "observed_freq")
ACCOUNT_FIELDS = field_names(AccountSummary)
ACCOUNT_LIST_KEYS = field_names(AccountList)
COMPARISON_KEYS = field_names(
    ComparisonReport, "as_of", "window", "sort", "descending", "accounts", "total_fees_dollars",
    "total_trades",
)  # fmt: skip
COMPARED_FIELDS = field_names(AccountComparison)


def missing(body: Any, fields: Iterable[str], where: str) -> str | None:
    """``None`` if ``body`` is an object holding every field, else which one is missing."""
    if not isinstance(body, dict):
        return f"{where}: expected a JSON object, got {type(body).__name__}"
    for field in fields:
        if field not in body:
            return f"{where}: missing field {field!r}"
    return None


def _items(body: dict[str, Any], key: str, fields: Iterable[str], where: str) -> str | None:
    items = body[key]
    if not isinstance(items, list):
        return f"{where}: {key!r} is not a list"
    needed = tuple(fields)
    for i, item in enumerate(items):
        problem = missing(item, needed, f"{where}.{key}[{i}]")
        if problem:
            return problem
    return None


def _report(where: str, keys: tuple[str, ...], rows: str, fields: tuple[str, ...]) -> Check:
    """The check of a body holding ``keys``, whose list ``rows`` holds rows of ``fields``."""

    def check(body: Any) -> str | None:
        return missing(body, keys, where) or _items(body, rows, fields, where)

    return check


# GET /api/v1/metrics/cities and /api/v1/metrics/strategies: as_of, window and a list of rows.
check_city_metrics = _report("cities", CITY_REPORT_KEYS, "cities", CITY_FIELDS)
check_strategy_metrics = _report("strategies", STRATEGY_REPORT_KEYS, "strategies", STRATEGY_FIELDS)
# GET /api/v1/calibration: the bins of predicted probability vs observed frequency.
check_calibration = _report("calibration", CALIBRATION_KEYS, "bins", CALIBRATION_BIN_KEYS)
_equity_points = _report("equity", EQUITY_KEYS, "points", EQUITY_POINT_FIELDS)
_feed_trades = _report("trades", FEED_KEYS, "trades", TRADE_FIELDS)
_health_components = _report("health", HEALTH_KEYS, "components", COMPONENT_FIELDS)
# GET /api/v1/accounts: every public account.
check_accounts = _report("accounts", ACCOUNT_LIST_KEYS, "accounts", ACCOUNT_FIELDS)
_compared = _report("comparison", COMPARISON_KEYS, "accounts", COMPARED_FIELDS)


def of_account(check: Check, account: str | None) -> Check:
    """``check``, and with ``account`` (a request with ``?account=``) also that the body
    describes that account (its ``account`` field, an object with a name or a bare name):
    figures of another account are a failure, however well formed."""
    if account is None:
        return check

    def checked(body: Any) -> str | None:
        problem = check(body)
        if problem or not isinstance(body, dict) or body.get("account") is None:
            return problem
        described = body["account"]
        name = described.get("name") if isinstance(described, dict) else described
        if name != account:
            return f"account: asked for {account!r}, the body describes {name!r}"
        return None

    return checked


def check_comparison(body: Any, sort: str | None = None) -> str | None:
    """``GET /api/v1/comparison``: every account's row and the totals (fees and trades only),
    sorted by ``sort`` when one was asked for."""
    problem = _compared(body)
    if problem:
        return problem
    if sort is not None and body["sort"] != sort:
        return f"comparison: sorted by {body['sort']!r}, asked for {sort!r}"
    return None


def check_equity(body: Any, max_points: int | None = None) -> str | None:
    """``GET /api/v1/equity``: points (at most ``max_points`` when asked) and a summary."""
    problem = _equity_points(body)
    if problem:
        return problem
    if not isinstance(body["summary"], dict):
        return "equity: 'summary' is not an object"
    if max_points is not None and len(body["points"]) > max_points:
        return f"equity: {len(body['points'])} points, more than max_points={max_points}"
    return None


def check_public_trades(body: Any, limit: int | None = None, city: str | None = None) -> str | None:
    """``GET /api/v1/trades/public``: delay_minutes, trades (at most ``limit``, all of ``city``
    when filtered) and next_cursor (present; null on the last page)."""
    problem = _feed_trades(body)
    if problem:
        return problem
    trades = body["trades"]
    if limit is not None and len(trades) > limit:
        return f"trades: {len(trades)} trades, more than limit={limit}"
    if city is not None and any(t["city"] != city for t in trades):
        return f"trades: a trade of another city in the feed filtered on {city}"
    cursor = body["next_cursor"]
    if cursor is not None and not (isinstance(cursor, str) and cursor):
        return "trades: next_cursor is neither null nor a non-empty string"
    return None


def check_health(body: Any) -> str | None:
    """``GET /api/v1/health``: an overall status and the components with their ages."""
    problem = _health_components(body)
    if problem:
        return problem
    if body["status"] not in HEALTH_STATUSES:
        return f"health: unknown status {body['status']!r}"
    return None


def check_load_balancer_health(status_code: int, body: Any) -> str | None:
    """``GET /health``: 200 with healthy/degraded, or 503 with unhealthy (both are answers a
    load balancer can use; anything else is a failure)."""
    problem = missing(body, ("status",), "/health")
    if problem:
        return problem
    expected = 503 if body["status"] == "unhealthy" else 200
    if body["status"] not in HEALTH_STATUSES:
        return f"/health: unknown status {body['status']!r}"
    if status_code != expected:
        return f"/health: HTTP {status_code} with status {body['status']!r}"
    return None


def check_summary(body: Any) -> str | None:
    """``GET /api/v1/summary``: the overview's hero figures, sparkline and latest trades."""
    return missing(body, SUMMARY_KEYS, "summary")


def check_page(status_code: int, content_type: str, text: str) -> str | None:
    """A dashboard page: HTTP 200, HTML, and a complete document (the closing tag is there)."""
    if status_code != 200:
        return f"page: HTTP {status_code}"
    if "text/html" not in content_type:
        return f"page: content type {content_type!r}, expected text/html"
    if "</html>" not in text[-512:].lower():
        return "page: the document is cut short (no closing </html>)"
    return None

"""Analytics: the guide's five queries (city metrics, equity curve, public trades, health,
strategy metrics) plus calibration, per account, and the accounts and their comparison, read
from the trigger-kept pre-aggregates.

``read_*`` functions take a psycopg ``AsyncConnection`` and return typed results;
:class:`Analytics` puts them behind a pool, a TTL single-flight cache and timing logs. Nothing
here knows about HTTP.

The names below are imported on first use (PEP 562), so that importing the result types
(:mod:`milkbot.analytics.results`) or the window does not load psycopg and the pool: the load
test's locustfile uses them in a gevent-patched process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Each exported name and the module (of this package) that defines it.
_HOMES = {
    "AccountComparison": "results",
    "AccountRef": "results",
    "AccountSummary": "results",
    "Analytics": "service",
    "AnalyticsInputError": "window",
    "AnalyticsPool": "pool",
    "CacheStats": "cache",
    "CalibrationBin": "results",
    "CityMetrics": "results",
    "CityMetricsReport": "results",
    "ComparisonReport": "results",
    "ComponentStatus": "results",
    "DatabaseBusyError": "pool",
    "DatabaseUnavailableError": "pool",
    "DayPnl": "results",
    "EquityCurve": "results",
    "EquityPoint": "results",
    "EquitySummary": "results",
    "HealthReport": "results",
    "HealthThresholds": "health",
    "PoolExhaustedError": "pool",
    "PublicTrade": "results",
    "PublicTradePage": "results",
    "QueryTimeoutError": "pool",
    "StrategyMetrics": "results",
    "StrategyMetricsReport": "results",
    "TTLCache": "cache",
    "Thresholds": "health",
    "UnknownAccountError": "window",
    "Window": "window",
    "read_accounts": "queries",
    "read_calibration": "queries",
    "read_city_metrics": "queries",
    "read_comparison": "queries",
    "read_equity_curve": "queries",
    "read_health": "health",
    "read_public_trades": "feed",
    "read_strategy_metrics": "queries",
}

__all__ = sorted(_HOMES)

if TYPE_CHECKING:
    # What the type checker sees (the names above, resolved statically).
    from milkbot.analytics.cache import CacheStats as CacheStats
    from milkbot.analytics.cache import TTLCache as TTLCache
    from milkbot.analytics.feed import read_public_trades as read_public_trades
    from milkbot.analytics.health import HealthThresholds as HealthThresholds
    from milkbot.analytics.health import Thresholds as Thresholds
    from milkbot.analytics.health import read_health as read_health
    from milkbot.analytics.pool import AnalyticsPool as AnalyticsPool
    from milkbot.analytics.pool import DatabaseBusyError as DatabaseBusyError
    from milkbot.analytics.pool import DatabaseUnavailableError as DatabaseUnavailableError
    from milkbot.analytics.pool import PoolExhaustedError as PoolExhaustedError
    from milkbot.analytics.pool import QueryTimeoutError as QueryTimeoutError
    from milkbot.analytics.queries import read_accounts as read_accounts
    from milkbot.analytics.queries import read_calibration as read_calibration
    from milkbot.analytics.queries import read_city_metrics as read_city_metrics
    from milkbot.analytics.queries import read_comparison as read_comparison
    from milkbot.analytics.queries import read_equity_curve as read_equity_curve
    from milkbot.analytics.queries import read_strategy_metrics as read_strategy_metrics
    from milkbot.analytics.results import AccountComparison as AccountComparison
    from milkbot.analytics.results import AccountRef as AccountRef
    from milkbot.analytics.results import AccountSummary as AccountSummary
    from milkbot.analytics.results import CalibrationBin as CalibrationBin
    from milkbot.analytics.results import CityMetrics as CityMetrics
    from milkbot.analytics.results import CityMetricsReport as CityMetricsReport
    from milkbot.analytics.results import ComparisonReport as ComparisonReport
    from milkbot.analytics.results import ComponentStatus as ComponentStatus
    from milkbot.analytics.results import DayPnl as DayPnl
    from milkbot.analytics.results import EquityCurve as EquityCurve
    from milkbot.analytics.results import EquityPoint as EquityPoint
    from milkbot.analytics.results import EquitySummary as EquitySummary
    from milkbot.analytics.results import HealthReport as HealthReport
    from milkbot.analytics.results import PublicTrade as PublicTrade
    from milkbot.analytics.results import PublicTradePage as PublicTradePage
    from milkbot.analytics.results import StrategyMetrics as StrategyMetrics
    from milkbot.analytics.results import StrategyMetricsReport as StrategyMetricsReport
    from milkbot.analytics.service import Analytics as Analytics
    from milkbot.analytics.window import AnalyticsInputError as AnalyticsInputError
    from milkbot.analytics.window import UnknownAccountError as UnknownAccountError
    from milkbot.analytics.window import Window as Window
else:

    def __getattr__(name: str) -> object:
        """Import ``name`` from its home module on first use, then keep it here."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])

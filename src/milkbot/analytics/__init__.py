"""Analytics: the guide's five queries (city metrics, equity curve, public trades, health,
strategy metrics) plus calibration, read from the trigger-kept pre-aggregates.

``read_*`` functions take a psycopg ``AsyncConnection`` and return typed results;
:class:`Analytics` puts them behind a pool, a TTL single-flight cache and timing logs. Nothing
here knows about HTTP.
"""

from milkbot.analytics.cache import CacheStats, TTLCache
from milkbot.analytics.feed import read_public_trades, sync_disclosure_delay
from milkbot.analytics.health import HealthThresholds, Thresholds, read_health
from milkbot.analytics.pool import (
    AnalyticsPool,
    DatabaseBusyError,
    DatabaseUnavailableError,
    PoolExhaustedError,
    QueryTimeoutError,
)
from milkbot.analytics.queries import (
    read_calibration,
    read_city_metrics,
    read_equity_curve,
    read_strategy_metrics,
)
from milkbot.analytics.results import (
    CalibrationBin,
    CityMetrics,
    CityMetricsReport,
    ComponentStatus,
    DayPnl,
    EquityCurve,
    EquityPoint,
    EquitySummary,
    HealthReport,
    PublicTrade,
    PublicTradePage,
    StrategyMetrics,
    StrategyMetricsReport,
)
from milkbot.analytics.service import Analytics
from milkbot.analytics.window import AnalyticsInputError, Window

__all__ = [
    "Analytics",
    "AnalyticsInputError",
    "AnalyticsPool",
    "CacheStats",
    "CalibrationBin",
    "CityMetrics",
    "CityMetricsReport",
    "ComponentStatus",
    "DatabaseBusyError",
    "DatabaseUnavailableError",
    "DayPnl",
    "EquityCurve",
    "EquityPoint",
    "EquitySummary",
    "HealthReport",
    "HealthThresholds",
    "PoolExhaustedError",
    "PublicTrade",
    "PublicTradePage",
    "QueryTimeoutError",
    "StrategyMetrics",
    "StrategyMetricsReport",
    "TTLCache",
    "Thresholds",
    "Window",
    "read_calibration",
    "read_city_metrics",
    "read_equity_curve",
    "read_health",
    "read_public_trades",
    "read_strategy_metrics",
    "sync_disclosure_delay",
]

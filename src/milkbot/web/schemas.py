"""The JSON the API returns, as pydantic models: they document the contract in OpenAPI.

Each model is derived from the dataclass that defines its shape (the analytics result types,
and the documents of :mod:`milkbot.web.summary`): the same fields in the same order, with the
same types and descriptions, nested result types replaced by their models. A field is added or
changed in the dataclass alone; the models here only name each shape in OpenAPI (``...Out``)
and describe it for API clients.

Routes return pre-encoded bytes (the results' ``to_dict()`` through orjson), so these models
never run on the hot path; a test validates real responses against them with
``extra="forbid"``, so the documentation cannot drift from what is served. Money is exact
dollars, a decimal string (``*_dollars``: "12.34", "0.0012"); contract counts are decimal
strings with two decimals (``contracts``); ratios 0..1 unless the name ends in ``_pct``, dates
ISO ``YYYY-MM-DD`` settlement days, times ISO 8601 UTC.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

from milkbot.analytics.results import (
    AccountComparison,
    AccountRef,
    AccountSummary,
    CityMetrics,
    CityMetricsReport,
    ComparisonReport,
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
from milkbot.analytics.window import Window
from milkbot.vocabulary import HealthStatus
from milkbot.web.accounts import AccountList
from milkbot.web.summary import Calibration, FlaggedBin, SparkPoint, Summary


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The model derived from each dataclass so far: a later shape's nested fields refer to them.
_MODELS: dict[type, type[BaseModel]] = {}


def derive(
    shape: type,
    doc: str | None = None,
    *,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> type[BaseModel]:
    """The response model of dataclass ``shape``: every field in order, with its type (a
    dataclass already derived replaced by its model) and its ``Field`` description, then the
    ``extra`` fields (name -> type) that ``shape.to_dict()`` adds. Named ``name`` (default:
    the shape's name + ``Out``), described by ``doc`` (default: the shape's docstring)."""
    hints = get_type_hints(shape, include_extras=True)
    fields: dict[str, Any] = {
        f.name: (_swap(hints[f.name]), ...) for f in dataclasses.fields(shape)
    }
    fields.update({key: (kind, ...) for key, kind in (extra or {}).items()})
    model = create_model(
        name or f"{shape.__name__}Out",
        __base__=_Out,
        __doc__=doc if doc is not None else shape.__doc__,
        __module__=__name__,
        **fields,
    )
    _MODELS[shape] = model
    return model


def _swap(hint: Any) -> Any:
    """``hint`` with every derived dataclass in it replaced by its model (``list[X]``,
    ``X | None`` and ``Annotated[X, ...]`` included); unchanged when it holds none."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint not in _MODELS:
            raise TypeError(f"derive {hint.__name__} before the shapes that hold it")
        return _MODELS[hint]
    origin, args = get_origin(hint), get_args(hint)
    if not args or origin is Literal:
        return hint
    if origin is Annotated:
        return Annotated[(_swap(args[0]), *args[1:])]
    swapped = tuple(_swap(a) for a in args)
    if swapped == args:
        return hint
    if origin in (types.UnionType, Union):
        return functools.reduce(operator.or_, swapped)
    return types.GenericAlias(origin, swapped)


WindowOut = derive(
    Window,
    "Settlement days ``start``..``end`` (both included).",
    extra={"days": int},  # Window.days is a property
)
AccountRefOut = derive(AccountRef)
AccountSummaryOut = derive(AccountSummary)
AccountListOut = derive(AccountList)
CityMetricsOut = derive(CityMetrics, "One city over the window (see the analytics' CityMetrics).")
CityMetricsReportOut = derive(CityMetricsReport, "``GET /api/v1/metrics/cities``.")
StrategyMetricsOut = derive(
    StrategyMetrics, "One strategy over the window (see the analytics' StrategyMetrics)."
)
StrategyMetricsReportOut = derive(StrategyMetricsReport, "``GET /api/v1/metrics/strategies``.")
EquityPointOut = derive(
    EquityPoint,
    "Equity at the close of one settlement day and its drawdown from the high-water mark.",
)
DayPnlOut = derive(DayPnl, "One settlement day's net P&L.")
EquitySummaryOut = derive(
    EquitySummary, "Summary over every day of the window (never thinned by ``max_points``)."
)
EquityCurveOut = derive(EquityCurve, "``GET /api/v1/equity``.")
PublicTradeOut = derive(
    PublicTrade,
    "A trade as the public sees it: time rounded down to the minute, no ids or strategy.",
)
PublicTradePageOut = derive(
    PublicTradePage,
    "``GET /api/v1/trades/public``: newest first; pass ``next_cursor`` for the next page.",
)
ComponentStatusOut = derive(
    ComponentStatus, "One component: status, age of its latest sign of life in seconds, and why."
)
HealthReportOut = derive(
    HealthReport, "``GET /api/v1/health``: the overall status is the worst component's."
)
CalibrationBinOut = derive(FlaggedBin, name="CalibrationBinOut")
CalibrationOut = derive(Calibration)
SparkPointOut = derive(SparkPoint)
SummaryOut = derive(Summary)
AccountComparisonOut = derive(AccountComparison)
ComparisonReportOut = derive(ComparisonReport)


class LoadBalancerHealthOut(_Out):
    """``GET /health``: 200 when healthy or degraded, 503 when unhealthy."""

    status: HealthStatus
    components: dict[str, HealthStatus]


class PingOut(_Out):
    """``GET /api/v1/ping``: always ``{"status": "ok"}`` while the web process runs."""

    status: Literal["ok"]

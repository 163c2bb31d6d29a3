"""The JSON API under /api/v1, and /health for load balancers.

Routes are thin: declare and validate parameters (FastAPI: 422 on a bad type or range), call
the analytics service (400 on a parameter it refuses), return its cached result as cached JSON
bytes. The response models only document the contract (see :mod:`milkbot.web.schemas`).

Every analytics route takes ``account`` (default: the primary account; an unknown or private
name is a 404 ``unknown_account``). Money is exact dollars as decimal strings (``*_dollars``),
contract counts decimal strings with two decimals (``contracts``).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from milkbot.analytics import AnalyticsInputError, Window
from milkbot.analytics.feed import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from milkbot.analytics.health import public_health
from milkbot.analytics.queries import MAX_POINTS_LIMIT, MODES
from milkbot.analytics.window import DEFAULT_DAYS, MAX_DATE, MAX_DAYS, MIN_DATE
from milkbot.reference import load_reference
from milkbot.web import schemas
from milkbot.web.accounts import Account, AccountList, check_account, check_order
from milkbot.web.auth import Viewer
from milkbot.web.deps import State, WebState
from milkbot.web.responses import encode_json, json_response
from milkbot.web.summary import build_calibration, build_summary, read_summary_parts

router = APIRouter(prefix="/api/v1", tags=["api"])
health_router = APIRouter(tags=["health"])

NO_STORE = "no-store"
PING_BODY = b'{"status":"ok"}'

Days = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_DAYS,
        description=f"Last N settlement days ending today (UTC); default {DEFAULT_DAYS}.",
    ),
]
# Out-of-range dates are refused by the analytics (400 naming the parameter), where the bounds
# live; the descriptions only document them.
FromDate = Annotated[
    date | None,
    Query(
        description=f"First settlement day (instead of days), YYYY-MM-DD, {MIN_DATE} to {MAX_DATE}."
    ),
]
ToDate = Annotated[
    date | None,
    Query(description=f"Last settlement day, YYYY-MM-DD, {MIN_DATE} to {MAX_DATE}; default today."),
]
# Enumerated filters take any string and are checked against their allowed values in code,
# so an unknown value is one 400 naming the parameter and listing what it may be (a declared
# pattern or Literal would answer a 422 that lists nothing). An empty value means "no filter",
# as an HTML form's "All" option sends it. The lengths only bound hostile input.
Strategy = Annotated[
    str | None,
    Query(
        max_length=63,
        description="Strategy name, e.g. daily_high_temp (see /api/v1/metrics/strategies); "
        "an unknown name is refused with the list of known ones.",
    ),
]
City = Annotated[
    str | None,
    Query(
        max_length=16,
        description="City code, e.g. NYC (any case); an unknown code is refused with the list "
        "of known ones.",
    ),
]
SIDES = ("yes", "no")
Side = Annotated[
    str | None, Query(max_length=16, description="Only this side: yes or no (any case).")
]


Mode = Annotated[
    str | None,
    Query(max_length=16, description="Only accounts of this mode: live, demo, shadow or replay."),
]
Sort = Annotated[
    str | None,
    Query(
        max_length=32,
        description="Sort the accounts by: name, equity, net_pnl, return_on_bankroll, "
        "max_drawdown_pct, sharpe, sortino, win_rate, fees, trades or open_risk; default "
        "return_on_bankroll. Undefined figures sort last either way.",
    ),
]
Order = Annotated[
    str | None,
    Query(
        max_length=8,
        description="asc or desc; default asc for name, desc for a figure.",
    ),
]


def _check_choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise AnalyticsInputError(field, f"unknown {field} {value!r}; known: {', '.join(allowed)}")
    return value


def check_city(city: str | None) -> str | None:
    """The city code ``city`` names (upper-cased), ``None`` for no filter (absent or empty);
    a code not in the reference's cities raises AnalyticsInputError('city') listing them."""
    if not city:
        return None
    known = tuple(load_reference().city_codes)
    return _check_choice("city", city.strip().upper(), known)


def check_side(side: str | None) -> str | None:
    """``"yes"`` or ``"no"`` (any case), ``None`` for no filter (absent or empty); anything
    else raises AnalyticsInputError('side') listing the two."""
    return _check_choice("side", side.strip().lower(), SIDES) if side else None


def check_mode(mode: str | None) -> str | None:
    """An account mode (any case), ``None`` for every mode (absent or empty); anything else
    raises AnalyticsInputError('mode') listing the four."""
    return _check_choice("mode", mode.strip().lower(), MODES) if mode else None


def check_strategy(strategy: str | None) -> str | None:
    """``strategy``, or ``None`` for no filter (absent or empty). Strategies are data: the
    analytics refuse an unknown name (AnalyticsInputError('strategy') listing the known ones)."""
    return strategy or None


def _cached_json(state: WebState, key: str, result: Any) -> Response:
    """One analytics result as a cacheable JSON response (encoded once per result object)."""
    body = state.encoded.encode(key, (result,), result.to_dict)
    return json_response(body, cache=state.cache_header)


@router.get(
    "/metrics/cities",
    response_model=schemas.CityMetricsReportOut,
    summary="P&L, fees, wins and losses per city over a window",
)
async def city_metrics(
    state: State,
    days: Days = None,
    from_date: FromDate = None,
    to_date: ToDate = None,
    strategy: Strategy = None,
    account: Account = None,
) -> Response:
    report = await state.analytics.city_metrics(
        days=days,
        from_date=from_date,
        to_date=to_date,
        strategy=check_strategy(strategy),
        account=check_account(account),
    )
    return _cached_json(state, "cities", report)


@router.get(
    "/metrics/strategies",
    response_model=schemas.StrategyMetricsReportOut,
    summary="Signals, trades, P&L, edge, Sharpe and Brier score per strategy",
)
async def strategy_metrics(
    state: State,
    days: Days = None,
    from_date: FromDate = None,
    to_date: ToDate = None,
    account: Account = None,
) -> Response:
    report = await state.analytics.strategy_metrics(
        days=days, from_date=from_date, to_date=to_date, account=check_account(account)
    )
    return _cached_json(state, "strategies", report)


@router.get(
    "/equity",
    response_model=schemas.EquityCurveOut,
    summary="Equity per settlement day with drawdown, and its summary",
)
async def equity(
    state: State,
    days: Days = None,
    from_date: FromDate = None,
    to_date: ToDate = None,
    max_points: Annotated[
        int | None,
        Query(
            ge=2,
            le=MAX_POINTS_LIMIT,
            description="Thin the points to at most this many (the summary uses every day).",
        ),
    ] = None,
    account: Account = None,
) -> Response:
    curve = await state.analytics.equity_curve(
        days=days,
        from_date=from_date,
        to_date=to_date,
        max_points=max_points,
        account=check_account(account),
    )
    return _cached_json(state, "equity", curve)


@router.get(
    "/trades/public",
    response_model=schemas.PublicTradePageOut,
    summary="The public trade feed, delayed, newest first, paged by cursor",
    description="Every public account's trades, or with ``account`` one account's.",
)
async def public_trades(
    state: State,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Trades per page.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(max_length=64, description="next_cursor from the previous page, as received."),
    ] = None,
    city: City = None,
    side: Side = None,
    account: Account = None,
) -> Response:
    page = await state.analytics.public_trades(
        limit=limit,
        cursor=cursor,
        city=check_city(city),
        side=check_side(side),
        account=check_account(account),
    )
    return _cached_json(state, "public_trades", page)


@router.get(
    "/calibration",
    response_model=schemas.CalibrationOut,
    summary="Model calibration: predicted probability against observed frequency",
)
async def calibration(
    state: State,
    days: Days = None,
    from_date: FromDate = None,
    to_date: ToDate = None,
    strategy: Strategy = None,
    account: Account = None,
) -> Response:
    window = Window.resolve(days, from_date, to_date)
    strategy = check_strategy(strategy)
    bins, report = await asyncio.gather(
        state.analytics.calibration(
            from_date=window.start,
            to_date=window.end,
            strategy=strategy,
            account=check_account(account),
        ),
        state.analytics.strategy_metrics(
            from_date=window.start, to_date=window.end, account=check_account(account)
        ),
    )

    body = state.encoded.encode(
        "calibration",
        (bins, report),
        lambda: build_calibration(window, strategy, bins, report).to_dict(),
    )
    return json_response(body, cache=state.cache_header)


@router.get(
    "/health",
    response_model=schemas.HealthReportOut,
    summary="Every component's status and the age of its latest sign of life",
)
async def health(state: State, operator: Viewer, account: Account = None) -> Response:
    report = await state.analytics.health(account=check_account(account))
    if operator is None:  # the public's: statuses only (see public_health)
        return json_response(encode_json(public_health(report).to_dict()), cache=NO_STORE)
    body = state.encoded.encode("health", (report,), report.to_dict)
    return json_response(body, cache=NO_STORE)


@router.get(
    "/summary",
    response_model=schemas.SummaryOut,
    summary="What the overview page shows, in one call",
)
async def summary(
    state: State, operator: Viewer, days: Days = None, account: Account = None
) -> Response:
    parts = await read_summary_parts(
        state.analytics, days or DEFAULT_DAYS, check_account(account), operator=bool(operator)
    )
    name = "summary" if operator is None else "summary_operator"
    body = state.encoded.encode(name, parts.sources(), lambda: build_summary(parts).to_dict())
    return json_response(body, cache=state.cache_header)


@router.get(
    "/accounts",
    response_model=schemas.AccountListOut,
    summary="The public accounts: name, mode, environment, bankroll and strategies",
)
async def accounts(state: State) -> Response:
    listed = await state.analytics.accounts()
    body = state.encoded.encode(
        "accounts", tuple(listed), lambda: AccountList(list(listed)).to_dict()
    )
    return json_response(body, cache=state.cache_header)


@router.get(
    "/comparison",
    response_model=schemas.ComparisonReportOut,
    summary="Every public account side by side over a window, sortable",
    description="Equity, return on bankroll, drawdown, Sharpe, Sortino, win rate, fees, trades "
    "and open risk per account, with its equity curve divided by its starting bankroll. "
    "Totals only of what adds up across accounts: fees and trades.",
)
async def comparison(
    state: State,
    days: Days = None,
    from_date: FromDate = None,
    to_date: ToDate = None,
    mode: Mode = None,
    sort: Sort = None,
    order: Order = None,
) -> Response:
    window = Window.resolve(days, from_date, to_date)
    field, descending = check_order(sort, order)
    report = await state.analytics.comparison(
        window, mode=check_mode(mode), sort=field, descending=descending
    )
    return _cached_json(state, "comparison", report)


@router.get(
    "/ping",
    response_model=schemas.PingOut,
    summary="The web process alone answers (no database): the load test's bare endpoint",
)
async def ping() -> Response:
    return json_response(PING_BODY, cache=NO_STORE)


@health_router.get(
    "/health",
    response_model=schemas.LoadBalancerHealthOut,
    summary="For load balancers: 200 when healthy or degraded, 503 when unhealthy",
    responses={503: {"description": "Unhealthy", "model": schemas.LoadBalancerHealthOut}},
)
async def load_balancer_health(state: State) -> Response:
    # Public: statuses only, and not the pre-aggregates' freshness (see public_health), which
    # is no reason to take a web server out of rotation either.
    report = public_health(await state.analytics.health())

    def build() -> dict[str, Any]:
        return {
            "status": report.status,
            "components": {c.name: c.status for c in report.components},
        }

    body = encode_json(build())
    return json_response(
        body, cache=NO_STORE, status_code=503 if report.status == "unhealthy" else 200
    )

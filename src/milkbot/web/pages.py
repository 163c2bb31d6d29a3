"""The dashboard: server-rendered pages with their numbers in the first response.

Each page reads the same (cached) analytics results as the API, renders them into HTML, and
embeds the same JSON the API would return in a ``<script type="application/json">`` block, so
its charts draw without another round trip; the page's small script then refreshes it from
/api/v1 every ``refresh_seconds`` without reloading.

Every page is of one account (``?account=NAME``, default: the primary account), named with its
mode beside the figures; the switcher in the top bar opens the same page for another, and every
internal link carries the account (:class:`~milkbot.web.accounts.Links`). /compare sets every
public account side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from milkbot.analytics import Window
from milkbot.analytics.health import public_health
from milkbot.analytics.queries import MODES
from milkbot.analytics.results import AccountSummary
from milkbot.reference import load_reference
from milkbot.web.accounts import Account, Links, check_account, find_account, mode_badge
from milkbot.web.api import (
    SIDES,
    City,
    Days,
    Mode,
    Order,
    Side,
    Sort,
    Strategy,
    check_city,
    check_mode,
    check_side,
    check_strategy,
)
from milkbot.web.auth import signed_in
from milkbot.web.compare import COLUMNS, compare_view
from milkbot.web.dashboard import COMPARE_DAYS, EQUITY_MAX_POINTS, FEED_PAGE_SIZE, NAV, RANGES
from milkbot.web.deps import State, WebState
from milkbot.web.format import (
    breakable,
    contracts,
    money,
    number,
    percent,
    time_cell,
    tone,
    utc_minute,
)
from milkbot.web.responses import script_json
from milkbot.web.summary import build_calibration, build_summary, read_summary_parts
from milkbot.words import plural

WEB_DIR = Path(str(resources.files("milkbot.web")))
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

PAGE_PATHS = frozenset(href for _, href, _ in NAV)
PAGE_LABELS = {href: label for _, href, label in NAV}
# Titles of the dashboard's error page, by error code.
ERROR_TITLES = {
    "bad_request": "Bad request",
    "invalid_parameter": "Invalid parameter",
    "not_found": "Page not found",
    "unknown_account": "Account not found",
    "method_not_allowed": "Method not allowed",
    "database_unavailable": "Database unavailable",
    "database_busy": "Database busy",
    "query_timeout": "Query too slow",
    "pool_exhausted": "Server busy",
}

# Every page knows whether an operator is signed in (the top bar says who, or offers to sign in).
router = APIRouter(include_in_schema=False, dependencies=[Depends(signed_in)])


def static_version(directory: Path = STATIC_DIR) -> str:
    """Digest of every static file: part of their URLs, so browsers may cache them forever."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class VersionedStaticFiles(StaticFiles):
    """Static files; a versioned URL (``?v=...``) is cacheable for a year, others for a minute."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        scope: Scope = args[2] if len(args) > 2 else kwargs["scope"]
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "public, max-age=60"
        )
        return response


def make_templates(version: str) -> Jinja2Templates:
    """The Jinja2 environment with the dashboard's filters and globals."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters.update(
        money=money,
        percent=percent,
        number=number,
        tone=tone,
        utc=utc_minute,
        breakable=breakable,
        time_cell=time_cell,
        plural=plural,
        contracts=contracts,
        mode_badge=mode_badge,
    )
    env.globals.update(
        nav=NAV,
        static=lambda path: f"/static/{path}?v={version}",
        city_names={c.code: c.name for c in load_reference().cities},
    )
    return templates


# The switcher's groups, in this order.
MODE_ORDER = ("live", "demo", "shadow", "replay")


async def page_account(
    request: Request, state: WebState, name: str | None
) -> tuple[AccountSummary, dict[str, Any]]:
    """The account a page shows (``name``, default: the primary account) and the context every
    page's template gets for it: the account, the switcher's accounts by mode, and the links.
    An unknown or private name raises UnknownAccountError (a 404 page)."""
    accounts = await state.analytics.accounts()
    chosen = find_account(accounts, check_account(name) or state.settings.primary_account)
    groups = [
        (mode, [a for a in accounts if a.mode == mode])
        for mode in (*MODE_ORDER, *sorted({a.mode for a in accounts} - set(MODE_ORDER)))
    ]
    links = Links(request.url.path, chosen.name, dict(request.query_params))
    context = {
        "account": chosen,
        "accounts": accounts,
        "account_groups": [g for g in groups if g[1]],
        "links": links,
    }
    return chosen, context


def _render(
    request: Request, state: WebState, page: str, title: str, data: Any, **context: Any
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(
        request,
        f"{page}.html",
        {
            "page": page,
            "title": title,
            "refresh_seconds": state.settings.refresh_seconds,
            "data_json": script_json(data),
            "rendered_at": datetime.now(UTC),
            **context,
        },
    )
    response.headers["Cache-Control"] = state.cache_header
    return response


def is_page(request: Request) -> bool:
    """Whether ``request`` is for a dashboard page (answered in HTML, errors included)."""
    return request.url.path in PAGE_PATHS


def wants_html(request: Request) -> bool:
    """Whether ``request`` looks like a browser navigating (GET or HEAD, ``text/html`` in
    Accept) to a path outside the API and the static files: a mistyped page address."""
    path = request.url.path
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and not path.startswith(("/api/", "/static/"))
    )


def error_page(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    *,
    retry_after: int | None = None,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The dashboard's error page: the message in HTML with a way on (the page with its
    defaults, or the overview), the error shape's JSON in its data block, never cached. With
    ``retry_after`` (seconds; the 503s) it reloads itself then and says so."""
    templates: Jinja2Templates = request.app.state.templates
    title = ERROR_TITLES.get(code, "Error")
    body = {"error": {"code": code, "message": message, "field": field}}
    path = request.url.path
    back = path if path in PAGE_PATHS else "/"
    response = templates.TemplateResponse(
        request,
        "error.html",
        {
            "page": "error",
            "title": title,
            "refresh_seconds": 0,
            "data_json": script_json(body),
            "rendered_at": datetime.now(UTC),
            "status_code": status_code,
            "code": code,
            "message": message,
            "retry_after": retry_after,
            "back": back,
            "back_label": PAGE_LABELS[back],
            "same_page": back == path and status_code < 500,
        },
        status_code=status_code,
        headers=dict(headers or {}),
    )
    response.headers["Cache-Control"] = "no-store"
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/", response_class=HTMLResponse)
async def overview(
    request: Request, state: State, days: Days = 30, account: Account = None
) -> HTMLResponse:
    chosen, ctx = await page_account(request, state, account)
    operator = await signed_in(request)
    parts = await read_summary_parts(
        state.analytics, days or 30, chosen.name, operator=operator is not None
    )
    summary = build_summary(parts).to_dict()
    return _render(request, state, "overview", "Overview", summary, s=summary, **ctx)


@router.get("/cities", response_class=HTMLResponse)
async def cities(
    request: Request, state: State, days: Days = 30, account: Account = None
) -> HTMLResponse:
    chosen, ctx = await page_account(request, state, account)
    report = await state.analytics.city_metrics(days=days, account=chosen.name)
    data = report.to_dict()
    return _render(
        request, state, "cities", "Cities", data, r=data, days=days, ranges=RANGES, **ctx
    )


@router.get("/performance", response_class=HTMLResponse)
async def performance(
    request: Request, state: State, days: Days = 365, account: Account = None
) -> HTMLResponse:
    chosen, ctx = await page_account(request, state, account)
    curve = await state.analytics.equity_curve(
        days=days, max_points=EQUITY_MAX_POINTS, account=chosen.name
    )
    data = curve.to_dict()
    return _render(
        request, state, "performance", "Performance", data, c=data, days=days, ranges=RANGES,
        **ctx,
    )  # fmt: skip


@router.get("/strategies", response_class=HTMLResponse)
async def strategies(
    request: Request,
    state: State,
    days: Days = 365,
    strategy: Strategy = None,
    account: Account = None,
) -> HTMLResponse:
    """Metrics per strategy and the calibration chart, of every signal or of ``strategy``'s."""
    picked, ctx = await page_account(request, state, account)
    window = Window.resolve(days)
    chosen = check_strategy(strategy)
    report, bins = await asyncio.gather(
        state.analytics.strategy_metrics(
            from_date=window.start, to_date=window.end, account=picked.name
        ),
        state.analytics.calibration(
            from_date=window.start, to_date=window.end, strategy=chosen, account=picked.name
        ),
    )
    data = {
        "metrics": report.to_dict(),
        "calibration": build_calibration(window, chosen, bins, report).to_dict(),
    }
    return _render(
        request, state, "strategies", "Strategies", data, m=data["metrics"],
        cal=data["calibration"], days=days, ranges=RANGES, **ctx,
    )  # fmt: skip


@router.get("/trades", response_class=HTMLResponse)
async def trades(
    request: Request,
    state: State,
    city: City = None,
    side: Side = None,
    account: Account = None,
) -> HTMLResponse:
    """The account's public feed's first page, of one city and/or side when asked (the page's
    filters)."""
    chosen, ctx = await page_account(request, state, account)
    code, chosen_side = check_city(city), check_side(side)
    page = await state.analytics.public_trades(
        limit=FEED_PAGE_SIZE, city=code, side=chosen_side, account=chosen.name
    )
    data = page.to_dict()
    return _render(
        request, state, "trades", "Trades", data, feed=data, page_size=FEED_PAGE_SIZE,
        cities=load_reference().cities, city=code, side=chosen_side, sides=SIDES, **ctx,
    )  # fmt: skip


@router.get("/status", response_class=HTMLResponse)
async def status(request: Request, state: State, account: Account = None) -> HTMLResponse:
    chosen, ctx = await page_account(request, state, account)
    report = await state.analytics.health(account=chosen.name)
    if await signed_in(request) is None:
        report = public_health(report)
    data = report.to_dict()
    return _render(request, state, "status", "Health", data, h=data, **ctx)


@router.get("/compare", response_class=HTMLResponse)
async def compare(
    request: Request,
    state: State,
    days: Days = COMPARE_DAYS,
    mode: Mode = None,
    sort: Sort = None,
    order: Order = None,
    account: Account = None,
) -> HTMLResponse:
    """Every public account side by side (of one mode when asked), sorted by a column, with
    their equity curves overlaid; ``account`` is highlighted and always drawn."""
    chosen, ctx = await page_account(request, state, account)
    window = Window.resolve(days)
    view = await compare_view(state.analytics, window, check_mode(mode), sort, order, chosen)
    ctx["account"] = None  # every account's figures: no one account's name above them
    # The page's data block: the table's figures; the curves are drawn already (hundreds of
    # accounts' would weigh megabytes), and /api/v1/comparison serves them.
    report = view.report
    data = replace(
        report, curve_days=[], accounts=[replace(r, curve=[]) for r in report.accounts]
    ).to_dict()
    return _render(
        request, state, "compare", "Compare accounts", data, v=view, r=view.report, days=days,
        ranges=RANGES, modes=MODES, mode=check_mode(mode), selected=chosen, columns=COLUMNS,
        refresh_seconds=0,  # drawn by the server: a reload refreshes it
        **ctx,
    )  # fmt: skip

"""One error shape for every JSON error the app returns, and the handlers that produce it.

    {"error": {"code": "invalid_parameter", "message": "days: ...", "field": "days"}}

``code`` is a stable machine-readable word, ``message`` says what to fix, ``field`` names the
parameter to fix (or is null). Status codes: 400 for a parameter the analytics refused (bad
cursor, ``days`` together with ``from_date``) or a filter value that is not one of the known
ones (city, side, strategy, mode, sort: the message lists them), 422 for one that fails its
declared type or range, 404 ``unknown_account`` for an account that is unknown or private (both
alike, so a private account's existence does not leak), 404 / 405 for unknown routes and methods, 503 (with Retry-After) when
the database is the problem, 500 for anything else - with a generic message: the traceback goes
to the log, never to the client. The 503 codes:

- ``database_unavailable``: the database refused or lost the connection (stopped, crashed,
  restarting); answered at once, not after a timeout;
- ``database_busy``: a lock not granted within MILKBOT_LOCK_TIMEOUT_MS (maintenance), a deadlock
  or a serialization failure;
- ``query_timeout``: a query ran past MILKBOT_STATEMENT_TIMEOUT_MS;
- ``pool_exhausted``: the database answers but every pooled connection stayed busy for
  MILKBOT_POOL_TIMEOUT.

Dashboard pages (and a browser asking for an unknown path outside /api) answer every error
here with an HTML error page instead of JSON: the same status, message and Retry-After, the
error shape in its data block.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from milkbot.analytics import AnalyticsInputError, PoolExhaustedError, QueryTimeoutError
from milkbot.analytics.pool import (
    DatabaseBusyError,
    DatabaseUnavailableError,
    connection_lost,
    describe_failure,
)
from milkbot.analytics.window import UnknownAccountError
from milkbot.web.pages import error_page, is_page, wants_html

log = structlog.get_logger("milkbot.web")

_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    422: "invalid_parameter",
    500: "internal_error",
    503: "unavailable",
}


def error_body(code: str, message: str, field: str | None = None) -> bytes:
    """The JSON bytes of one error in the app's single error shape."""
    return orjson.dumps({"error": {"code": code, "message": message, "field": field}})


def error_response(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> Response:
    """A JSON error response (never cached)."""
    return Response(
        error_body(code, message, field),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **headers},
    )


def _field_of(loc: Sequence[Any]) -> str | None:
    # FastAPI locations look like ("query", "days"); the last string part is the parameter.
    names = [str(part) for part in loc if part not in ("query", "path", "body", "header")]
    return names[-1] if names else None


def _refusal(
    request: Request, status: int, code: str, message: str, field: str | None, **headers: str
) -> Response:
    """A 4xx in the error shape, as an HTML page for a page's request, else as JSON."""
    if is_page(request) or (status == 404 and wants_html(request)):
        return error_page(request, status, code, message, field=field, headers=headers)
    return error_response(status, code, message, field, **headers)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _field_of(first.get("loc", ()))
    message = str(first.get("msg", "invalid value"))
    if field:
        message = f"{field}: {message}"
    return _refusal(request, 422, "invalid_parameter", message, field)


async def _analytics_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AnalyticsInputError)
    return _refusal(request, 400, "bad_request", f"{exc.field}: {exc.message}", exc.field)


async def _unknown_account(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UnknownAccountError)
    return _refusal(request, 404, "unknown_account", f"account: {exc.message}", "account")


# Seconds a client should wait before it asks again, by 503 code.
RETRY_AFTER_S = {
    "database_unavailable": 2,
    "database_busy": 1,
    "query_timeout": 1,
    "pool_exhausted": 1,
}


def _unavailable_code(exc: Exception) -> tuple[str, str]:
    """The 503 code and public message of a database-side failure."""
    if isinstance(exc, PoolExhaustedError):
        return "pool_exhausted", str(exc)
    if isinstance(exc, QueryTimeoutError):
        return "query_timeout", str(exc)
    if isinstance(exc, DatabaseBusyError):
        return "database_busy", str(exc)
    if isinstance(exc, DatabaseUnavailableError):
        return "database_unavailable", str(exc)
    # A psycopg OperationalError that got past the pool (the server ran out of a resource,
    # or lost a connection outside a pooled read): its text may name hosts, so it stays in
    # the log.
    reason = describe_failure(exc) if connection_lost(exc) else "the server could not run it"
    return "database_unavailable", f"the database is unavailable ({reason}); try again shortly"


async def _unavailable(request: Request, exc: Exception) -> Response:
    code, message = _unavailable_code(exc)
    retry = RETRY_AFTER_S[code]
    log.warning("request_unavailable", code=code, path=request.url.path, error=str(exc))
    if is_page(request):
        return error_page(request, 503, code, message, retry_after=retry)
    return error_response(503, code, message, None, **{"Retry-After": str(retry)})


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "error")
    if status == 404:
        message = f"no such resource: {request.url.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    return _refusal(request, status, code, message, None, **headers)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    """An operator-only route asked for anonymously: a browser goes to the sign-in page and
    comes back; anything else gets a 401 in the error shape."""
    from milkbot.web.auth import login_redirect

    if wants_html(request):
        return login_redirect(request)
    return error_response(
        401,
        "sign_in_required",
        f"{request.url.path} is for signed-in operators (sign in at /login)",
        **{"WWW-Authenticate": 'Bearer realm="milkbot"'},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through the single error shape."""
    from milkbot.web.auth import SignInRequired

    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(AnalyticsInputError, _analytics_input)
    # A subclass of AnalyticsInputError: the handler of the most specific class wins.
    app.add_exception_handler(UnknownAccountError, _unknown_account)
    for unavailable in (
        PoolExhaustedError,
        QueryTimeoutError,
        DatabaseBusyError,
        DatabaseUnavailableError,
        psycopg.OperationalError,
    ):
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(StarletteHTTPException, _http)


class CatchAllMiddleware:
    """Outermost middleware: an exception nothing else handled becomes a 500 in the error shape,
    its traceback logged (never sent), instead of the server's bare text response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error(
                "unhandled_error",
                method=scope.get("method"),
                path=scope.get("path"),
                error=repr(exc),
                traceback=traceback.format_exc(),
            )
            if started:  # too late for a clean error: the client sees a cut response
                raise
            response = error_response(500, "internal_error", "internal error; see the server log")
            await response(scope, receive, send)

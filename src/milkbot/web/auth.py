"""Operators' sign-in: sessions, CSRF and the login rate limits.

An operator signs in at ``/login`` with a name and password (``milkbot users``). The server
answers with a session cookie, ``milkbot_session``: 256 random bits, HttpOnly,
SameSite=Strict, Secure when the request came over https, for ``MILKBOT_SESSION_HOURS``. The
database keeps only its SHA-256 (ops.operator_sessions, migration 0009) and the session's CSRF
token. Every state-changing form carries the CSRF token: the session's once signed in; before
that, the login form's own token, matched against a cookie set with the form (a double submit),
and an ``Origin`` header, when the browser sends one, must be this server's.

Login attempts are limited per client address (``ADDRESS_LIMIT``, every attempt) and per
operator name (``OPERATOR_LIMIT``, failed attempts): past either the answer is a 429 saying how
long to wait, and the password is not even checked. The counts are kept per worker process
(``limits``' in-memory moving windows), so with N workers a client gets at most N times the
limit; a shared store comes with the multi-worker work.

Operator-only routes (``/metrics``, ``/docs``, ``/redoc``, ``/openapi.json``) depend on
:func:`require_operator`: anonymous page requests are sent to ``/login?next=...``, anything
else gets a 401 ``sign_in_required`` in the error shape. ``/metrics`` also takes
``Authorization: Bearer <token>`` with the token in ``MILKBOT_METRICS_TOKEN_FILE`` (Prometheus
cannot sign in).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from psycopg import AsyncConnection

from milkbot.store.credentials import MAX_PASSWORD, OPERATOR_NAME, verify_password
from milkbot.web.deps import State, WebState

SESSION_COOKIE: Final = "milkbot_session"
LOGIN_COOKIE: Final = "milkbot_login"
ADDRESS_LIMIT: Final[RateLimitItem] = parse("10/minute")
OPERATOR_LIMIT: Final[RateLimitItem] = parse("5/15minutes")
# A login form is a name, a password (at most MAX_PASSWORD), a token and a path.
MAX_FORM_BYTES: Final = 8192
# Where an operator lands after signing in when the form names nowhere (or somewhere else).
HOME: Final = "/"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The operator behind a request, and the CSRF token their forms must send."""

    name: str
    csrf_token: str


class SignInRequired(Exception):
    """An operator-only route was asked for without a valid session (or metrics token)."""


class Refused(Exception):
    """A login form that cannot be taken: ``status`` and the message to show."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _fetch_session(conn: AsyncConnection[Any], digest: bytes) -> tuple[str, str] | None:
    cur = await conn.execute(
        "SELECT o.name, s.csrf_token FROM ops.operator_sessions s"
        " JOIN ops.operators o ON o.id = s.operator_id"
        " WHERE s.token_sha256 = %s AND s.expires_at > now()",
        [digest],
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def signed_in(request: Request) -> SignedIn | None:
    """The operator whose session cookie came with ``request``, or None (no cookie, an
    unknown, expired or ended session). Read once per request."""
    if "milkbot.operator" in request.scope:
        found: SignedIn | None = request.scope["milkbot.operator"]
        return found
    token = request.cookies.get(SESSION_COOKIE, "")
    operator = None
    if 20 <= len(token) <= 100:
        state: WebState = request.app.state.web
        digest = _digest(token)
        row = await state.analytics.pool.read(lambda conn: _fetch_session(conn, digest))
        if row is not None:
            operator = SignedIn(*row)
    request.scope["milkbot.operator"] = operator
    return operator


Viewer = Annotated[SignedIn | None, Depends(signed_in)]


async def require_operator(request: Request, operator: Viewer) -> SignedIn:
    """A dependency of operator-only routes: the signed-in operator, else SignInRequired."""
    if operator is None:
        raise SignInRequired()
    return operator


async def operator_or_metrics_token(request: Request) -> None:
    """``/metrics``: a signed-in operator, or the bearer token of MILKBOT_METRICS_TOKEN_FILE."""
    state: WebState = request.app.state.web
    expected = state.settings.metrics_token
    given = request.headers.get("authorization", "")
    bearer = given.removeprefix("Bearer ") if given.startswith("Bearer ") else None
    if expected and bearer is not None and hmac.compare_digest(bearer.encode(), expected.encode()):
        return
    if await signed_in(request) is None:
        raise SignInRequired()


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return HOME
    if any(ord(c) < 0x21 for c in value):
        return HOME
    return value


def login_redirect(request: Request) -> RedirectResponse:
    """303 to the sign-in page, coming back to this page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': here})}", status_code=303)


class LoginLimits:
    """The moving windows of login attempts (per address) and failures (per name)."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def _wait(self, item: RateLimitItem, *keys: str) -> int:
        stats = await self._limiter.get_window_stats(item, *keys)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def admit(self, address: str, name: str) -> None:
        """Count an attempt from ``address`` (refused ones too); refuse it past either limit."""
        if not await self._limiter.hit(ADDRESS_LIMIT, "address", address):
            wait = await self._wait(ADDRESS_LIMIT, "address", address)
            raise Refused(
                429,
                f"Too many sign-in attempts from your address: wait {_duration(wait)}.",
                wait,
            )
        if not await self._limiter.test(OPERATOR_LIMIT, "operator", name):
            wait = await self._wait(OPERATOR_LIMIT, "operator", name)
            raise Refused(
                429,
                f"Too many failed sign-ins as {name}: this name is locked for "
                f"{_duration(wait)}. Try again after that.",
                wait,
            )

    async def failed(self, name: str) -> None:
        await self._limiter.hit(OPERATOR_LIMIT, "operator", name)

    async def succeeded(self, name: str) -> None:
        await self._limiter.clear(OPERATOR_LIMIT, "operator", name)


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"


def _cookie_flags(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded form of ``request`` (at most MAX_FORM_BYTES; one value per field)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "Send the form as application/x-www-form-urlencoded.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refused(413, f"The form is larger than {MAX_FORM_BYTES} bytes.")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Refused(400, "The form is not UTF-8.") from None
    return {k: v[0] for k, v in fields.items()}


def _same_origin(request: Request) -> bool:
    """True unless the browser says the form came from another site (``Origin``)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def _render_login(
    request: Request,
    *,
    next_path: str,
    message: str | None = None,
    status: int = 200,
    name: str = "",
    retry_after: int | None = None,
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request,
        "login.html",
        {
            "title": "Sign in",
            "page": "login",
            "csrf_token": token,
            "next_path": next_path,
            "message": message,
            "name": name,
            "refresh_seconds": 0,
            "data_json": "{}",
            "rendered_at": datetime.now(UTC),
        },
        status_code=status,
    )
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, **_cookie_flags(request))
    response.headers["Cache-Control"] = "no-store"
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, operator: Viewer, next: str | None = None) -> Response:
    """The sign-in form (an operator already signed in goes straight on)."""
    if operator is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _render_login(request, next_path=safe_next(next))


@router.post("/login")
async def login(request: Request, state: State) -> Response:
    """Check the name and password; on success start a session and go on to ``next``."""
    next_path, name = HOME, ""
    try:
        form = await _form(request)
        next_path = safe_next(form.get("next"))
        name = form.get("name", "").strip()
        password = form.get("password", "")
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        token = form.get("csrf_token", "")
        if not _same_origin(request) or not cookie or not hmac.compare_digest(cookie, token):
            raise Refused(403, "The form expired or came from another site: sign in again.")
        if not OPERATOR_NAME.fullmatch(name) or not password or len(password) > MAX_PASSWORD:
            raise Refused(400, "Enter your operator name and password.")
        address = request.client.host if request.client else "unknown"
        await state.login_limits.admit(address, name)
        stored = await state.analytics.pool.read(lambda conn: _password_hash(conn, name))
        ok, new_hash = await asyncio.to_thread(
            verify_password, stored[1] if stored else None, password
        )
        if not ok or stored is None:
            await state.login_limits.failed(name)
            raise Refused(401, "Wrong name or password.")
        await state.login_limits.succeeded(name)
        session = secrets.token_urlsafe(32)
        hours = state.settings.session_hours
        await state.analytics.pool.read(
            lambda conn: _start_session(conn, stored[0], session, hours, address, new_hash)
        )
    except Refused as refused:
        return _render_login(
            request,
            next_path=next_path,
            message=refused.message,
            status=refused.status,
            name=name if OPERATOR_NAME.fullmatch(name) else "",
            retry_after=refused.retry_after,
        )
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(SESSION_COOKIE, session, max_age=hours * 3600, **_cookie_flags(request))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request, state: State, operator: Viewer) -> Response:
    """End the session (the form sends the session's CSRF token)."""
    try:
        form = await _form(request)
    except Refused as refused:
        return Response(refused.message, status_code=refused.status)
    if operator is not None:
        if not _same_origin(request) or not hmac.compare_digest(
            form.get("csrf_token", ""), operator.csrf_token
        ):
            return Response("The form expired: reload the page and sign out again.", 403)
        digest = _digest(request.cookies.get(SESSION_COOKIE, ""))
        await state.analytics.pool.read(lambda conn: _end_session(conn, digest))
    response = RedirectResponse(HOME, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _password_hash(conn: AsyncConnection[Any], name: str) -> tuple[int, str] | None:
    cur = await conn.execute("SELECT id, password_hash FROM ops.operators WHERE name = %s", [name])
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def _start_session(
    conn: AsyncConnection[Any],
    operator_id: int,
    token: str,
    hours: int,
    address: str,
    new_hash: str | None,
) -> None:
    async with conn.transaction():
        await conn.execute("DELETE FROM ops.operator_sessions WHERE expires_at <= now()")
        await conn.execute(
            "INSERT INTO ops.operator_sessions (token_sha256, operator_id, csrf_token,"
            " expires_at, address) VALUES (%s, %s, %s, now() + make_interval(hours => %s), %s)",
            [_digest(token), operator_id, secrets.token_urlsafe(32), hours, address[:100]],
        )
        if new_hash is not None:
            await conn.execute(
                "UPDATE ops.operators SET password_hash = %s WHERE id = %s",
                [new_hash, operator_id],
            )


async def _end_session(conn: AsyncConnection[Any], digest: bytes) -> None:
    async with conn.transaction():
        await conn.execute("DELETE FROM ops.operator_sessions WHERE token_sha256 = %s", [digest])

"""Security headers: a pure ASGI middleware that adds them to every response.

Every response gets ``X-Content-Type-Options: nosniff`` (a browser must not run a JSON body or
an error as HTML or script) and ``Referrer-Policy: same-origin``. Every HTML response (the
dashboard pages, and any ``text/html`` error) also gets a Content-Security-Policy that lets the
page load only the project's own assets, from /static (:data:`PAGE_POLICY`: no inline script,
no inline style, no plugin, no framing, forms and ``<base>`` to this origin only) and
``X-Frame-Options: DENY`` for browsers older than ``frame-ancestors``. The pages' data sits in
a ``<script type="application/json">`` block, which is data, not script, so the policy lets it
be; their scripts set styles through the DOM (``element.style``), which CSP allows.

The one exception is FastAPI's API documentation (/docs, Swagger UI, and /redoc), which loads
its scripts, styles and fonts from CDNs and starts with an inline script: those pages get a
policy of their own naming exactly that (:func:`docs_policies`: the CDN hosts, the SHA-256 of
each inline script as FastAPI writes it, and inline styles, which Redoc injects at run time).
The day the docs' assets are served from /static, the exception can go.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _policy(**directives: str) -> str:
    return "; ".join(f"{name.replace('_', '-')} {value}" for name, value in directives.items())


PAGE_POLICY = _policy(
    default_src="'self'",
    script_src="'self'",
    style_src="'self'",
    img_src="'self'",
    font_src="'self'",
    connect_src="'self'",
    object_src="'none'",
    base_uri="'self'",
    form_action="'self'",
    frame_ancestors="'none'",
)

# What FastAPI's documentation pages load (fastapi.openapi.docs): Swagger UI and Redoc from
# jsDelivr, Redoc's fonts from Google, the favicon from fastapi.tiangolo.com.
CDN = "https://cdn.jsdelivr.net"
FAVICON_HOST = "https://fastapi.tiangolo.com"
FONT_CSS = "https://fonts.googleapis.com"
FONT_FILES = "https://fonts.gstatic.com"

EVERY_RESPONSE = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
HTML_ONLY = ((b"x-frame-options", b"DENY"),)

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_script_hashes(html: str) -> list[str]:
    """CSP sources (``'sha256-...'``) of the inline ``<script>`` elements of ``html``."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def _text(response: Response) -> str:
    return bytes(response.body).decode()


def docs_policies(app: FastAPI) -> dict[str, str]:
    """CSP per path of ``app``'s documentation pages: the HTML FastAPI serves there, rebuilt
    the way FastAPI builds it (at root path ""), so each inline script's hash is known."""
    policies: dict[str, str] = {}
    openapi_url = app.openapi_url or ""
    common = {
        "connect_src": "'self'",
        "object_src": "'none'",
        "base_uri": "'self'",
        "form_action": "'self'",
        "frame_ancestors": "'none'",
    }
    if app.docs_url and openapi_url:
        swagger = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        policies[app.docs_url] = _policy(
            default_src="'self'",
            script_src=" ".join(["'self'", CDN, *inline_script_hashes(_text(swagger))]),
            style_src=f"'self' {CDN} 'unsafe-inline'",
            img_src=f"'self' data: {FAVICON_HOST}",
            font_src=f"'self' {CDN}",
            **common,
        )
        if app.swagger_ui_oauth2_redirect_url:
            redirect = _text(get_swagger_ui_oauth2_redirect_html())
            policies[app.swagger_ui_oauth2_redirect_url] = _policy(
                default_src="'self'",
                script_src=" ".join(["'self'", *inline_script_hashes(redirect)]),
                **common,
            )
    if app.redoc_url and openapi_url:
        redoc = get_redoc_html(openapi_url=openapi_url, title=f"{app.title} - ReDoc")
        policies[app.redoc_url] = _policy(
            default_src="'self'",
            script_src=" ".join(["'self'", CDN, *inline_script_hashes(_text(redoc))]),
            style_src=f"'self' {FONT_CSS} 'unsafe-inline'",
            img_src=f"'self' data: {FAVICON_HOST}",
            font_src=f"'self' {FONT_FILES}",
            worker_src="'self' blob:",
            **common,
        )
    return policies


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.startswith(b"text/html")
    return False


class SecurityHeaders:
    """ASGI middleware: the security headers above on every HTTP response; ``docs`` maps the
    documentation pages' paths to their own policy (see :func:`docs_policies`)."""

    def __init__(self, app: ASGIApp, docs: dict[str, str] | None = None) -> None:
        self.app = app
        self.page_policy = (b"content-security-policy", PAGE_POLICY.encode())
        self.docs = {
            path: (b"content-security-policy", policy.encode())
            for path, policy in (docs or {}).items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.docs.get(scope["path"], self.page_policy)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                extra = (
                    (*EVERY_RESPONSE, policy, *HTML_ONLY) if _is_html(headers) else EVERY_RESPONSE
                )
                # A new message: the response cache replays its stored one on every hit.
                message = {**message, "headers": [*headers, *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

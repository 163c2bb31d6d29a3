"""Security headers: a pure ASGI middleware that adds them to every response.

Every response gets ``X-Content-Type-Options: nosniff`` (a browser must not run a JSON body or
an error as HTML or script) and ``Referrer-Policy: same-origin``. Every HTML response (the
dashboard pages, and any ``text/html`` error) also gets a Content-Security-Policy that lets the
page load only the project's own assets, from /static (:data:`PAGE_POLICY`: no inline script,
no inline style, no plugin, no framing, forms and ``<base>`` to this origin only) and
``X-Frame-Options: DENY`` for browsers older than ``frame-ancestors``. The pages' data sits in
a ``<script type="application/json">`` block, which is data, not script, so the policy lets it
be; their scripts set styles through the DOM (``element.style``), which CSP allows.

The API documentation (/docs, Swagger UI, and /redoc; :mod:`milkbot.web.docs`) loads only
vendored assets from /static too, but its pages start with FastAPI's inline script (and, for
Redoc, an inline style), so they get a policy of their own (:func:`docs_policies`): 'self',
each inline script and style by the SHA-256 of the HTML actually served, ``data:`` images (the
libraries' icons), and for Redoc alone inline styles (styled-components writes ``<style>``
elements as it runs, which no hash can name, and a hash beside 'unsafe-inline' would switch it
off) and ``worker-src blob:`` (its search runs in a worker built from a blob). Redoc also asks
cdn.redoc.ly for the logo of its "API docs by Redocly" badge; the policy refuses it and Redoc
leaves the logo out.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from milkbot.web.docs import OAUTH2_REDIRECT_PATH, REDOC_PATH, SWAGGER_PATH, DocsPages


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

EVERY_RESPONSE = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
HTML_ONLY = ((b"x-frame-options", b"DENY"),)

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _hashes(pattern: re.Pattern[str], html: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in pattern.findall(html)
    ]


def inline_script_hashes(html: str) -> list[str]:
    """CSP sources (``'sha256-...'``) of the inline ``<script>`` elements of ``html``."""
    return _hashes(_INLINE_SCRIPT, html)


def inline_style_hashes(html: str) -> list[str]:
    """CSP sources (``'sha256-...'``) of the inline ``<style>`` elements of ``html``."""
    return _hashes(_INLINE_STYLE, html)


def _docs_policy(html: str, **extra: str) -> str:
    directives = {
        "default_src": "'self'",
        "script_src": " ".join(["'self'", *inline_script_hashes(html)]),
        "style_src": " ".join(["'self'", *inline_style_hashes(html)]),
        "img_src": "'self'",
        "font_src": "'self'",
        "connect_src": "'self'",
        "object_src": "'none'",
        "base_uri": "'self'",
        "form_action": "'self'",
        "frame_ancestors": "'none'",
    }
    return _policy(**(directives | extra))


def docs_policies(docs: DocsPages) -> dict[str, str]:
    """CSP per path of the documentation pages (:mod:`milkbot.web.docs`), from the very HTML
    served there: everything from 'self', each inline script and style allowed by its hash,
    and only what each page's library needs besides (see the module's docstring)."""
    return {
        SWAGGER_PATH: _docs_policy(docs.swagger, img_src="'self' data:"),
        OAUTH2_REDIRECT_PATH: _docs_policy(docs.oauth2_redirect),
        REDOC_PATH: _docs_policy(
            docs.redoc,
            style_src="'self' 'unsafe-inline'",
            img_src="'self' data:",
            worker_src="blob:",
        ),
    }


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

"""The API documentation pages, /docs (Swagger UI) and /redoc, served from vendored assets.

FastAPI's own pages load Swagger UI and Redoc from a CDN (Redoc's fonts from Google, the
favicon from fastapi.tiangolo.com), so without internet they stay blank. These are the same
pages, written by FastAPI's own helpers with every URL under /static (the files in
static/vendor/swagger-ui and static/vendor/redoc, the dashboard's favicon). Each page's HTML is
built once, when the app is: what is served is exactly what the security headers hashed
(:func:`milkbot.web.headers.docs_policies` allows each inline script by its SHA-256).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

SWAGGER_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
OPENAPI_PATH = "/openapi.json"


@dataclass(frozen=True)
class DocsPages:
    """The HTML of the documentation pages (and the path each is served at)."""

    swagger: str
    redoc: str
    oauth2_redirect: str

    def by_path(self) -> dict[str, str]:
        return {
            SWAGGER_PATH: self.swagger,
            REDOC_PATH: self.redoc,
            OAUTH2_REDIRECT_PATH: self.oauth2_redirect,
        }


def _body(response: HTMLResponse) -> str:
    return bytes(response.body).decode()


def build_docs_pages(app: FastAPI, static: Callable[[str], str]) -> DocsPages:
    """The documentation pages of ``app``, loading everything through ``static`` (a path under
    /static -> its URL, versioned as the dashboard's assets are)."""
    openapi_url = app.openapi_url or OPENAPI_PATH
    favicon = static("favicon.svg")
    swagger = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=static("vendor/swagger-ui/swagger-ui-bundle.js"),
        swagger_css_url=static("vendor/swagger-ui/swagger-ui.css"),
        swagger_favicon_url=favicon,
        oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    redoc = get_redoc_html(
        openapi_url=openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=static("vendor/redoc/redoc.standalone.js"),
        redoc_favicon_url=favicon,
        # Redoc falls back to the system's sans-serif fonts.
        with_google_fonts=False,
    )
    return DocsPages(
        swagger=_body(swagger),
        redoc=_body(redoc),
        oauth2_redirect=_body(get_swagger_ui_oauth2_redirect_html()),
    )


def install_docs(app: FastAPI, static: Callable[[str], str]) -> DocsPages:
    """Serve :func:`build_docs_pages` at their paths on ``app`` (built with ``docs_url=None``,
    ``redoc_url=None`` and ``openapi_url=None``, so FastAPI's CDN pages and its open schema
    route are not there too), and the schema at /openapi.json, all for signed-in operators
    only; returns the pages."""
    from fastapi import Depends
    from fastapi.responses import JSONResponse

    from milkbot.web.auth import require_operator

    operators_only = [Depends(require_operator)]
    pages = build_docs_pages(app, static)
    for path, html in pages.by_path().items():
        app.add_api_route(
            path,
            _serve(html),
            methods=["GET"],
            include_in_schema=False,
            dependencies=operators_only,
        )

    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi(), headers={"Cache-Control": "private, no-store"})

    app.add_api_route(
        OPENAPI_PATH, openapi, methods=["GET"], include_in_schema=False, dependencies=operators_only
    )
    return pages


def _serve(html: str) -> Callable[[], Awaitable[HTMLResponse]]:
    # A closure, not a default argument: FastAPI would read a parameter as a query parameter.
    async def page() -> HTMLResponse:
        return HTMLResponse(html)

    return page

"""The API documentation offline, in a real Chromium: /docs (Swagger UI) lists the API's
operations and /redoc shows its title with every request answered by 127.0.0.1 (anything for
another host is aborted and recorded), under their own Content-Security-Policy with no
violation and no console error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

from milkbot.web.headers import PAGE_POLICY
from tests.browser.conftest import Visit
from tests.browser.test_csp import RECORD_VIOLATIONS

pytestmark = pytest.mark.browser

# Redoc's bundle always asks cdn.redoc.ly for this logo and drops the image when it fails.
REDOC_BADGE = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def offline(v: Visit) -> list[str]:
    """Abort every request of ``v``'s page for a host other than 127.0.0.1; returns the list
    the aborted URLs are added to."""
    blocked: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    v.page.route("**/*", route)
    return blocked


def open_docs(v: Visit, path: str) -> tuple[Any, list[str]]:
    v.sign_in()  # the API docs are for operators
    blocked = offline(v)
    v.page.add_init_script(RECORD_VIOLATIONS)
    response = v.open(path)
    policy = response.headers["content-security-policy"]
    assert policy != PAGE_POLICY and "https:" not in policy, policy
    return response, blocked


def assert_clean(v: Visit, blocked: list[str], refused: tuple[str, ...] = ()) -> None:
    """Nothing was aborted, and the policy refused nothing but the ``refused`` URLs."""
    assert blocked == []
    violations = v.page.evaluate("window.__cspViolations")
    assert [x for x in violations if x.split()[1] not in refused] == []
    assert [e for e in v.errors if not any(url in e for url in refused)] == []
    # Every request was answered, by this server (a failed asset would be a 4xx/5xx here).
    assert all(urlsplit(r.url).hostname == "127.0.0.1" for r in v.responses)
    assert [r.url for r in v.responses if r.status >= 400] == []
    favicon = v.page.eval_on_selector("link[rel='shortcut icon']", "l => l.href")
    assert "/static/favicon.svg" in favicon


def test_swagger_ui_lists_the_operations_offline(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    _, blocked = open_docs(v, "/docs")
    v.page.wait_for_selector(".opblock-summary-path")
    paths = v.page.eval_on_selector_all(
        ".opblock-summary-path", "els => els.map(e => e.getAttribute('data-path'))"
    )
    assert "/api/v1/metrics/cities" in paths and "/health" in paths, paths
    # Opening an operation draws its parameters (the UI runs, not only its first paint).
    v.page.click(".opblock-summary-path[data-path='/api/v1/metrics/cities']")
    v.page.wait_for_selector(".opblock.is-open .parameters")
    v.screenshot("docs-swagger")
    assert_clean(v, blocked)


def test_redoc_shows_the_api_title_offline(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    _, blocked = open_docs(v, "/redoc")
    title = v.page.wait_for_selector("h1")
    assert title is not None and title.text_content().startswith("Milkbot")
    # Its search runs in a worker made from a blob: URL (worker-src blob:).
    v.page.fill("input[placeholder='Search...']", "cities")
    v.page.wait_for_selector("[data-role='search:results'] li[role='menuitem']")
    v.screenshot("docs-redoc")
    # The one thing refused: Redoc's "API docs by Redocly" badge, which it then leaves out.
    v.page.wait_for_function(f"!document.querySelector('img[src=\"{REDOC_BADGE}\"]')")
    assert_clean(v, blocked, refused=(REDOC_BADGE,))


def test_an_external_request_would_be_caught(visit: Callable[..., Visit]) -> None:
    """The routing above does see a request for another host (a navigation: the policy would
    refuse a fetch before it left the page)."""
    v = visit(1280, 900)
    v.sign_in()
    blocked = offline(v)
    v.open("/docs")
    with pytest.raises(PlaywrightError):
        v.page.goto("https://cdn.jsdelivr.net/npm/redoc@2/")
    assert blocked == ["https://cdn.jsdelivr.net/npm/redoc@2/"]

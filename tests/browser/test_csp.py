"""The dashboard under its Content-Security-Policy in a real Chromium: every page arrives with
the strict policy, nothing on it is refused (no ``securitypolicyviolation`` event, no console
error), the charts still draw, and the page still refreshes itself (scripts from /static and
fetches to /api/v1 are all the policy allows)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from milkbot.web.headers import PAGE_POLICY
from tests.browser.conftest import REFRESH_SECONDS, Visit
from tests.browser.test_dashboard import PAGES, assert_charts_drawn

pytestmark = pytest.mark.browser

# Runs before any page script: keeps every violation the page reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", e => window.__cspViolations.push(
  e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "")));
"""


@pytest.mark.parametrize("name", PAGES)
def test_page_runs_under_its_policy_without_a_violation(
    visit: Callable[..., Visit], name: str
) -> None:
    v = visit(1280, 900)
    v.page.add_init_script(RECORD_VIOLATIONS)
    response = v.open(PAGES[name])
    assert response.headers["content-security-policy"] == PAGE_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert_charts_drawn(v, name)
    # One refresh from /api/v1 (connect-src 'self') happens under the policy too (every page
    # but the comparison, which is drawn by the server and refreshed by reloading).
    if name != "compare":
        with v.page.expect_response(lambda r: "/api/v1/" in r.url, timeout=REFRESH_SECONDS * 5000):
            pass
    assert v.page.evaluate("window.__cspViolations") == []
    assert not [e for e in v.errors if "Content Security Policy" in e], v.errors
    assert v.errors == []
    favicon = v.page.eval_on_selector("link[rel=icon]", "l => l.href")
    assert "/static/favicon.svg" in favicon


def test_an_inline_script_would_be_refused(visit: Callable[..., Visit]) -> None:
    """The listener above does see a violation when there is one: inject an inline script."""
    v = visit(1280, 900)
    v.page.add_init_script(RECORD_VIOLATIONS)
    v.open("/status")
    v.page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.appendChild(s); }"
    )
    v.page.wait_for_function("() => window.__cspViolations.length > 0")
    assert v.page.evaluate("window.__ran === undefined")
    assert any(x.startswith("script-src") for x in v.page.evaluate("window.__cspViolations"))

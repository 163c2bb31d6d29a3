"""Signing in and out in a real browser: the docs send an anonymous visitor to the form and
back, a wrong password is refused in words, the top bar names the operator, and signing out
ends the session (its cookie is then worth nothing)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.conftest import Visit

pytestmark = pytest.mark.browser


def test_sign_in_from_the_docs_and_out_again(visit: Callable[..., Visit]) -> None:
    v = visit(1280, 900)
    v.open("/docs")  # anonymous: the sign-in form, which comes back here
    assert v.page.url.startswith(v.base + "/login?next=%2Fdocs")
    assert v.page.locator("#sign-in").count() == 0  # no "Sign in" link on the form itself
    v.page.fill("#login-name", "ops")
    v.page.fill("#login-password", "not the password")
    with v.page.expect_navigation():
        v.page.click("#login-form button[type=submit]")
    assert v.page.text_content("#login-message") == "Wrong name or password."
    v.screenshot("sign-in-refused")
    v.page.fill("#login-password", "operator password")
    with v.page.expect_navigation():
        v.page.click("#login-form button[type=submit]")
    assert v.page.url == v.base + "/docs"
    v.page.wait_for_selector(".opblock-summary-path")
    cookie = next(c for c in v.page.context.cookies() if c["name"] == "milkbot_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    v.open("/")
    assert v.page.text_content("#operator-name") == "ops"
    v.screenshot("signed-in-overview")
    with v.page.expect_navigation():
        v.page.click("#sign-out button[type=submit]")
    assert v.page.locator("#sign-in").count() == 1
    assert all(c["name"] != "milkbot_session" for c in v.page.context.cookies())
    # The old cookie, put back, no longer opens the docs.
    v.page.context.add_cookies([cookie])
    response = v.page.request.get(v.base + "/openapi.json")
    assert response.status == 401
    # The refused sign-in page came with its 401, which Chromium logs; nothing else went wrong.
    assert [e for e in v.errors if "status of 401" not in e] == []

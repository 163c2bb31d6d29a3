"""Security headers: every response says nosniff and same-origin referrers; every HTML response
carries the strict Content-Security-Policy and DENY framing, and the templates hold nothing
that policy would block. The API docs, served from /static, have their own, documented policy."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import psycopg

from milkbot.web.headers import PAGE_POLICY, inline_script_hashes
from milkbot.web.pages import TEMPLATES_DIR
from tests.test_api import api_client, operator_client

PAGES = ["/", "/cities", "/performance", "/strategies", "/trades", "/status", "/login"]
# Other responses: JSON, errors (404, 405, 422, 400), Prometheus text, a static file.
OTHERS = [
    "/api/v1/metrics/cities",
    "/api/v1/equity?to_date=0001-01-01",
    "/api/v1/nothing",
    "/no/such/page",
    "/health",
    "/metrics",
    "/openapi.json",
]
STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(policy: str) -> dict[str, str]:
    parts = (d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    return {name: value for name, value in parts}


def assert_every_response_headers(response: httpx.Response) -> None:
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], response.url
    assert response.headers.get_list("referrer-policy") == ["same-origin"], response.url


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.url
    assert_every_response_headers(response)
    assert response.headers.get_list("content-security-policy") == [PAGE_POLICY]
    assert directives(response.headers["content-security-policy"]) == STRICT
    assert response.headers.get_list("x-frame-options") == ["DENY"]


async def test_every_page_has_the_strict_policy_also_when_served_from_the_cache(
    db_url: str,
) -> None:
    async with api_client(db_url, cache_ttl=5) as client:
        for path in PAGES:
            first = await client.get(path)
            again = await client.get(path)  # the whole-response cache's copy
            assert first.status_code == again.status_code == 200, path
            assert_page_headers(first)
            assert_page_headers(again)


async def test_every_other_response_is_nosniff_and_not_framed_as_a_page(db_url: str) -> None:
    async with api_client(db_url) as client:
        static = (await client.get("/")).text
        asset = re.search(r'src="(/static/common\.js\?v=\w+)"', static)
        assert asset is not None
        for path in [*OTHERS, asset.group(1), "/static/favicon.svg"]:
            response = await client.get(path)
            assert_every_response_headers(response)
            assert not response.headers["content-type"].startswith("text/html"), path
            assert "content-security-policy" not in response.headers, path
        for method, path in (("POST", "/api/v1/summary"), ("BREW", "/")):
            assert_every_response_headers(await client.request(method, path))


async def test_a_500_is_nosniff_too(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP VIEW analytics.public_trades")
    async with api_client(db_url) as client:
        for path in ("/api/v1/trades/public", "/trades"):
            response = await client.get(path)
            assert response.status_code == 500, path
            assert_every_response_headers(response)


async def test_the_api_docs_load_only_their_own_assets_under_their_own_policy(
    db_url: str,
) -> None:
    async with operator_client(db_url) as client:
        swagger = await client.get("/docs")
        redoc = await client.get("/redoc")
        redirect = await client.get("/docs/oauth2-redirect")
        for page in (swagger, redoc):
            # Everything the page loads is this server's: no other origin named anywhere.
            assert not re.search(r"https?://", page.text), page.url
            assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
            assert assets and all(a.startswith("/static/") for a in assets), assets
            for asset in assets:
                assert (await client.get(asset)).status_code == 200, asset
    for response in (swagger, redoc, redirect):
        assert response.status_code == 200, response.url
        assert_every_response_headers(response)
        assert response.headers["x-frame-options"] == "DENY"
        policy = response.headers["content-security-policy"]
        assert "http" not in policy and "'unsafe-eval'" not in policy, policy
        found = directives(policy)
        # Each inline script runs by its hash, not by 'unsafe-inline'.
        hashes = inline_script_hashes(response.text)
        assert set(found["script-src"].split()) == {"'self'", *hashes}
        assert found["default-src"] == found["connect-src"] == "'self'"
        assert found["object-src"] == found["frame-ancestors"] == "'none'"
    assert inline_script_hashes(swagger.text) and inline_script_hashes(redirect.text)
    assert directives(swagger.headers["content-security-policy"])["style-src"] == "'self'"
    # Redoc (styled-components) writes <style> elements as it runs; its search is a blob: worker.
    rd = directives(redoc.headers["content-security-policy"])
    assert rd["style-src"] == "'self' 'unsafe-inline'" and rd["worker-src"] == "blob:"


def test_the_templates_hold_nothing_the_policy_blocks() -> None:
    """No inline script (a JSON data block is data), no event handler attribute, no style
    attribute or block, no javascript: or data: URL, nothing from another origin."""
    for path in sorted(Path(TEMPLATES_DIR).glob("*.html")):
        html = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), path.name
        assert not re.search(r"\sstyle\s*=|<style\b", html), path.name
        assert not re.search(r"javascript:|data:|https?://", html), path.name

"""Security headers: every response says nosniff and same-origin referrers; every HTML response
carries the strict Content-Security-Policy and DENY framing, and the templates hold nothing
that policy would block. The API docs have their own, documented policy."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import psycopg

from milkbot.web.headers import PAGE_POLICY, inline_script_hashes
from milkbot.web.pages import TEMPLATES_DIR
from tests.test_api import api_client

PAGES = ["/", "/cities", "/performance", "/strategies", "/trades", "/status"]
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


async def test_the_api_docs_have_their_own_policy_naming_what_they_load(db_url: str) -> None:
    async with api_client(db_url) as client:
        swagger = await client.get("/docs")
        redoc = await client.get("/redoc")
    docs = directives(swagger.headers["content-security-policy"])
    scripts = docs["script-src"].split()
    # The inline script FastAPI writes runs by its hash, not by 'unsafe-inline'.
    hashes = inline_script_hashes(swagger.text)
    assert hashes and all(h in scripts for h in hashes)
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert set(scripts) == {"'self'", "https://cdn.jsdelivr.net", *hashes}
    assert docs["connect-src"] == "'self'" and docs["object-src"] == "'none'"
    assert docs["frame-ancestors"] == "'none'"
    for src in re.findall(r'(?:src|href)="(https://[^/"]+)', swagger.text):
        assert any(src in value for value in docs.values()), src
    rd = directives(redoc.headers["content-security-policy"])
    assert "'unsafe-inline'" not in rd["script-src"].split()
    for src in re.findall(r'(?:src|href)="(https://[^/"]+)', redoc.text):
        assert any(src in value for value in rd.values()), src
    for response in (swagger, redoc):
        assert_every_response_headers(response)
        assert response.headers["x-frame-options"] == "DENY"


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

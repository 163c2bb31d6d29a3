"""Operators' sign-in over HTTP, tried the way an attacker would: every operator-only route
refuses the anonymous, a forged, replayed or expired cookie is nobody, CSRF and other sites'
forms are refused, wrong passwords lock the name, one address cannot try endlessly, and an
operator's responses are never shared with the public (nor the public's copy shown to them)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import psycopg
import pytest

from milkbot.store.credentials import remove_operator, set_password
from milkbot.web.auth import ADDRESS_LIMIT, OPERATOR_LIMIT
from tests.test_api import (
    BEARER,
    CSRF_FIELD,
    OPERATOR,
    OPERATOR_PASSWORD,
    api_client,
    operator_client,
    sign_in,
    write_metrics_token,
)

OPERATOR_ONLY = ["/metrics", "/docs", "/redoc", "/docs/oauth2-redirect", "/openapi.json"]


async def _form(client: httpx.AsyncClient) -> str:
    page = await client.get("/login")
    found = CSRF_FIELD.search(page.text)
    assert page.status_code == 200 and found is not None
    return found.group(1)


async def _try(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    token = await _form(client)
    return await client.post(
        "/login", data={"csrf_token": token, "name": name, "password": password}
    )


async def test_operator_routes_refuse_the_anonymous(db_url: str) -> None:
    async with api_client(db_url) as client:
        for path in OPERATOR_ONLY:
            plain = await client.get(path)
            assert plain.status_code == 401, path
            assert plain.json()["error"]["code"] == "sign_in_required"
            assert plain.headers["cache-control"] == "no-store"
            browser = await client.get(path, headers={"Accept": "text/html"})
            assert browser.status_code == 303
            assert browser.headers["location"].startswith("/login?next=")
        # A made-up cookie is nobody.
        client.cookies.set("milkbot_session", "A" * 43)
        assert (await client.get("/openapi.json")).status_code == 401
    async with operator_client(db_url) as client:
        for path in OPERATOR_ONLY:
            assert (await client.get(path)).status_code == 200, path


async def test_metrics_take_the_token_of_the_token_file(db_url: str, tmp_path: Path) -> None:
    async with api_client(db_url, metrics_token_file=write_metrics_token(tmp_path)) as client:
        assert (await client.get("/metrics", headers=BEARER)).status_code == 200
        wrong = {"Authorization": "Bearer " + "x" * 40}
        assert (await client.get("/metrics", headers=wrong)).status_code == 401
        # The token opens /metrics only.
        assert (await client.get("/openapi.json", headers=BEARER)).status_code == 401
    async with api_client(db_url) as client:  # no token file: no token works
        assert (await client.get("/metrics", headers=BEARER)).status_code == 401


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    from milkbot.settings import SettingsError, load_settings

    path = write_metrics_token(tmp_path)
    path.chmod(0o644)
    with pytest.raises(SettingsError, match=r"MILKBOT_METRICS_TOKEN_FILE(?s:.*)chmod 600"):
        load_settings(metrics_token_file=path)
    path.chmod(0o600)
    path.write_text("short")
    with pytest.raises(SettingsError, match="at least 32 characters"):
        load_settings(metrics_token_file=path)


async def test_the_session_cookie_and_what_ends_it(db_url: str) -> None:
    async with api_client(db_url) as client:
        token = await _form(client)
        with psycopg.connect(db_url, autocommit=True) as conn:
            from milkbot.store.credentials import add_operator

            add_operator(conn, OPERATOR, OPERATOR_PASSWORD)
        done = await client.post(
            "/login",
            data={"csrf_token": token, "name": OPERATOR, "password": OPERATOR_PASSWORD,
                  "next": "/cities?days=7"},
        )  # fmt: skip
        assert done.status_code == 303 and done.headers["location"] == "/cities?days=7"
        cookie = next(h for h in done.headers.get_list("set-cookie") if "milkbot_session=" in h)
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain http here; https below
        session = client.cookies["milkbot_session"]
        assert (await client.get("/openapi.json")).status_code == 200
        # The database holds no cookie: only its digest.
        with psycopg.connect(db_url) as conn:
            stored = conn.execute("SELECT t::text FROM ops.operator_sessions t").fetchall()
        assert stored and all(session not in row[0] for row in stored)

        # Signing out: the form must carry the session's CSRF token.
        refused = await client.post("/logout", data={"csrf_token": "nope"})
        assert refused.status_code == 403
        assert (await client.get("/openapi.json")).status_code == 200
        page = (await client.get("/")).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None
        out = await client.post("/logout", data={"csrf_token": csrf.group(1)})
        assert out.status_code == 303
        assert (await client.get("/openapi.json")).status_code == 401
        client.cookies.set("milkbot_session", session)  # replayed after signing out
        assert (await client.get("/openapi.json")).status_code == 401
        client.cookies.clear()

        # A new password, a removed operator, an expired session: all end it.
        await sign_in(client, db_url)
        assert (await client.get("/openapi.json")).status_code == 200
        with psycopg.connect(db_url, autocommit=True) as conn:
            set_password(conn, OPERATOR, OPERATOR_PASSWORD)
        assert (await client.get("/openapi.json")).status_code == 401
        await sign_in(client, db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE ops.operator_sessions SET expires_at = now() - interval '1 s'")
        assert (await client.get("/openapi.json")).status_code == 401
        await sign_in(client, db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            remove_operator(conn, OPERATOR)
        assert (await client.get("/openapi.json")).status_code == 401


async def test_the_cookie_is_secure_under_https(db_url: str) -> None:
    async with api_client(db_url) as client:
        client.base_url = httpx.URL("https://milkbot.test")
        with psycopg.connect(db_url, autocommit=True) as conn:
            from milkbot.store.credentials import add_operator

            add_operator(conn, OPERATOR, OPERATOR_PASSWORD)
        done = await _try(client, OPERATOR, OPERATOR_PASSWORD)
        assert done.status_code == 303
        cookie = next(h for h in done.headers.get_list("set-cookie") if "milkbot_session=" in h)
        assert "secure" in {part.strip().lower() for part in cookie.split(";")}
        assert (await client.get("/openapi.json")).status_code == 200


async def test_forms_from_elsewhere_are_refused(db_url: str) -> None:
    async with api_client(db_url) as client:
        with psycopg.connect(db_url, autocommit=True) as conn:
            from milkbot.store.credentials import add_operator

            add_operator(conn, OPERATOR, OPERATOR_PASSWORD)
        good = {"name": OPERATOR, "password": OPERATOR_PASSWORD}
        token = await _form(client)
        # Another site's page posting the form: its Origin gives it away.
        evil = await client.post(
            "/login", data={**good, "csrf_token": token}, headers={"Origin": "https://evil.test"}
        )
        assert evil.status_code == 403 and "another site" in evil.text
        # No token, or not the cookie's.
        assert (await client.post("/login", data=good)).status_code == 403
        other = await client.post("/login", data={**good, "csrf_token": "x" * 43})
        assert other.status_code == 403
        client.cookies.clear()
        bare = await client.post("/login", data={**good, "csrf_token": token})
        assert bare.status_code == 403
        assert "milkbot_session" not in client.cookies
        # Not a form, or too large a one.
        token = await _form(client)
        as_json = await client.post("/login", json={**good, "csrf_token": token})
        assert as_json.status_code == 415
        huge = await client.post("/login", data={**good, "csrf_token": token, "x": "y" * 9000})
        assert huge.status_code == 413
        # A way back to another site is not followed.
        token = await _form(client)
        done = await client.post(
            "/login", data={**good, "csrf_token": token, "next": "//evil.test/x"}
        )
        assert done.status_code == 303 and done.headers["location"] == "/"


async def test_wrong_passwords_lock_the_name_and_one_address_cannot_guess_on(
    db_url: str,
) -> None:
    async with api_client(db_url) as client:
        with psycopg.connect(db_url, autocommit=True) as conn:
            from milkbot.store.credentials import add_operator

            add_operator(conn, OPERATOR, OPERATOR_PASSWORD)
        for _ in range(OPERATOR_LIMIT.amount):
            assert (await _try(client, OPERATOR, "wrong password!")).status_code == 401
        locked = await _try(client, OPERATOR, OPERATOR_PASSWORD)  # even the right one
        assert locked.status_code == 429
        assert f"Too many failed sign-ins as {OPERATOR}: this name is locked" in locked.text
        assert "locked for 15 min" in locked.text
        assert 800 < int(locked.headers["retry-after"]) <= OPERATOR_LIMIT.get_expiry()
        assert "milkbot_session" not in client.cookies
        # The address has tried 6 times; 4 more names, then it waits.
        left = ADDRESS_LIMIT.amount - OPERATOR_LIMIT.amount - 1
        for n in range(left):
            assert (await _try(client, f"someone{n}", "a password here")).status_code == 401
        flooded = await _try(client, "someone_else", "a password here")
        assert flooded.status_code == 429 and "from your address" in flooded.text


async def test_operators_responses_are_never_shared(db_url: str) -> None:
    async with api_client(db_url, cache_ttl=30) as client:
        public = await client.get("/cities")
        assert public.headers["cache-control"].startswith("public")
        assert 'id="sign-in"' in public.text
        await sign_in(client, db_url)
        mine = await client.get("/cities")  # not the cached public copy
        assert mine.headers["cache-control"] == "private, no-store"
        assert 'id="operator-name">ops<' in mine.text
        api = await client.get("/api/v1/metrics/cities")
        assert api.headers["cache-control"] == "private, no-store"
        client.cookies.clear()
        again = await client.get("/cities")  # nor is the operator's copy kept for the public
        assert "operator-name" not in again.text and 'id="sign-in"' in again.text

"""The whole-response cache (and the encoded-bytes cache): what they store, for how long, what
they never store, and how much they hold at most."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from milkbot.analytics.cache import estimate_size
from milkbot.web.response_cache import ResponseCache
from milkbot.web.responses import EncodedCache, encode_json


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def counting_app(calls: list[str]) -> Starlette:
    """Each response body says how many requests reached the app; headers from the query."""

    async def endpoint(request: Request) -> Response:
        calls.append(request.url.path)
        status = int(request.query_params.get("status", "200"))
        cache = request.query_params.get("cache", "public, max-age=5")
        body = f"call {len(calls)} ".encode() * int(request.query_params.get("repeat", "1"))
        return Response(body, status_code=status, headers={"Cache-Control": cache})

    return Starlette(routes=[Route("/{name}", endpoint, methods=["GET", "POST"])])


def client_for(calls: list[str], clock: Clock, ttl: float = 5.0) -> httpx.AsyncClient:
    app = ResponseCache(GZipMiddleware(counting_app(calls), minimum_size=100), ttl, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_reusable_response_is_served_from_the_cache_until_it_expires() -> None:
    calls: list[str] = []
    clock = Clock()
    async with client_for(calls, clock) as c:
        first = await c.get("/a")
        clock.now += 4.9
        second = await c.get("/a")
        other = await c.get("/a?x=1")  # another query string is another entry
        clock.now += 0.2
        third = await c.get("/a")
    assert first.text == second.text == "call 1 "
    assert first.headers["cache-control"] == second.headers["cache-control"]
    assert other.text == "call 2 "
    assert third.text == "call 3 "
    assert calls == ["/a", "/a", "/a"]


async def test_the_shorter_of_max_age_and_ttl_wins() -> None:
    calls: list[str] = []
    clock = Clock()
    async with client_for(calls, clock, ttl=5.0) as c:
        await c.get("/a?cache=public,%20max-age=1")
        clock.now += 1.5
        again = await c.get("/a?cache=public,%20max-age=1")
        await c.get("/b?cache=public,%20max-age=60")
        clock.now += 5.5
        later = await c.get("/b?cache=public,%20max-age=60")
    assert again.text == "call 2 "
    assert later.text == "call 4 "


async def test_errors_no_store_private_and_posts_are_never_stored() -> None:
    calls: list[str] = []
    clock = Clock()
    async with client_for(calls, clock) as c:
        for url in ("/e?status=404", "/h?cache=no-store", "/p?cache=private,%20max-age=5"):
            await c.get(url)
            await c.get(url)
        await c.post("/a")
        await c.post("/a")
    assert len(calls) == 8


async def test_gzip_and_identity_are_stored_apart() -> None:
    calls: list[str] = []
    clock = Clock()
    async with client_for(calls, clock) as c:
        zipped = await c.get("/big?repeat=50", headers={"Accept-Encoding": "gzip"})
        plain = await c.get("/big?repeat=50", headers={"Accept-Encoding": "identity"})
        zipped_again = await c.get("/big?repeat=50", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped_again.headers["content-encoding"] == "gzip"
    assert zipped_again.text == zipped.text == "call 1 " * 50  # httpx decodes it
    assert plain.text == "call 2 " * 50
    assert len(calls) == 2


async def test_a_zero_ttl_turns_it_off() -> None:
    calls: list[str] = []
    async with client_for(calls, Clock(), ttl=0) as c:
        await c.get("/a")
        await c.get("/a")
    assert len(calls) == 2


async def test_a_file_the_server_sends_itself_is_not_stored() -> None:
    """Static files go out as ``http.response.pathsend`` (granian sends the file): there is no
    body to store, so every request must reach the app."""
    calls: list[str] = []

    async def static_app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["path"])
        headers = [(b"cache-control", b"public, max-age=60")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": "/dev/null"})

    cache = ResponseCache(static_app, ttl=5.0, clock=Clock())
    scope: Scope = {"type": "http", "method": "GET", "path": "/static/a.js", "query_string": b"",
                    "headers": []}  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    for _ in range(2):
        sent.clear()
        await cache(scope, receive, send)
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
    assert len(calls) == 2


async def test_the_byte_budget_bounds_the_stored_responses_oldest_first() -> None:
    """Bodies of ~8-9 kB under a 30 kB budget: only the last three stay, whatever the count."""
    calls: list[str] = []
    clock = Clock()
    inner = counting_app(calls)
    app = ResponseCache(inner, 5.0, max_bytes=30_000, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for i in range(20):
            await c.get(f"/r{i}?repeat=1000")
        assert app._entries.bytes <= 30_000 and len(app._entries) == 3
        again_last = await c.get("/r19?repeat=1000")
        again_first = await c.get("/r0?repeat=1000")
    assert again_last.text.startswith("call 20 ")  # served from the cache
    assert again_first.text.startswith("call 21 ")  # evicted long ago: the app answered
    assert len(calls) == 21


async def test_expired_responses_are_dropped_as_new_ones_arrive() -> None:
    calls: list[str] = []
    clock = Clock()
    app = ResponseCache(counting_app(calls), 5.0, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for i in range(100):
            await c.get(f"/r{i}")
            clock.now += 0.125
    assert len(app._entries) == 40  # the ones younger than the TTL; nothing waits to be full


def test_encoded_bytes_are_reused_for_the_same_objects_and_kept_within_the_budget() -> None:
    clock = Clock()
    sources = [list(range(i, i + 500)) for i in range(20)]  # ~18 kB each by the estimate
    budget = 3 * (estimate_size((sources[0],)) + len(encode_json(sources[0]))) + 100
    cache = EncodedCache(5.0, max_bytes=budget, clock=clock)
    builds = 0

    def encode(value: list[int]) -> bytes:
        def build() -> list[int]:
            nonlocal builds
            builds += 1
            return value

        return cache.encode("doc", (value,), build)

    assert encode(sources[0]) == encode(sources[0]) == encode_json(sources[0])
    assert builds == 1
    for value in sources:
        encode(value)
    assert len(cache._entries) == 3 and cache._entries.bytes <= budget
    assert builds == 20
    clock.now += 5.0
    encode(sources[0])
    assert len(cache._entries) == 1  # the three expired ones went when this one came


def test_a_zero_ttl_encoded_cache_keeps_nothing() -> None:
    cache = EncodedCache(0)
    value = [1, 2, 3]
    assert cache.encode("doc", (value,), lambda: value) == b"[1,2,3]"
    assert len(cache._entries) == 0

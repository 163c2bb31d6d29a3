"""A short-lived cache of whole responses, in front of routing and parameter parsing.

The analytics cache keeps query *results* for ``cache_ttl`` seconds, but every request still
pays for FastAPI's parameter validation and the route; on a cached endpoint that is most of the
cost. This ASGI middleware stores the bytes of each successful GET whose ``Cache-Control`` says
``public, max-age=N`` (the app's own statement that the response may be reused) for
``min(N, ttl)`` seconds, keyed by path, query string and whether the client takes gzip; a hit
is two ``send`` calls. Like any shared cache honouring max-age, a response can be up to one TTL
older than the analytics result it was built from. Errors, ``no-store`` responses (health),
bodies over ``max_body`` bytes and responses the server sends itself (``http.response.pathsend``
of static files) are never stored. At most ``max_entries`` responses and ``max_bytes`` bytes
are kept (counted: body, headers, path and query string, plus a fixed overhead per entry);
expired entries are dropped as new ones arrive (see :class:`BoundedStore`).

A request carrying an operator's session cookie is neither served from nor stored in the
cache, and its response goes out ``Cache-Control: private, no-store``: what an operator sees is
never shared with the public, and never the public's copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from milkbot.analytics.cache import BoundedStore

MAX_ENTRIES = 1024
MAX_BODY_BYTES = 1 << 20
# Sixteen of the largest bodies, or thousands of ordinary (gzipped, kilobyte) responses.
MAX_BYTES = 16 << 20
# The key, the stored record, the start message and the store's own slot, roughly.
ENTRY_OVERHEAD_BYTES = 600
# milkbot.web.auth.SESSION_COOKIE, as the cookie header spells it.
SESSION_COOKIE_BYTES = b"milkbot_session="


@dataclass(frozen=True, slots=True)
class _Stored:
    start: Message
    body: bytes
    route: Any  # the route that produced it, put back in the scope for outer middleware


def _max_age(headers: list[tuple[bytes, bytes]]) -> float:
    """Seconds a response may be reused per its Cache-Control (0 unless public with max-age)."""
    for name, value in headers:
        if name.lower() == b"cache-control":
            parts = [p.strip() for p in value.decode("latin-1").lower().split(",")]
            if "public" not in parts or "no-store" in parts:
                return 0.0
            for part in parts:
                if part.startswith("max-age="):
                    try:
                        return float(part.removeprefix("max-age="))
                    except ValueError:
                        return 0.0
    return 0.0


def _takes_gzip(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return b"gzip" in value
    return False


def _has_session(scope: Scope) -> bool:
    """Whether the request carries an operator's session cookie (valid or not: either way its
    answer is not the public's)."""
    for name, value in scope["headers"]:
        if name == b"cookie" and SESSION_COOKIE_BYTES in value:
            return True
    return False


def _is_static(scope: Scope) -> bool:
    path: str = scope["path"]
    return path.startswith("/static/")


def _private(send: Send) -> Send:
    """``send``, with every response marked for this browser alone (never a shared cache)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"cache-control"]
            headers.append((b"cache-control", b"private, no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return sending


class ResponseCache:
    """ASGI middleware: serve a stored copy of a reusable GET response for at most ``ttl``
    seconds (0 disables it); at most ``max_entries`` copies and ``max_bytes`` bytes."""

    def __init__(
        self,
        app: ASGIApp,
        ttl: float,
        *,
        max_entries: int = MAX_ENTRIES,
        max_body: int = MAX_BODY_BYTES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.ttl = ttl
        self.max_body = max_body
        self._clock = clock
        self._entries: BoundedStore[tuple[str, bytes, bool], _Stored] = BoundedStore(
            max_entries, max_bytes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_session(scope) and not _is_static(scope):
            await self.app(scope, receive, _private(send))
            return
        if self.ttl <= 0 or scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope["query_string"], _takes_gzip(scope))
        stored = self._entries.get(key, self._clock())
        if stored is not None:
            if stored.route is not None:
                scope["route"] = stored.route  # metrics label the hit by its route template
            await send(stored.start)
            await send({"type": "http.response.body", "body": stored.body})
            return
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        complete = storable = True

        async def capture(message: Message) -> None:
            nonlocal start, size, complete, storable
            kind = message["type"]
            if kind == "http.response.start":
                start = message
            elif kind == "http.response.body":
                if size <= self.max_body:
                    chunk = message.get("body", b"")
                    chunks.append(chunk)
                    size += len(chunk)
                complete = not message.get("more_body", False)
            else:  # e.g. http.response.pathsend: the server sends a file we never see
                storable = False
            await send(message)

        await self.app(scope, receive, capture)
        if not (storable and complete) or start is None or start["status"] != 200:
            return
        if size > self.max_body:
            return
        headers = start.get("headers", [])
        reuse = min(_max_age(headers), self.ttl)
        if reuse > 0:
            body = b"".join(chunks)
            weight = (
                len(body)
                + sum(len(name) + len(value) for name, value in headers)
                + len(key[0])
                + len(key[1])
                + ENTRY_OVERHEAD_BYTES
            )
            now = self._clock()
            self._entries.put(
                key, _Stored(start, body, scope.get("route")), weight, now + reuse, now
            )

"""JSON responses: orjson bytes, Cache-Control, and encoding done once per cached result.

The analytics service caches result *objects* for ``cache_ttl`` seconds; while it hands out the
same object, :class:`EncodedCache` hands out the same bytes, so a cached API response costs a
dict lookup instead of a ``to_dict()`` walk and an orjson encode. It keys by the identity of
the source objects and holds a reference to them, so an id is never reused while its entry lives.

Holding the sources keeps them alive after the analytics cache has let them go, so the budget
counts them too, and an entry lives only as long as its sources can still be handed out: the
analytics TTL, counted from the encode (which comes after the result was stored).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.responses import Response

from milkbot.analytics.cache import BoundedStore, estimate_size

MAX_ENTRIES = 512
# Encoded bytes plus the result objects they keep alive: about ten of the largest results
# (3,650-day equity curves), thousands of ordinary ones.
MAX_BYTES = 16 << 20


def encode_json(value: Any) -> bytes:
    """orjson bytes of ``value`` (dicts, lists, str, int, float, None, dates)."""
    return orjson.dumps(value)


def script_json(value: Any) -> str:
    """JSON safe to embed in ``<script type="application/json">``: every ``<`` is escaped, so
    no ``</script>`` or ``<!--`` can end the block early."""
    return orjson.dumps(value).decode().replace("<", "\\u003c")


class EncodedCache:
    """JSON bytes per tuple of source objects (by identity), for ``ttl`` seconds (0: nothing is
    kept), at most ``max_entries`` of them and ``max_bytes`` counting each entry's bytes and
    the estimated size of its sources (:func:`estimate_size`); expired entries go first, then
    the oldest."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = MAX_ENTRIES,
        *,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: BoundedStore[tuple[object, ...], tuple[tuple[object, ...], bytes]] = (
            BoundedStore(max_entries, max_bytes)
        )

    def encode(self, name: str, sources: tuple[object, ...], build: Callable[[], Any]) -> bytes:
        """The bytes of ``build()`` for the document ``name`` (one per route), computed only
        when ``sources`` are not the objects seen last time for the same name and ids."""
        key = (name, *(id(s) for s in sources))
        now = self._clock()
        hit = self._entries.get(key, now)
        if hit is not None and all(a is b for a, b in zip(hit[0], sources, strict=True)):
            return hit[1]
        body = encode_json(build())
        if self.ttl > 0:
            size = len(body) + estimate_size(sources)
            self._entries.put(key, (sources, body), size, now + self.ttl, now)
        return body


def cache_control(ttl_seconds: float) -> str:
    """Cache-Control for a response built from results cached ``ttl_seconds``."""
    return f"public, max-age={math.ceil(ttl_seconds)}"


def json_response(body: bytes, *, cache: str, status_code: int = 200) -> Response:
    """A JSON response from ready bytes with the given Cache-Control."""
    return Response(
        body,
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": cache},
    )

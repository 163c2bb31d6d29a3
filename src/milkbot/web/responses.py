"""JSON responses: orjson bytes, Cache-Control, and encoding done once per cached result.

The analytics service caches result *objects* for ``cache_ttl`` seconds; while it hands out the
same object, :class:`EncodedCache` hands out the same bytes, so a cached API response costs a
dict lookup instead of a ``to_dict()`` walk and an orjson encode. It keys by the identity of
the source objects and holds a reference to them, so an id is never reused while its entry lives.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from starlette.responses import Response


def encode_json(value: Any) -> bytes:
    """orjson bytes of ``value`` (dicts, lists, str, int, float, None, dates)."""
    return orjson.dumps(value)


def script_json(value: Any) -> str:
    """JSON safe to embed in ``<script type="application/json">``: every ``<`` is escaped, so
    no ``</script>`` or ``<!--`` can end the block early."""
    return orjson.dumps(value).decode().replace("<", "\\u003c")


class EncodedCache:
    """JSON bytes per tuple of source objects (by identity), least recently used evicted."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[object, ...], tuple[tuple[object, ...], bytes]] = (
            OrderedDict()
        )

    def encode(self, name: str, sources: tuple[object, ...], build: Callable[[], Any]) -> bytes:
        """The bytes of ``build()`` for the document ``name`` (one per route), computed only
        when ``sources`` are not the objects seen last time for the same name and ids."""
        key = (name, *(id(s) for s in sources))
        hit = self._entries.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], sources, strict=True)):
            self._entries.move_to_end(key)
            return hit[1]
        body = encode_json(build())
        self._entries[key] = (sources, body)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
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

"""The web application: built by a factory that is given its settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from milkbot.settings import Settings, load_settings

_LOADED_SQL = """
SELECT coalesce(sum(trades), 0)::bigint, min(event_date), max(event_date)
FROM analytics.pnl_by_day
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app for ``settings`` (``database_url`` must be set: the CLI resolves the
    embedded server's URL before it starts the web workers)."""
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url")
    url = settings.database_url

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="Milkbot", version="0.1.0", lifespan=lifespan)

    async def loaded() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute(_LOADED_SQL)
            row = await cur.fetchone()
        assert row is not None
        return {
            "trades": int(row[0]),
            "first_day": row[1].isoformat() if row[1] else None,
            "last_day": row[2].isoformat() if row[2] else None,
        }

    @app.get("/health")
    async def health() -> JSONResponse:
        try:
            data = await loaded()
        except psycopg.Error as exc:
            return JSONResponse(
                {"status": "unhealthy", "database": f"unreachable: {type(exc).__name__}"},
                status_code=503,
            )
        return JSONResponse({"status": "healthy", "database": "ok", "data": data})

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        data = await loaded()
        return (
            "<!doctype html><title>Milkbot</title><h1>Milkbot</h1>"
            f"<p>{data['trades']:,} trades loaded, settlement days "
            f"{data['first_day']} to {data['last_day']}.</p>"
        )

    return app


def create_app_from_env() -> FastAPI:
    """Factory for ASGI servers started in worker processes: settings from the environment."""
    return create_app(load_settings())

"""The web application: built by a factory that is given its settings.

``create_app(settings)`` wires the JSON API (/api/v1, /health), the dashboard pages, static
assets, Prometheus /metrics, the single error shape, a whole-response cache for reusable GETs,
gzip and security headers (CSP); its lifespan opens the analytics service (pool, and
the public delay written to the database) and closes it. ``create_app_from_env`` is the factory
ASGI servers call in their worker processes.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import structlog
from fastapi import Depends, FastAPI, Response
from starlette.middleware.gzip import GZipMiddleware

from milkbot.analytics import Analytics
from milkbot.monitoring.metrics import Metrics, MetricsMiddleware
from milkbot.settings import Settings, load_settings
from milkbot.web import api, auth, pages
from milkbot.web.deps import WebState
from milkbot.web.docs import install_docs
from milkbot.web.errors import CatchAllMiddleware, install_error_handlers
from milkbot.web.headers import SecurityHeaders, docs_policies
from milkbot.web.response_cache import ResponseCache
from milkbot.web.responses import EncodedCache

log = structlog.get_logger(__name__)

# linux/prctl.h: the signal a process gets when its parent (thread) dies.
PR_SET_PDEATHSIG = 1

# Bodies smaller than this are sent as they are: compressing them costs more than it saves.
GZIP_MIN_BYTES = 1024

DESCRIPTION = """
Milkbot's public analytics, per account: every analytics route takes `account` (default: the
primary account; `GET /api/v1/accounts` lists the public ones; an unknown or private one is a
404 `unknown_account`). Money is exact dollars as decimal strings (`*_dollars`: "12.34",
"0.0012"); contract counts are decimal strings with two decimals (`contracts`); dates are
settlement (climate) days; times are UTC. Every error has the shape
`{"error": {"code", "message", "field"}}`.
Responses built from cached results carry `Cache-Control: public, max-age=<cache TTL>`.
"""


def create_app(settings: Settings, url: str | None = None) -> FastAPI:
    """Build the ASGI app for ``settings`` on database ``url`` (default:
    ``settings.database_url``; the CLI resolves the embedded server's URL before it starts the
    web workers). Nothing connects until the app's lifespan starts."""
    metrics = Metrics()
    analytics = Analytics(settings, url, on_query=metrics.observe_query)
    metrics.watch_pool(analytics.pool.stats, analytics.pool.max_size)
    state = WebState(
        settings=settings, analytics=analytics, encoded=EncodedCache(settings.cache_ttl)
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await state.analytics.open()
        try:
            yield
        finally:
            await state.analytics.close()

    app = FastAPI(
        title="Milkbot",
        version=version("milkbot"),
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served from /static by milkbot.web.docs instead of FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
        # Served by milkbot.web.docs to signed-in operators only.
        openapi_url=None,
    )
    app.state.web = state
    app.state.templates = pages.make_templates(pages.static_version())
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(api.health_router)
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.mount("/static", pages.VersionedStaticFiles(directory=pages.STATIC_DIR), name="static")
    docs = install_docs(app, app.state.templates.env.globals["static"])

    @app.get(
        "/metrics",
        include_in_schema=False,
        dependencies=[Depends(auth.operator_or_metrics_token)],
    )
    async def prometheus_metrics() -> Response:
        """Prometheus exposition (per worker process: run one worker for whole-server figures),
        for signed-in operators and MILKBOT_METRICS_TOKEN_FILE's bearer token."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    # Outermost last: metrics -> security headers -> errors -> whole-response cache -> gzip ->
    # routes (the headers go on every response: cached, errors and 500s included).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    app.add_middleware(ResponseCache, ttl=settings.cache_ttl)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(SecurityHeaders, docs=docs_policies(docs))
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: times every request
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ASGI servers started in worker processes: settings (and so the log level)
    from the environment. In a worker process it first ties the worker's life to its parent's
    (:func:`exit_with_parent`)."""
    from milkbot.logs import configure_logging

    exit_with_parent()
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def exit_with_parent() -> None:
    """In a worker process started by a multiprocessing server (granian, uvicorn), have the
    kernel kill the worker when the parent dies, so a SIGKILLed ``milkbot serve`` leaves nothing
    answering on its port. SIGKILL, not SIGTERM: a granian worker that gets SIGTERM while its
    lifespan is still starting never finishes shutting down, and an orphan has no supervisor to
    finish it; a normal stop (Ctrl-C, SIGTERM to the main process) is unaffected, as the parent
    stops its workers itself. Linux only (prctl PR_SET_PDEATHSIG); elsewhere, or outside such a
    worker, it does nothing.

    The signal follows the parent *thread* that forked the worker: granian 2.8's MPServer forks
    every worker (respawns included) from the thread that called ``serve()``, the main thread
    of ``milkbot serve``, which lives as long as the process. A parent that died before the
    prctl sends no signal, so the worker checks it is still its parent's child afterwards."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("worker_pdeathsig_failed", errno=ctypes.get_errno())
        return
    if os.getppid() != parent.pid:
        log.warning("worker_orphaned_at_start", parent_pid=parent.pid)
        # Not SystemExit: granian's worker catches what its app factory raises and would stay
        # up, holding the inherited listening socket. Nothing has been built yet to clean up.
        os._exit(0)

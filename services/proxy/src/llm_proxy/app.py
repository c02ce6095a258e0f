"""Application factory of the proxy: state, middlewares, routes, background reloads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from . import chat, health, seed_api
from .auth import auth_middleware, load_client_keys
from .errors import error_middleware
from .http_client import Upstreams
from .keys import (
    BACKENDS,
    BREAKERS,
    CLIENT_KEYS,
    KNOWLEDGE,
    LIFECYCLE,
    METRICS,
    REDACTOR,
    REQUEST_LOG,
    ROUTES,
    SETTINGS,
)
from .knowledge import load_knowledge
from .lifecycle import Lifecycle
from .logs import Redactor, RequestLog
from .metrics import ProxyMetrics
from .observe import observe_middleware
from .resilience import Breakers
from .routes_source import PACKAGED_ROUTES as PACKAGED_ROUTES  # where tests and tools have found it
from .routes_source import RoutesSource
from .settings import ProxySettings
from .watcher import Reloadable

log = logging.getLogger("llm_proxy")


def _secrets(app: web.Application) -> list[str]:
    return [b.api_key for b in app[ROUTES].current.backends.values() if b.api_key]


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    watched = [app[ROUTES], app[KNOWLEDGE], app[CLIENT_KEYS]]
    tasks = [asyncio.create_task(w.watch(settings.reload_interval)) for w in watched if w.has_files]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _upstreams(app: web.Application) -> AsyncIterator[None]:
    app[BACKENDS] = Upstreams()
    yield
    await app[BACKENDS].close()


async def _request_log(app: web.Application) -> AsyncIterator[None]:
    yield
    if app[REQUEST_LOG] is not None:
        app[REQUEST_LOG].flush()  # after the last handler finished: no request line is lost at exit


def create_app(settings: ProxySettings | None = None) -> web.Application:
    settings = settings or ProxySettings()
    app = web.Application(
        middlewares=[observe_middleware, error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    metrics = app[METRICS] = ProxyMetrics()

    secrets: set[str] = set()  # every backend key seen: a rotated-out key stays redacted too

    def on_reload(name: str, result: str) -> None:
        metrics.reloads.labels(name, result).inc()
        if name == "routes" and result == "success":
            secrets.update(_secrets(app))
            app[REDACTOR].update(secrets)

    routes = RoutesSource(settings.routes, settings.routes_overlay)
    app[ROUTES] = Reloadable(
        "routes", settings.routes, routes.load, on_reload, watched=routes.watched, fallback=routes.load_base
    )
    secrets.update(_secrets(app))
    app[KNOWLEDGE] = Reloadable("knowledge", settings.knowledge, load_knowledge, on_reload)
    app[CLIENT_KEYS] = Reloadable(
        "client_keys", settings.api_keys_file, lambda path: load_client_keys(settings.api_keys, path), on_reload
    )
    app[REDACTOR] = Redactor(secrets)
    wanted = settings.log_requests and logging.getLevelName(settings.log_level.upper()) <= logging.INFO
    app[REQUEST_LOG] = RequestLog(settings.log_format) if wanted else None
    app[LIFECYCLE] = Lifecycle()
    app[BREAKERS] = Breakers(
        settings.breaker_failures,
        settings.breaker_cooldown,
        on_change=lambda backend, state: metrics.breaker_state.labels(backend).set(state),
    )
    app.cleanup_ctx.extend([_request_log, _upstreams, _background])

    app.router.add_get("/v1/models", chat.list_models)
    app.router.add_post("/v1/chat/completions", chat.chat_completions)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    seed_api.setup(app)
    return app

"""Application factory of the proxy: state, middlewares, routes, background reloads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from . import health, openai_api, seed_api, usage_api
from .auth import auth_middleware
from .caps import RequestCaps
from .client_keys import ClientKeys, load_client_keys
from .connections import connection_middleware
from .egress import EgressRules
from .errors import error_middleware
from .forwarding import Forwarder
from .guard import header_middleware, name_the_server
from .http_client import Upstreams
from .knowledge import KnowledgePack, load_knowledge
from .limits import Limiter
from .logs import Redactor, RequestLog, redact_logs_with
from .metrics import ProxyMetrics
from .observe import observe_middleware
from .prices import PriceTable
from .quotas import AuthFailures, RateLimit
from .resilience import Breakers, RetryPolicy
from .routes_source import PACKAGED_ROUTES as PACKAGED_ROUTES  # where tests and tools have found it
from .routes_source import RoutesSource
from .routing import RoutingTable
from .settings import ProxySettings
from .shared_state import SharedState, redis_url, url_password
from .state import (
    AUTH_FAILURES,
    CLIENT_KEYS,
    EGRESS,
    FORWARDER,
    KNOWLEDGE,
    LIMITER,
    METRICS,
    REDACTOR,
    REQUEST_LOG,
    ROUTES,
    SERVING,
    SETTINGS,
    SHARED,
    USAGE,
    Serving,
)
from .usage import UsageLedger
from .watcher import Reloadable

log = logging.getLogger("llm_proxy")


def _secrets(table: RoutingTable) -> list[str]:
    return [b.api_key for b in table.backends.values() if b.api_key]


async def _background(app: web.Application) -> AsyncIterator[None]:
    interval = app[SETTINGS].reload_interval
    watched: list[Reloadable[RoutingTable] | Reloadable[KnowledgePack] | Reloadable[ClientKeys]]
    watched = [app[ROUTES], app[KNOWLEDGE], app[CLIENT_KEYS]]
    tasks = [asyncio.create_task(w.watch(interval)) for w in watched if w.has_files]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _forwarder(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    metrics = app[METRICS]
    breakers = Breakers(
        settings.breaker_failures,
        settings.breaker_cooldown,
        on_change=lambda backend, state: metrics.breaker_state.labels(backend).set(state),
        probe_timeout=settings.request_budget,  # no probe outlives its request
    )
    egress = app[EGRESS]
    if egress.https or egress.http:
        log.info("upstream traffic: %s", egress.describe())
    upstreams = Upstreams(egress=egress)
    caps = RequestCaps(settings.max_n, settings.max_output_tokens)
    policy = RetryPolicy.from_settings(settings)
    app[FORWARDER] = Forwarder(
        upstreams, breakers, metrics, app[REDACTOR], policy, caps, max_body=settings.max_upstream_body_bytes
    )
    yield
    await upstreams.close()


async def _shared_state(app: web.Application) -> AsyncIterator[None]:
    shared = app[SHARED]
    # Say at start whether Redis answers; requests fall back either way.
    if shared.enabled and await shared.call("ping", lambda redis: redis.ping()) is not None:
        log.info("shared state: Redis answers; limits, budgets, usage and seed state are shared by all replicas")
    yield
    await app[LIMITER].close()  # tokens taken without waiting, paid into the shared buckets
    await app[USAGE].close()  # this replica's last counts, if Redis takes them
    await shared.close()


async def _request_log(app: web.Application) -> AsyncIterator[None]:
    yield
    if REQUEST_LOG in app:
        app[REQUEST_LOG].flush()  # after the last handler finished: no request line is lost at exit


def create_app(settings: ProxySettings | None = None) -> web.Application:
    settings = settings or ProxySettings()
    app = web.Application(
        middlewares=[connection_middleware, observe_middleware, error_middleware, header_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app.on_response_prepare.append(name_the_server)
    metrics = app[METRICS] = ProxyMetrics()
    redactor = app[REDACTOR] = Redactor()
    redact_logs_with(redactor)  # log lines lose the backend keys it learns, too
    secrets: set[str] = set()  # every backend key seen: a rotated-out key stays redacted too

    def on_reload(name: str, result: str) -> None:
        metrics.reloads.labels(name, result).inc()
        if name == "routes" and result == "success":
            secrets.update(_secrets(app[ROUTES].current))
            redactor.update(secrets)

    routes = RoutesSource(settings.routes, settings.routes_overlay)
    app[ROUTES] = Reloadable(
        "routes", settings.routes, routes.load, on_reload, watched=routes.watched, fallback=routes.load_base
    )
    secrets.update(_secrets(app[ROUTES].current))
    redactor.update(secrets)
    app[KNOWLEDGE] = Reloadable("knowledge", settings.knowledge, load_knowledge, on_reload)
    env_limit = (
        RateLimit.of(settings.api_keys_rate_limit, settings.api_keys_burst) if settings.api_keys_rate_limit else None
    )
    app[CLIENT_KEYS] = Reloadable(
        "client_keys",
        settings.api_keys_file,
        lambda path: load_client_keys(settings.api_keys, path, env_limit, allow_anonymous=settings.allow_anonymous),
        on_reload,
    )
    egress = app[EGRESS] = EgressRules.from_environ()  # a malformed HTTPS_PROXY stops the start (ValueError)
    secrets.update(egress.secrets())
    redactor.update(secrets)
    url = redis_url(settings.redis_url, settings.redis_url_file)
    if url_password(url):
        secrets.add(url_password(url) or "")
        redactor.update(secrets)
    shared = app[SHARED] = SharedState(
        url,
        prefix=settings.redis_prefix,
        timeout=settings.redis_timeout,
        retry_interval=settings.redis_retry_interval,
        log_interval=settings.redis_log_interval,
        metrics=metrics,
    )
    app[USAGE] = ledger = UsageLedger(shared, PriceTable.packaged(), metrics, settings.usage_retention_days)
    app[LIMITER] = Limiter(shared, ledger, metrics)
    app[AUTH_FAILURES] = AuthFailures(settings.auth_failures_per_minute)
    if settings.log_requests and settings.log_level in ("DEBUG", "INFO"):
        app[REQUEST_LOG] = RequestLog(settings.log_format)
    app[SERVING] = Serving()
    app.cleanup_ctx.extend([_request_log, _shared_state, _forwarder, _background])

    app.router.add_get("/v1/models", openai_api.list_models)
    app.router.add_get("/v1/models/{model:.+}", openai_api.retrieve_model)
    app.router.add_post("/v1/chat/completions", openai_api.chat_completions)
    app.router.add_get("/v1/usage", usage_api.usage)
    app.router.add_post("/v1/responses", openai_api.responses)
    app.router.add_post("/v1/embeddings", openai_api.embeddings)
    app.router.add_post("/v1/completions", openai_api.completions)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    seed_api.setup(app)
    return app

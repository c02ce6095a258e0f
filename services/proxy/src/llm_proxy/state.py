"""The proxy's application state: every `app[...]` key, typed with the class it holds.

Everything here is built by `app.create_app()` (or its cleanup contexts) and lives as long as
the app. Request-scoped values live in `context.RequestContext` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .client_keys import ClientKeys
from .egress import EgressRules
from .forwarding import Forwarder
from .knowledge import KnowledgePack
from .limits import Limiter
from .logs import Redactor, RequestLog
from .metrics import ProxyMetrics
from .quotas import AuthFailures
from .routing import RoutingTable
from .seen_samples import SeenSamples
from .settings import ProxySettings
from .shared_state import SharedState
from .usage import UsageLedger
from .watcher import Reloadable


@dataclass
class Serving:
    """Where the process is in its life: draining once SIGTERM arrived."""

    draining: bool = False


SETTINGS = web.AppKey("settings", ProxySettings)
ROUTES = web.AppKey("routes", Reloadable[RoutingTable])
KNOWLEDGE = web.AppKey("knowledge", Reloadable[KnowledgePack])
CLIENT_KEYS = web.AppKey("client_keys", Reloadable[ClientKeys])
FORWARDER = web.AppKey("forwarder", Forwarder)  # set by a cleanup context: it owns the connection pools
METRICS = web.AppKey("metrics", ProxyMetrics)
SERVING = web.AppKey("serving", Serving)
SEEN_SAMPLES = web.AppKey("seen_samples", SeenSamples)
SHARED = web.AppKey("shared", SharedState)  # Redis, or nothing (every caller then keeps to its own state)
USAGE = web.AppKey("usage", UsageLedger)
LIMITER = web.AppKey("limiter", Limiter)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)
REDACTOR = web.AppKey("redactor", Redactor)
EGRESS = web.AppKey("egress", EgressRules)  # HTTPS_PROXY / HTTP_PROXY / NO_PROXY, read at start
REQUEST_LOG = web.AppKey("request_log", RequestLog)  # absent when request lines are off

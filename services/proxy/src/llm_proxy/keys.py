"""Typed application state of the proxy: every `app[...]` key lives here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "ProxySettings")
ROUTES = web.AppKey("routes", "Reloadable[RoutingTable]")
KNOWLEDGE = web.AppKey("knowledge", "Reloadable[KnowledgePack]")
BACKENDS = web.AppKey("backends", "Upstreams")
METRICS = web.AppKey("metrics", "ProxyMetrics")
BREAKERS = web.AppKey("breakers", "Breakers")
CLIENT_KEYS = web.AppKey("client_keys", "ClientKeys")
LIFECYCLE = web.AppKey("lifecycle", "Lifecycle")
SEEN_SAMPLES = web.AppKey("seen_samples", "SeenSamples")
REDACTOR = web.AppKey("redactor", "Redactor")
REQUEST_LOG = web.AppKey("request_log", "RequestLog | None")

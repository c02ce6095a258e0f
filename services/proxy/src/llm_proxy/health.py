"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .state import KNOWLEDGE, METRICS, ROUTES, SERVING, SHARED


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    if app[SERVING].draining:
        return web.json_response({"status": "draining"}, status=503)
    routes, knowledge = app[ROUTES], app[KNOWLEDGE]
    table = routes.current
    body: dict[str, Any] = {
        "status": "ready",
        "models": len(table.routes),
        "overlay_models": sum(1 for r in table.routes.values() if r.source == "overlay"),
        "knowledge_facts": knowledge.current.facts,
        # Redis not answering leaves the proxy ready (it falls back to in-process state): shown, not failed.
        "shared_state": app[SHARED].status(),
    }
    if routes.last_error:
        body["routes_reload_error"] = routes.last_error
    if knowledge.last_error:
        body["knowledge_reload_error"] = knowledge.last_error
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    return request.app[METRICS].render()

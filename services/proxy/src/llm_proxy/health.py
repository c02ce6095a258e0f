"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .state import CLIENT_KEYS, KNOWLEDGE, METRICS, ROUTES, SERVING, SHARED

REFUSED = "the last change was refused; the previous version is in force and the proxy's log says why"


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
    # /readyz is open to anyone: it says which reload was refused, never why (the log does; a
    # message could quote a line of a file that holds keys).
    for name, reloadable in (("routes", routes), ("knowledge", knowledge), ("client_keys", app[CLIENT_KEYS])):
        if reloadable.last_error:
            body[f"{name}_reload_error"] = REFUSED
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    return request.app[METRICS].render()

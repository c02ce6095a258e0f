"""Per-request observation: request id, in-flight gauge, request counter and duration, one log line."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .context import CONTEXT, RequestContext
from .errors import Handler
from .logs import request_id
from .metrics import UNKNOWN
from .state import METRICS, REQUEST_LOG, ROUTES

UNOBSERVED = frozenset({"/healthz", "/readyz", "/metrics"})


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request[CONTEXT] = RequestContext(request_id(request.headers.get("X-Request-Id")), time.perf_counter())
    if request.path in UNOBSERVED:
        response = await handler(request)
        response.headers["X-Request-Id"] = ctx.request_id
        return response
    app = request.app
    metrics = app[METRICS]
    metrics.in_flight.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-Id"] = ctx.request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except BaseException:
        status = 499  # the client went away (or the server is stopping) before an answer
        raise
    finally:
        metrics.in_flight.dec()
        elapsed = time.perf_counter() - ctx.started
        label = ctx.model if ctx.model is not None and ctx.model in app[ROUTES].current.routes else UNKNOWN
        metrics.of(metrics.requests, label, str(status)).inc()
        metrics.of(metrics.duration, label).observe(elapsed)
        if REQUEST_LOG in app:
            fields: dict[str, Any] = {
                "request_id": ctx.request_id,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "model": ctx.model or "-",
            }
            if ctx.answered_by is not None:
                fields["answered_by"] = ctx.answered_by
            if ctx.stream_error is not None:
                fields["stream_error"] = ctx.stream_error
            if ctx.client is not None:
                fields["client"] = ctx.client.name
            app[REQUEST_LOG].write(fields)

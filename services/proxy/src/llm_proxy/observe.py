"""Per-request observation: request id, in-flight gauge, request counter and duration, one log line."""

from __future__ import annotations

import time

from aiohttp import web

from .keys import METRICS, REQUEST_LOG, ROUTES
from .logs import request_id
from .metrics import UNKNOWN

UNOBSERVED = frozenset({"/healthz", "/readyz", "/metrics"})


@web.middleware
async def observe_middleware(request: web.Request, handler):
    request["request_id"] = rid = request_id(request.headers.get("X-Request-Id"))
    request["started"] = started = time.perf_counter()
    if request.path in UNOBSERVED:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        return response
    app = request.app
    metrics = app[METRICS]
    metrics.in_flight.inc()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except BaseException:
        status = 499  # the client went away (or the server is stopping) before an answer
        raise
    finally:
        metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        model = request.get("model_label")
        label = model if model is not None and model in app[ROUTES].current.routes else UNKNOWN
        metrics.of(metrics.requests, label, str(status)).inc()
        metrics.of(metrics.duration, label).observe(elapsed)
        request_log = app[REQUEST_LOG]
        if request_log is not None:
            fields = {
                "request_id": rid,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "model": model or "-",
            }
            if "answered_by" in request:
                fields["answered_by"] = request["answered_by"]
            if "stream_error" in request:
                fields["stream_error"] = request["stream_error"]
            if "client" in request and request["client"] is not None:
                fields["client"] = request["client"].name
            request_log.write(fields)

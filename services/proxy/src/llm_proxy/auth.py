"""Client authentication on every request: the key, its rate limit, and who the client is.

The keys themselves, and how they are loaded, are in client_keys.py.
"""

from __future__ import annotations

import time

from aiohttp import web

from .context import CONTEXT
from .errors import AuthenticationError, Handler, RateLimited
from .state import CLIENT_KEYS, METRICS, SETTINGS

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("api-key") or None  # Azure-style clients


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    keys = request.app[CLIENT_KEYS].current
    path = request.path
    if not keys.enabled or path in OPEN_PATHS or (path == "/metrics" and not request.app[SETTINGS].metrics_require_key):
        return await handler(request)
    presented = _bearer(request)
    if presented is None:
        raise AuthenticationError("Missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    client = keys.find(presented)
    if client is None:
        raise AuthenticationError("Invalid API key")
    if client.bucket is not None:
        wait = client.bucket.take(time.monotonic())
        if wait > 0:
            request.app[METRICS].of(request.app[METRICS].rate_limited, client.name).inc()
            seconds = max(1, int(wait + 0.999))
            raise RateLimited(
                f"Rate limit for '{client.name}' reached; retry in {seconds} s", headers={"Retry-After": str(seconds)}
            )
    request[CONTEXT].client = client
    return await handler(request)

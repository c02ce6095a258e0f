"""Client authentication on every request: the key, its rate limit, and who the client is.

The keys themselves, and how they are loaded, are in client_keys.py; limits and budgets in
limits.py. Failed authentications are throttled per source address: once an address has used up
its allowance (`auth_failures_per_minute`, a bucket as large as a minute's worth), its requests
get 429 without their key being looked at until the bucket refills, so keys cannot be guessed at
speed. The address is the peer's, or behind `trusted_proxy_hops` proxies (an ingress: 1) the one
they recorded in X-Forwarded-For.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from .context import CONTEXT
from .errors import AuthenticationError, Handler, RateLimited
from .state import AUTH_FAILURES, CLIENT_KEYS, LIMITER, METRICS, SETTINGS

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def _bearer(request: web.Request) -> str | None:
    """The key as sent: only the spaces HTTP allows around it are dropped, never Unicode whitespace
    (keys are visible ASCII, so a key with any other character around it is a wrong key)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip(" \t"):
        return token.strip(" \t")
    return request.headers.get("api-key") or None  # Azure-style clients


def client_address(request: web.Request, trusted_hops: int) -> str:
    """The client's address: the peer's, or the one `trusted_hops` proxies in front recorded."""
    if trusted_hops > 0:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops][:64]
    return request.remote or "unknown"


def _throttled(request: web.Request, wait: float) -> RateLimited:
    request.app[METRICS].auth_throttled.inc()
    seconds = max(1, math.ceil(wait))
    return RateLimited(
        f"Too many failed authentications from this address; retry in {seconds} s",
        code="too_many_auth_failures",
        headers={"Retry-After": str(seconds)},
    )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    keys = app[CLIENT_KEYS].current
    path = request.path
    if not keys.enabled or path in OPEN_PATHS or (path == "/metrics" and not app[SETTINGS].metrics_require_key):
        return await handler(request)
    failures = app[AUTH_FAILURES]
    address = client_address(request, app[SETTINGS].trusted_proxy_hops)
    now = time.monotonic()
    wait = failures.blocked(address, now)
    if wait > 0:
        raise _throttled(request, wait)
    presented = _bearer(request)
    client = keys.find(presented) if presented is not None else None
    if client is None:
        failures.failed(address, now)
        if presented is None:
            raise AuthenticationError("Missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
        raise AuthenticationError("Invalid API key")
    limiter = app[LIMITER]
    admission = await limiter.admit(client)
    if admission.wait > 0:
        raise limiter.rate_limited(client, admission.wait)
    ctx = request[CONTEXT]
    ctx.client = client
    ctx.shared_spend = admission.shared_spend
    return await handler(request)

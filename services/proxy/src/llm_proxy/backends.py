"""One pooled `ClientSession` per upstream origin, and the headers every upstream call carries.

Sessions live for the app's lifetime (created lazily, closed in cleanup), so connections are
kept alive and reused across requests; a routing-table reload that adds a backend just adds a
session.
"""

from __future__ import annotations

import aiohttp
from multidict import CIMultiDict

from .routing import BackendConfig

# Request headers of the client that may reach an upstream: the mock's test knobs, and content
# negotiation. Nothing else: above all never the client's Authorization.
FORWARDED_PREFIXES = ("x-mock-",)

# Response headers that describe a hop, not the answer, or that we set ourselves.
DROPPED_RESPONSE_HEADERS = frozenset(
    h.lower() for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Content-Length", "Content-Encoding", "Date", "Server",
        "Set-Cookie", "X-Request-Id", "Alt-Svc", "Via",
    )
)


class Backends:
    def __init__(self, pool_size: int = 1024) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._pool_size = pool_size

    def session(self, backend: BackendConfig) -> aiohttp.ClientSession:
        origin = str(aiohttp.client.URL(backend.base_url).origin())
        session = self._sessions.get(origin)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size,
                                             keepalive_timeout=30, ttl_dns_cache=60, enable_cleanup_closed=True)
            # No client-wide timeout: each call sets its own from the route.
            session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                            timeout=aiohttp.ClientTimeout(total=None), skip_auto_headers=("User-Agent",))
            self._sessions[origin] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


def upstream_headers(backend: BackendConfig, client_headers, request_id: str) -> CIMultiDict:
    headers = CIMultiDict({"Content-Type": "application/json", "Accept-Encoding": "identity",
                           "User-Agent": "llm-proxy", "X-Request-Id": request_id})
    for name, value in client_headers.items():
        if name.lower().startswith(FORWARDED_PREFIXES):
            headers[name] = value
    for name, value in backend.headers:
        headers[name] = value
    if backend.api_key:
        headers["Authorization"] = f"Bearer {backend.api_key}"
    return headers


def response_headers(upstream_headers) -> dict[str, str]:
    return {k: v for k, v in upstream_headers.items() if k.lower() not in DROPPED_RESPONSE_HEADERS}

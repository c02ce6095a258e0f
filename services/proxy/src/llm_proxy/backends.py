"""The headers every upstream call carries, and the upstream response headers passed on.

The connections themselves are pooled per origin in `http_client.Upstreams`, which lives for the
app's lifetime (closed in cleanup); a routing-table reload that adds a backend just adds a pool.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDict

from .routing import BackendConfig

# Request headers of the client that may reach an upstream: the mock's test knobs, and only to a
# backend that opts in (`forward_test_headers: true`). Nothing else: above all never the client's
# Authorization.
FORWARDED_PREFIXES = ("x-mock-",)

# Response headers that describe a hop, not the answer, or that we set ourselves.
DROPPED_RESPONSE_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Content-Length",
        "Content-Encoding",
        "Date",
        "Server",
        "Set-Cookie",
        "X-Request-Id",
        "Alt-Svc",
        "Via",
    )
)


def test_headers(client_headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers that may go upstream (the mock's `X-Mock-*` test knobs)."""
    return {k: v for k, v in client_headers.items() if k.lower().startswith(FORWARDED_PREFIXES)}


def upstream_headers(backend: BackendConfig, client_headers: Mapping[str, str], request_id: str) -> CIMultiDict[str]:
    """The headers of an upstream call: ours, the client's test headers (if the backend takes them),
    the backend's own, its key."""
    headers = CIMultiDict(
        {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": "llm-proxy",
            "X-Request-Id": request_id,
        }
    )
    if backend.forward_test_headers:
        headers.update(test_headers(client_headers))
    for name, value in backend.headers:
        headers[name] = value
    if backend.api_key:
        headers["Authorization"] = f"Bearer {backend.api_key}"
    return headers


def response_headers(upstream: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in upstream.items() if k.lower() not in DROPPED_RESPONSE_HEADERS}

"""The headers every upstream call carries, and the upstream response headers passed on.

The connections themselves are pooled per origin in `http_client.Upstreams`, which lives for the
app's lifetime (closed in cleanup); a routing-table reload that adds a backend just adds a pool.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDict

from .logs import Redactor
from .routing import BackendConfig

# Request headers of the client that may reach an upstream: the mock's test knobs, and only to a
# backend that opts in (`forward_test_headers: true`). Nothing else: above all never the client's
# Authorization.
FORWARDED_PREFIXES = ("x-mock-",)

# Upstream response headers a client gets: what describes the answer, nothing else (an upstream
# that echoes Authorization, sets cookies or names its servers keeps that to itself).
PASSED_RESPONSE_HEADERS = frozenset(
    {"content-type", "retry-after", "openai-model", "openai-processing-ms", "openai-version"}
)
PASSED_RESPONSE_PREFIXES = ("x-ratelimit-",)


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


def response_headers(upstream: Mapping[str, str], redactor: Redactor) -> dict[str, str]:
    """The allowlisted upstream headers; one whose value holds anything key-shaped is dropped."""
    passed = {}
    for name, value in upstream.items():
        lower = name.lower()
        if (lower in PASSED_RESPONSE_HEADERS or lower.startswith(PASSED_RESPONSE_PREFIXES)) and redactor.text(
            value
        ) == value:
            passed[name] = value
    return passed

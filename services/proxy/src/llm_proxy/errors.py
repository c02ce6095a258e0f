"""One error hierarchy for the proxy, mapped to HTTP responses by one middleware.

OpenAI-compatible paths answer with OpenAI error objects
`{"error": {"message", "type", "param", "code"}}`; the seed API's errors (seed_api.py) subclass
`ProxyError` and render the seed's own shape. Anything unexpected becomes a 500 that names the
request id and nothing else; the traceback goes to the log only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger("llm_proxy")


class ProxyError(Exception):
    status = 500
    type = "server_error"
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def render(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=json.dumps(self.payload()).encode(),
            content_type="application/json",
            headers=self.headers,
        )


class InvalidRequest(ProxyError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class AuthenticationError(ProxyError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ProxyError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class ModelNotFound(ProxyError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, model: str, known: list[str]) -> None:
        super().__init__(
            f"The model '{model}' does not exist in this proxy's routing table. Known models: {', '.join(known)}.",
            param="model",
        )


class RateLimited(ProxyError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(ProxyError):
    """The upstream failed; `kind` feeds the upstream-errors metric."""

    kind = "protocol"


class UpstreamUnreachable(UpstreamError):
    status = 502
    type = "upstream_error"
    code = "upstream_unreachable"
    kind = "connect"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "upstream_error"
    code = "upstream_timeout"
    kind = "timeout"


class UpstreamProtocolError(UpstreamError):
    status = 502
    type = "upstream_error"
    code = "upstream_protocol_error"
    kind = "protocol"


class UpstreamMisconfigured(UpstreamError):
    """The proxy's own credentials or settings for a backend are wrong: not the client's fault."""

    status = 502
    type = "upstream_error"
    code = "upstream_auth_failed"
    kind = "auth"


class CircuitOpen(UpstreamError):
    status = 503
    type = "upstream_error"
    code = "circuit_open"
    kind = "circuit_open"


class NotReady(ProxyError):
    status = 503
    type = "server_error"
    code = "not_ready"


class UpstreamStatus(Exception):
    """An upstream answered with an error status; its body is passed through (redacted)."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        super().__init__(f"upstream status {status}")
        self.status = status
        self.body = body
        self.headers = headers

    def render(self) -> web.Response:
        return web.Response(status=self.status, body=self.body, headers=self.headers)


def _http_error(request: web.Request, exc: web.HTTPException) -> ProxyError:
    if exc.status == 404:
        return InvalidRequest(f"No route for {request.method} {request.path}", status=404, code="not_found")
    if exc.status == 405:
        return InvalidRequest(
            f"Method {request.method} is not allowed on {request.path}", status=405, code="method_not_allowed"
        )
    if exc.status == 413:
        return PayloadTooLarge("The request body is too large")
    cls = InvalidRequest if exc.status < 500 else ProxyError
    return cls(exc.reason, status=exc.status, code=exc.reason.lower().replace(" ", "_"))


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except (ProxyError, UpstreamStatus) as exc:
        return exc.render()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error(request, exc).render()
    except Exception:
        request_id = request.get("request_id", "-")
        log.exception("unexpected error handling %s %s (request id %s)", request.method, request.path, request_id)
        return ProxyError(f"The proxy failed unexpectedly; request id {request_id}").render()

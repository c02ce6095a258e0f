"""Every error the proxy answers with, in one tree, and the one middleware that renders them.

    ProxyError                       an answer the proxy gives instead of a success (500 unless said)
    ├── InvalidRequest         400   the body or a header is not acceptable
    │   ├── PayloadTooLarge    413
    │   └── RequestTimeout     408   the body did not arrive in time (the connection is closed)
    ├── AuthenticationError    401   no client key, or a wrong one
    ├── PermissionDenied       403   the key may not use this model
    ├── NotFound               404   no such path
    │   └── ModelNotFound      404   no such model in the routing table
    ├── RateLimited            429   the key's request rate is spent, or its address failed auth too often (Retry-After)
    │   └── BudgetExceeded (limits.py)   429   the key's daily budget is spent (Retry-After: next UTC midnight)
    ├── NotReady               503   starting or draining
    ├── UpstreamError                the upstream failed; `kind` labels the upstream-errors metric
    │   ├── UpstreamUnreachable      502  connect failed, refused, reset          (retryable)
    │   ├── UpstreamTimeout          504  no answer within the timeouts          (retryable)
    │   ├── UpstreamProtocolError    502  cut short, not JSON, a stream broken before it began (retryable)
    │   ├── UpstreamMisconfigured    502  the upstream refused the proxy's own key (fallbacks only)
    │   ├── CircuitOpen              503  the backend is failing; not even tried
    │   └── UpstreamStatus           the upstream's own error status, its body passed through redacted
    │                                (retryable for 408/429/5xx, else the client's answer)
    └── SeedError (seed_api.py)      the original API's error shape, `{"error": "<message>"}`

OpenAI-compatible paths answer with OpenAI error objects `{"error": {"message", "type", "param",
"code"}}`. Exceptions from elsewhere are translated in one place each: request-body checks
(`llm_common.bodies.BodyError`) and aiohttp's HTTP exceptions here, upstream I/O failures in
`upstream_failure()` below. Anything else becomes a 500 that names the request id and nothing
more; the traceback goes to the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar

from aiohttp import web

from llm_common.bodies import BodyError
from llm_common.openai_errors import ApiError

from .context import CONTEXT
from .http_client import UpstreamBodyError, UpstreamConnectError, UpstreamConnectTimeout
from .streaming import StreamBroken

log = logging.getLogger("llm_proxy")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ProxyError(ApiError):
    code: str | None = "internal_error"

    def render(self) -> web.Response:
        return web.Response(
            status=self.status, body=self.body_json(), content_type="application/json", headers=self.headers
        )


class InvalidRequest(ProxyError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class RequestTimeout(InvalidRequest):
    status = 408
    code = "request_timeout"

    def render(self) -> web.Response:
        response = super().render()
        response.force_close()  # the rest of the body may still be on its way: not a connection to reuse
        return response


class AuthenticationError(ProxyError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ProxyError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class NotFound(ProxyError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
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


class NotReady(ProxyError):
    status = 503
    code = "not_ready"


class UpstreamError(ProxyError):
    """The upstream failed. `retryable`: another attempt may succeed; `counts_against_backend`:
    the failure says the backend is unhealthy (feeds its circuit breaker); `maybe_billed`: the
    request reached the upstream, which may have processed (and billed) it, so it is sent again
    only to a route configured `idempotent`."""

    type = "upstream_error"
    kind: ClassVar[str] = "protocol"
    retryable: bool = True
    counts_against_backend: bool = True
    maybe_billed: bool = False
    retry_after: str | None = None


class UpstreamUnreachable(UpstreamError):
    status = 502
    code = "upstream_unreachable"
    kind = "connect"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
    kind = "timeout"


class UpstreamProtocolError(UpstreamError):
    status = 502
    code = "upstream_protocol_error"
    kind = "protocol"


class UpstreamMisconfigured(UpstreamError):
    """The proxy's own credentials or settings for a backend are wrong: not the client's fault.
    Retrying the same credentials cannot help; a fallback on another backend might."""

    status = 502
    code = "upstream_auth_failed"
    kind = "auth"
    retryable = False
    counts_against_backend = False


class CircuitOpen(UpstreamError):
    status = 503
    code = "circuit_open"
    kind = "circuit_open"
    retryable = False
    counts_against_backend = False


RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class UpstreamStatus(UpstreamError):
    """An upstream answered with an error status: the client gets that status and the upstream's
    body (redacted). 408, 429 and 5xx are retried first; a 429 says nothing about the backend's health."""

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        super().__init__(f"upstream status {status}", status=status, headers=headers)
        self.upstream_body = body
        self.kind_label = "status_4xx" if status < 500 else "status_5xx"
        self.retryable = status in RETRYABLE_STATUSES
        self.counts_against_backend = status != 429
        self.retry_after = headers.get("Retry-After")

    def render(self) -> web.Response:
        return web.Response(status=self.status, body=self.upstream_body, headers=self.headers)


def error_kind(error: UpstreamError) -> str:
    """The upstream-errors metric's `kind` label."""
    return error.kind_label if isinstance(error, UpstreamStatus) else error.kind


# Foreign exceptions raised while calling an upstream, and what each means. Checked in order
# (the first matching type wins), so subclasses come before their bases.
_UPSTREAM_FAILURES: tuple[tuple[type[BaseException], type[UpstreamError], str], ...] = (
    (StreamBroken, UpstreamProtocolError, "The upstream '{backend}' stream failed before it started: {detail}"),
    (UpstreamConnectTimeout, UpstreamUnreachable, "Could not connect to the upstream '{backend}' within {connect:g} s"),
    (TimeoutError, UpstreamTimeout, "The upstream '{backend}' did not answer in time"),
    (UpstreamBodyError, UpstreamProtocolError, "The upstream '{backend}' cut its response short"),
    (UpstreamConnectError, UpstreamUnreachable, "The upstream '{backend}' is unreachable (cannot connect: {detail})"),
    # Refused, reset, closed before answering, name not found: never with the URL or a key in it.
    (OSError, UpstreamUnreachable, "The upstream '{backend}' is unreachable ({reason})"),
)


def upstream_failure(exc: BaseException, backend: str, connect_timeout: float) -> UpstreamError | None:
    """The proxy error a foreign exception from an upstream call stands for, or None if it is not one."""
    for foreign, error, template in _UPSTREAM_FAILURES:
        if isinstance(exc, foreign):
            reason = (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__
            detail = exc.message if isinstance(exc, StreamBroken) else str(exc)
            return error(template.format(backend=backend, connect=connect_timeout, detail=detail, reason=reason))
    return None


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> ProxyError:
    if exc.status == 404:
        return NotFound(f"Invalid URL ({request.method} {request.path})")  # OpenAI's own words
    if exc.status == 405:
        return InvalidRequest(
            f"Method {request.method} is not allowed on {request.path}", status=405, code="method_not_allowed"
        )
    if exc.status == 413:
        return PayloadTooLarge("The request body is too large")
    cls = InvalidRequest if exc.status < 500 else ProxyError
    return cls(exc.reason, status=exc.status, code=exc.reason.lower().replace(" ", "_"))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProxyError as exc:
        return exc.render()
    except BodyError as exc:
        cls = PayloadTooLarge if exc.code == "payload_too_large" else InvalidRequest
        return cls(exc.message, param=exc.param, code=exc.code).render()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(request, exc).render()
    except Exception:
        request_id = request[CONTEXT].request_id if CONTEXT in request else "-"
        log.exception("unexpected error handling %s %s (request id %s)", request.method, request.path, request_id)
        return ProxyError(f"The proxy failed unexpectedly; request id {request_id}").render()

"""Send a request upstream: one attempt, and the retry/fallback loop around attempts.

An attempt succeeds once there is something to give the client (a whole non-streaming body,
or the first events of a stream). Until then nothing has been sent, so a failure can be
retried, and after the model's retries are spent, the route's fallbacks are tried in order.
For each candidate route the loop builds its upstream body (apis.py: model name, grounding)
and makes its attempts; the answer goes back to the handler, which relays it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llm_common.openai_errors import error_json

from .apis import Api, upstream_body, upstream_path
from .backends import response_headers, upstream_headers
from .caps import CapExceeded, RequestCaps
from .client_keys import ClientKey
from .errors import (
    CircuitOpen,
    InvalidRequest,
    UpstreamError,
    UpstreamMisconfigured,
    UpstreamProtocolError,
    UpstreamStatus,
    UpstreamUnreachable,
    error_kind,
    upstream_failure,
)
from .http_client import Response, SendProgress, Upstreams
from .knowledge import KnowledgePack
from .logs import Redactor
from .metrics import ProxyMetrics
from .resilience import Breakers, RetryPolicy
from .routing import BackendConfig, Route, RoutingTable
from .streaming import UpstreamStream

log = logging.getLogger("llm_proxy.forwarding")


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One client request, as the forwarding loop needs it (no aiohttp request in here)."""

    api: Api
    body: dict[str, Any]  # parsed and checked
    raw: bytes  # the client's bytes, sent as they are when the route changes nothing
    stream: bool
    request_id: str
    table: RoutingTable  # the table the request started with, even if a reload lands meanwhile
    knowledge: KnowledgePack
    client_headers: Mapping[str, str]
    client: ClientKey | None = None
    strip_usage: bool = False  # the proxy asked for the stream's usage chunk; the client did not


@dataclass
class Answer:
    """What an upstream gave: a whole body, or a stream that has begun. `route` is who answered."""

    route: Route
    status: int
    headers: dict[str, str]
    body: bytes = b""
    usage: dict[str, Any] | None = None
    stream: UpstreamStream | None = None
    attempts: int = 1


def missing_key(backend: BackendConfig) -> UpstreamMisconfigured:
    """The error for a backend that wants a key and has none: said at once, nothing sent upstream."""
    fix = " or ".join(f"set {v} or {v}_FILE" for v in backend.key_variables) or "give it an api_key"
    return UpstreamMisconfigured(
        f"No API key is configured for the upstream backend '{backend.name}' ({fix}), so the proxy did not "
        "call it. This is a proxy configuration problem, not a problem with your request."
    )


_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _server_error_body(backend: str, status: int, body: bytes) -> bytes:
    """Our own error for an upstream 5xx: its status and its error code, never its text (a server
    failing may dump anything, down to the request it was sent)."""
    code = None
    try:
        error = json.loads(body).get("error")
        code = error.get("code") if isinstance(error, dict) else None
    except (ValueError, AttributeError, RecursionError):
        pass
    code = code if isinstance(code, str) and _CODE.match(code) else f"upstream_http_{status}"
    return error_json(f"The upstream '{backend}' failed with HTTP {status}", "upstream_error", code, None)


def _status_error(backend: BackendConfig, response: Response, body: bytes, redactor: Redactor) -> UpstreamError:
    passed = response_headers(response.headers, redactor)
    if response.status in (401, 403):
        hint = "" if backend.api_key else " (no API key is configured for it)"
        return UpstreamMisconfigured(
            f"The upstream backend '{backend.name}' rejected the proxy's credentials with HTTP {response.status}"
            f"{hint}. This is a proxy configuration problem, not a problem with your request."
        )
    if response.status >= 500:
        passed["Content-Type"] = "application/json"
        return UpstreamStatus(response.status, _server_error_body(backend.name, response.status, body), passed)
    passed.setdefault("Content-Type", "application/json")
    return UpstreamStatus(response.status, redactor.bytes(body), passed)


async def _read_capped(response: Response, limit: int, backend: str) -> bytes:
    """The whole body, or UpstreamProtocolError (not retried; the connection dropped) past `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    while chunk := await response.readany():
        size += len(chunk)
        if size > limit:
            response.close()
            error = UpstreamProtocolError(
                f"The upstream '{backend}' sent an answer larger than {limit} bytes, more than this proxy passes on",
                code="upstream_response_too_large",
            )
            error.retryable = False  # the same request would get the same answer
            raise error
        parts.append(chunk)
    return b"".join(parts)


_DECODER = json.JSONDecoder()
ERROR_BODY_LIMIT = 1024 * 1024  # an error body is read whole to pass it on; none needs more


def _usage_of(body: bytes, backend: str, api: Api) -> dict[str, Any] | None:
    """The `usage` object of an answer, read without parsing the whole body where it comes last."""
    text = body.decode("utf-8", "replace")
    if not text.rstrip().endswith("}"):
        raise UpstreamProtocolError(f"The upstream '{backend}' sent a body that is not a JSON object")
    if api.usage_keys is None:
        return None
    if not api.usage_last:
        try:
            usage = _DECODER.decode(text).get("usage")
        except (ValueError, AttributeError):
            return None
        return usage if isinstance(usage, dict) else None
    at = text.rfind('"usage"')
    if at < 0:
        return None
    start = text.find("{", at)
    try:
        usage, _ = _DECODER.raw_decode(text, start) if start >= 0 else (None, 0)
    except ValueError:
        return None
    return usage if isinstance(usage, dict) else None


class Forwarder:
    """The upstream side of the proxy: connection pools, breakers, retry policy, metrics."""

    def __init__(
        self,
        upstreams: Upstreams,
        breakers: Breakers,
        metrics: ProxyMetrics,
        redactor: Redactor,
        policy: RetryPolicy,
        caps: RequestCaps,
        max_body: int = 32 * 1024 * 1024,
    ) -> None:
        self.upstreams = upstreams
        self.breakers = breakers
        self.metrics = metrics
        self.redactor = redactor
        self.policy = policy
        self.caps = caps
        self.max_body = max_body  # a whole (not streamed) answer is held in memory: at most this much

    async def attempt(self, call: UpstreamCall, route: Route, payload: bytes, deadline: float) -> Answer:
        """One upstream call for `route`; raises an UpstreamError when it fails."""
        backend = call.table.backends[route.backend]
        if backend.key_required and not backend.api_key:
            raise missing_key(backend)
        timeouts = call.table.timeouts_for(route)
        headers = upstream_headers(backend, call.client_headers, call.request_id)
        origin, path = self.upstreams.target(backend.base_url + upstream_path(call.api, route))
        loop = asyncio.get_running_loop()
        response: Response | None = None
        stream: UpstreamStream | None = None
        progress = SendProgress()
        try:
            async with asyncio.timeout_at(min(loop.time() + timeouts.first_byte, deadline)):
                response = await origin.request(call.api.method, path, headers, payload, timeouts.connect, progress)
                if response.status >= 400:
                    body = await _read_capped(response, ERROR_BODY_LIMIT, backend.name)
                    response.release()
                    raise _status_error(backend, response, body, self.redactor)
                if call.stream and response.headers.get("Content-Type", "").startswith("text/event-stream"):
                    stream = UpstreamStream(response, call.api.scanner(strip_usage=call.strip_usage))
                    await stream.open(timeouts.first_byte)
                    passed = response_headers(response.headers, self.redactor)
                    return Answer(route, response.status, passed, stream=stream)
            async with asyncio.timeout_at(min(loop.time() + timeouts.idle, deadline)):
                body = await _read_capped(response, self.max_body, backend.name)
            response.release()
            return Answer(
                route,
                response.status,
                response_headers(response.headers, self.redactor),
                body=body,
                usage=_usage_of(body, backend.name, call.api),
            )
        except UpstreamError:
            raise
        except BaseException as exc:
            if response is not None:
                response.close()  # cancelled (client gone, shutdown) or failed: drop the upstream at once
            error = upstream_failure(exc, backend.name, timeouts.connect)
            if error is None:
                raise
            error.maybe_billed = progress.sent
            raise error from None

    def candidates(self, call: UpstreamCall, route: Route) -> list[Route]:
        """The route (400 if the request asks it for more than its caps), then its fallbacks that
        exist, that the client's key may use and whose caps the request keeps within."""
        table, client = call.table, call.client
        try:
            self.caps.check(call.body, route.caps, route.name)
        except CapExceeded as exc:
            raise InvalidRequest(exc.message, param=exc.param, code=exc.code) from None
        if not call.api.fallbacks:
            return [route]
        fallbacks = (table.routes[name] for name in route.fallbacks if name in table.routes)
        return [
            route,
            *(
                r
                for r in fallbacks
                if (client is None or client.allows(r.name)) and self.caps.allows(call.body, r.caps, r.name)
            ),
        ]

    async def forward(self, call: UpstreamCall, route: Route) -> Answer:
        """Try the route, with retries, then each fallback; return the first answer or raise the last error.

        At most `policy.max_calls` upstream calls in all. A call the upstream may have started to
        bill is not repeated on the same route unless the table says it is idempotent."""
        loop = asyncio.get_running_loop()
        policy, breakers, metrics = self.policy, self.breakers, self.metrics
        deadline = loop.time() + policy.budget
        last: UpstreamError = UpstreamUnreachable("No upstream could be tried")
        attempts = 0
        for index, candidate in enumerate(self.candidates(call, route)):
            if attempts >= policy.max_calls or loop.time() >= deadline:
                break
            backend = candidate.backend
            if not breakers.allow(backend):
                last = CircuitOpen(f"The upstream '{backend}' is failing and its circuit is open; try again shortly")
                continue
            payload = upstream_body(call.api, call.body, call.raw, candidate, call.knowledge)
            for retry in range(policy.attempts):
                if retry:
                    metrics.of(metrics.retries, candidate.name).inc()
                attempts += 1
                metrics.of(metrics.upstream_attempts, backend).inc()
                try:
                    answer = await self.attempt(call, candidate, payload, deadline)
                except UpstreamError as exc:
                    last = exc
                    metrics.of(metrics.upstream_errors, backend, error_kind(exc)).inc()
                    if isinstance(exc, UpstreamStatus) and not exc.retryable:
                        breakers.record(backend, ok=True)  # the backend is up; the request was refused
                        raise
                    if exc.counts_against_backend:
                        breakers.record(backend, ok=False)
                    else:
                        breakers.release(backend)  # no verdict on the backend (429, our own key refused)
                    if not self._may_retry(exc, call.table.idempotent(candidate), retry, attempts):
                        break
                    delay = policy.delay(retry + 1, exc.retry_after)
                    if loop.time() + delay >= deadline or not breakers.allow(backend):
                        break
                    await asyncio.sleep(delay)
                    continue
                except BaseException:
                    breakers.release(backend)  # cancelled (the client left) or a bug: hand a probe back
                    raise
                breakers.record(backend, ok=True)
                if index:
                    metrics.of(metrics.fallbacks, route.name, candidate.name).inc()
                answer.attempts = attempts
                return answer
        raise last

    def _may_retry(self, exc: UpstreamError, idempotent: bool, retry: int, attempts: int) -> bool:
        if not exc.retryable or retry + 1 >= self.policy.attempts or attempts >= self.policy.max_calls:
            return False  # retrying the same credentials cannot help; a fallback might
        return idempotent or not exc.maybe_billed  # never pay twice for one answer unless told it is safe

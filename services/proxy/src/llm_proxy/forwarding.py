"""Send a chat request upstream: one attempt, and the retry/fallback loop around attempts.

An attempt succeeds once there is something to give the client (a whole non-streaming body,
or the first events of a stream). Until then nothing has been sent, so a failure can be
retried, and after the model's retries are spent, the route's fallbacks are tried in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .backends import response_headers, upstream_headers
from .errors import (
    CircuitOpen,
    ProxyError,
    UpstreamMisconfigured,
    UpstreamProtocolError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from .http_client import Response, UpstreamBodyError, UpstreamConnectError, UpstreamConnectTimeout, Upstreams
from .keys import BACKENDS, BREAKERS, METRICS
from .resilience import RETRYABLE_STATUSES, RetryPolicy
from .routing import BackendConfig, Route, RoutingTable, Timeouts
from .streaming import SseScanner, StreamBroken, StreamStart, read_first_events

log = logging.getLogger("llm_proxy.forwarding")


@dataclass
class Answered:
    """What an upstream gave: a whole body, or a started stream. `route` is who answered."""

    route: Route
    status: int
    headers: dict[str, str]
    body: bytes = b""
    usage: dict[str, Any] | None = None
    stream: StreamStart | None = None
    attempts: int = 1


class _Retryable(Exception):
    def __init__(
        self, error: ProxyError | UpstreamStatus, retry_after: str | None = None, counts_against_backend: bool = True
    ) -> None:
        self.error = error
        self.retry_after = retry_after
        self.counts_against_backend = counts_against_backend


def _status_error(backend: BackendConfig, status: int, body: bytes, headers, redact) -> Exception:
    passed = {k: v for k, v in response_headers(headers).items() if k.lower() != "content-type"}
    passed["Content-Type"] = headers.get("Content-Type", "application/json")
    error = UpstreamStatus(status, redact(body), passed)
    if status in (401, 403):
        hint = "" if backend.api_key else " (no API key is configured for it)"
        return UpstreamMisconfigured(
            f"The upstream backend '{backend.name}' rejected the proxy's credentials with HTTP {status}{hint}. "
            "This is a proxy configuration problem, not a problem with your request."
        )
    if status in RETRYABLE_STATUSES:
        return _Retryable(error, headers.get("Retry-After"), counts_against_backend=status != 429)
    return error


async def attempt(
    upstreams: Upstreams,
    backend: BackendConfig,
    route: Route,
    timeouts: Timeouts,
    payload: bytes,
    headers,
    stream: bool,
    deadline: float,
    redact: Callable[[bytes], bytes],
) -> Answered:
    loop = asyncio.get_running_loop()
    origin, path = upstreams.target(backend.base_url + "/chat/completions")
    response = None
    try:
        async with asyncio.timeout_at(min(loop.time() + timeouts.first_byte, deadline)):
            response = await origin.post(path, headers, payload, timeouts.connect)
            if response.status >= 400:
                body = await response.read()
                response.release()
                raise _status_error(backend, response.status, body, response.headers, redact)
            is_sse = response.headers.get("Content-Type", "").startswith("text/event-stream")
            if stream and is_sse:
                scanner = SseScanner()
                first = await read_first_events(response, scanner, timeouts.first_byte)
                return Answered(
                    route,
                    response.status,
                    response_headers(response.headers),
                    stream=StreamStart(response, first, scanner),
                )
        async with asyncio.timeout_at(min(loop.time() + timeouts.idle, deadline)):
            body = await response.read()
        response.release()
        return Answered(
            route, response.status, response_headers(response.headers), body=body, usage=_usage_of(body, backend.name)
        )
    except (_Retryable, UpstreamStatus, UpstreamMisconfigured):
        raise
    except StreamBroken as exc:
        _close(response)
        raise _Retryable(
            UpstreamProtocolError(f"The upstream '{backend.name}' stream failed before it started: {exc.message}")
        ) from None
    except UpstreamConnectTimeout:
        raise _Retryable(
            UpstreamUnreachable(f"Could not connect to the upstream '{backend.name}' within {timeouts.connect:g} s")
        ) from None
    except TimeoutError:
        _close(response)
        raise _Retryable(UpstreamTimeout(f"The upstream '{backend.name}' did not answer in time")) from None
    except UpstreamBodyError:
        _close(response)
        raise _Retryable(UpstreamProtocolError(f"The upstream '{backend.name}' cut its response short")) from None
    except OSError as exc:  # refused, reset, closed before answering, name not found
        _close(response)
        raise _Retryable(
            UpstreamUnreachable(f"The upstream '{backend.name}' is unreachable ({_reason(exc)})")
        ) from None
    except BaseException:
        _close(response)  # cancelled (client gone, shutdown): drop the upstream at once
        raise


def _reason(exc: OSError) -> str:
    """A short, key-free reason for a connection failure (the URL is never part of it)."""
    if isinstance(exc, UpstreamConnectError):
        return f"cannot connect: {exc}"
    return exc.strerror or type(exc).__name__


_DECODER = json.JSONDecoder()


def _usage_of(body: bytes, backend: str) -> dict[str, Any] | None:
    """The `usage` object of a completion, read without parsing the whole body (it comes last)."""
    text = body.decode("utf-8", "replace")
    if not text.rstrip().endswith("}"):
        raise _Retryable(UpstreamProtocolError(f"The upstream '{backend}' sent a body that is not a JSON object"))
    at = text.rfind('"usage"')
    if at < 0:
        return None
    start = text.find("{", at)
    try:
        usage, _ = _DECODER.raw_decode(text, start) if start >= 0 else (None, 0)
    except ValueError:
        return None
    return usage if isinstance(usage, dict) else None


def _close(response: Response | None) -> None:
    if response is not None:
        response.close()


async def forward(
    request: web.Request,
    table: RoutingTable,
    route: Route,
    encode: Callable[[Route], bytes],
    stream: bool,
    request_id: str,
    policy: RetryPolicy,
    redact: Callable[[bytes], bytes],
) -> Answered:
    """Try the route, with retries, then each fallback; return the first answer or raise the last error."""
    app = request.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.budget
    breakers, metrics, upstreams = app[BREAKERS], app[METRICS], app[BACKENDS]
    candidates = [route, *(table.routes[name] for name in route.fallbacks if name in table.routes)]
    last: Exception = UpstreamUnreachable("No upstream could be tried")
    attempts = 0
    for index, candidate in enumerate(candidates):
        backend = table.backends[candidate.backend]
        if not breakers.allow(backend.name):
            last = CircuitOpen(f"The upstream '{backend.name}' is failing and its circuit is open; try again shortly")
            continue
        timeouts = table.timeouts_for(candidate)
        payload = encode(candidate)
        headers = upstream_headers(backend, request.headers, request_id)
        for retry in range(policy.attempts):
            if retry:
                metrics.retries.labels(candidate.name).inc()
            attempts += 1
            metrics.of(metrics.upstream_attempts, backend.name).inc()
            try:
                answered = await attempt(
                    upstreams, backend, candidate, timeouts, payload, headers, stream, deadline, redact
                )
            except _Retryable as exc:
                last = exc.error
                kind = exc.error.kind if isinstance(exc.error, ProxyError) else _status_kind(exc.error.status)
                metrics.upstream_errors.labels(backend.name, kind).inc()
                if exc.counts_against_backend:
                    breakers.record(backend.name, ok=False)
                delay = policy.delay(retry + 1, exc.retry_after)
                if retry + 1 >= policy.attempts or loop.time() + delay >= deadline:
                    break
                if not breakers.allow(backend.name):
                    break
                await asyncio.sleep(delay)
                continue
            except UpstreamMisconfigured as exc:
                metrics.upstream_errors.labels(backend.name, exc.kind).inc()
                last = exc
                break  # retrying the same credentials cannot help; a fallback might
            except UpstreamStatus as exc:
                metrics.upstream_errors.labels(backend.name, _status_kind(exc.status)).inc()
                breakers.record(backend.name, ok=True)  # the backend is up; the request was refused
                raise
            breakers.record(backend.name, ok=True)
            if index:
                metrics.fallbacks.labels(route.name, candidate.name).inc()
            answered.attempts = attempts
            return answered
        if loop.time() >= deadline:
            break
    raise last


def _status_kind(status: int) -> str:
    return "status_4xx" if status < 500 else "status_5xx"

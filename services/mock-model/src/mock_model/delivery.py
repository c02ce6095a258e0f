"""How an answer reaches the client, for every API: the request's fault plan and latency model applied.

A handler parses its request, calls `begin()` (faults that come before any answer: a reset, a stall
before the headers, an error status), builds its answer, then sends it with `send_json()` or through
an `EventStream`. So every knob (`X-Mock-*` headers, the model-name suffix, the configured fault
rate) means the same on every endpoint; faults that only make sense in a stream leave a JSON answer
untouched.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, NoReturn

from aiohttp import web

from .errors import InjectedFault, InvalidRequest
from .faults import Plan
from .state import FAULTS, METRICS

SERVER_ERROR_CODES = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout"}


async def sleep_ms(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


def hang_up(request: web.Request, *, reset: bool = False) -> NoReturn:
    """End the connection now: closed after what was written, or reset with nothing more."""
    transport = request.transport
    if transport is not None:
        if reset:
            transport.abort()
        else:
            transport.close()
    # Stops the handler; aiohttp treats it as a client that went away.
    raise asyncio.CancelledError


def attempt_headers(plan: Plan) -> dict[str, str]:
    return {"X-Mock-Attempt": str(plan.attempt)}


def raise_status_fault(plan: Plan, prompt_param: str) -> None:
    """Faults that are an HTTP error response, in OpenAI's error shape."""
    headers = attempt_headers(plan)
    if plan.fault == "status":
        code = SERVER_ERROR_CODES.get(plan.status, f"http_{plan.status}")
        kind = "server_error" if plan.status >= 500 else "invalid_request_error"
        raise InjectedFault(
            f"mock model injected fault: HTTP {plan.status}", status=plan.status, code=code, type=kind, headers=headers
        )
    if plan.fault == "rate_limit":
        raise InjectedFault(
            "mock model injected fault: rate limit reached, retry later",
            status=429,
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={**headers, "Retry-After": f"{plan.retry_after:g}"},
        )
    if plan.fault == "context_length":
        raise InvalidRequest(
            "This model's maximum context length is 16385 tokens (mock model injected fault).",
            param=prompt_param,
            code="context_length_exceeded",
            headers=headers,
        )


async def begin(request: web.Request, model_suffix: dict[str, str], prompt_param: str) -> Plan:
    """The request's plan, after the faults that come before any answer.

    `prompt_param` names the field a context-length error points at (`messages`, `input`, `prompt`).
    """
    faults = request.app[FAULTS]
    plan = faults.plan(request.headers, model_suffix)
    if plan.fault:
        request.app[METRICS].faults.labels(plan.fault).inc()
    if plan.fault == "reset":
        hang_up(request, reset=True)  # no response at all: the caller sees its connection reset
    if plan.fault == "stall_headers":
        await sleep_ms(plan.stall_ms)
    raise_status_fault(plan, prompt_param)
    return plan


def encode_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


async def send_json(request: web.Request, plan: Plan, body: dict[str, Any]) -> web.StreamResponse:
    """A JSON answer after the time to first token; with the `cut` fault, half of it, then a hang-up."""
    await sleep_ms(plan.ttft_ms + request.app[FAULTS].jitter(plan))
    payload = json.dumps(body).encode()
    headers = attempt_headers(plan)
    if plan.fault == "cut":
        # Promise the whole body, send half, hang up.
        response = web.StreamResponse(headers={**headers, "Content-Type": "application/json"})
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        hang_up(request)
    return web.Response(body=payload, content_type="application/json", headers=headers)


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: `data:` JSON, with an `event:` line when the API names its events."""
    line = b"data: " + encode_json(data) + b"\n\n"
    return b"event: " + event.encode() + b"\n" + line if event else line


class EventStream:
    """An SSE response that applies the plan's latency model and stream faults.

    Content events (one per piece of answer) are counted: the delay between tokens goes between
    them, and a stream fault (`cut`, `stall_stream`, `malformed`) fires just before content event
    number `fault_after` (0: `cut` closes right after the headers, before any event).
    """

    def __init__(self, request: web.Request, plan: Plan, malformed: bytes) -> None:
        self.request = request
        self.plan = plan
        self.malformed = malformed  # what a `malformed` fault sends: this API's event, broken
        self.content_sent = 0
        self.response = web.StreamResponse(
            headers={**attempt_headers(plan), "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )

    def _jitter(self) -> float:
        return self.request.app[FAULTS].jitter(self.plan)

    async def open(self) -> None:
        await self.response.prepare(self.request)
        await sleep_ms(self.plan.ttft_ms + self._jitter())
        if self.plan.fault == "cut" and self.plan.fault_after == 0:
            hang_up(self.request)  # headers sent, then nothing

    async def send(self, event: bytes) -> None:
        """An event that is not a piece of the answer (framing: created, role, finish, usage...)."""
        await self.response.write(event)

    async def send_content(self, event: bytes) -> None:
        plan = self.plan
        if self.content_sent and plan.token_delay_ms:
            await sleep_ms(plan.token_delay_ms + self._jitter())
        if self.content_sent == plan.fault_after:
            if plan.fault == "cut":
                hang_up(self.request)
            if plan.fault == "stall_stream":
                await sleep_ms(plan.stall_ms)
            if plan.fault == "malformed":
                await self.response.write(self.malformed)
        await self.response.write(event)
        self.content_sent += 1

    async def close(self) -> web.StreamResponse:
        await self.response.write_eof()
        return self.response

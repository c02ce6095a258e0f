"""SSE passthrough: forward each complete event as it arrives, and never fake a clean ending.

Events are checked as they pass (a `data:` payload must be JSON or `[DONE]`), which costs a
JSON parse per event and buys honesty: when an upstream stream breaks after it started (cut,
stall past the idle timeout, malformed event, end without `[DONE]`), the client gets an in-band
error event in OpenAI's shape and no `[DONE]`, instead of a truncated answer that looks whole.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .http_client import Response, UpstreamBodyError

DONE = b"[DONE]"


class StreamBroken(Exception):
    """The upstream stream failed after it started; `kind` names how."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class SseScanner:
    """Splits a byte stream into complete SSE events and checks each one."""

    buffer: bytes = b""
    done: bool = False
    usage: dict[str, Any] | None = None
    model: str | None = None
    events: int = field(default=0)

    def feed(self, chunk: bytes) -> bytes:
        """Complete, checked events from this chunk (bytes to forward), keeping any partial tail."""
        data = self.buffer + chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            self.buffer = data
            return b""
        complete, self.buffer = data[: end + 2], data[end + 2 :]
        for event in complete.split(b"\n\n"):
            if event:
                self._check(event)
        return complete

    def _check(self, event: bytes) -> None:
        if self.done:
            raise StreamBroken("protocol", "the upstream sent data after [DONE]")
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue  # comments (":"), "event:", "id:", "retry:" pass as they are
            payload = line[5:].strip()
            if payload == DONE:
                self.done = True
                continue
            obj = _parse(payload)
            if isinstance(obj, dict):
                if "error" in obj:
                    error = obj["error"] if isinstance(obj["error"], dict) else {}
                    raise StreamBroken("upstream_error", str(error.get("message") or "the upstream reported an error"))
                if obj.get("usage"):
                    self.usage = obj["usage"]
                if self.model is None and isinstance(obj.get("model"), str):
                    self.model = obj["model"]
        self.events += 1


def _parse(payload: bytes) -> Any:
    """An event's JSON. orjson checks it in a fraction of the time (it was the largest cost per
    chunk); what orjson refuses but the standard parser takes (integers past 64 bits, NaN) is
    still accepted, so the fast path never calls a good stream broken."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            raise StreamBroken("malformed", "the upstream sent a malformed stream event") from None


def error_event(kind: str, message: str, request_id: str) -> bytes:
    body = {
        "error": {
            "message": f"{message} (request id {request_id})",
            "type": "upstream_error",
            "param": None,
            "code": f"upstream_stream_{kind}",
        }
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


@dataclass
class StreamStart:
    """An upstream stream that has produced its first events but has not been sent on yet."""

    response: Response
    first: bytes
    scanner: SseScanner


async def read_first_events(response: Response, scanner: SseScanner, timeout: float) -> bytes:
    """Read until at least one complete event: until then nothing is committed to the client,
    so a failure here can still be retried or fall back."""
    async with asyncio.timeout(timeout):
        while True:
            chunk = await response.readany()
            if not chunk:
                raise StreamBroken("cut", "the upstream closed the stream before its first event")
            out = scanner.feed(chunk)
            if out:
                return out


async def pump(
    response: Response,
    scanner: SseScanner,
    out: web.StreamResponse,
    idle: float,
    deadline: float,
) -> None:
    """Forward the rest of the stream; raise StreamBroken if it does not end with [DONE]."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(min(loop.time() + idle, deadline)) as timer:
            while True:
                chunk = await response.readany()
                if not chunk:
                    break
                forward = scanner.feed(chunk)
                if forward:
                    await out.write(forward)
                timer.reschedule(min(loop.time() + idle, deadline))
    except TimeoutError:
        raise StreamBroken(
            "stalled" if loop.time() < deadline else "timeout", "the upstream stopped sending; the answer is incomplete"
        ) from None
    except (UpstreamBodyError, OSError):
        raise StreamBroken("cut", "the upstream connection broke mid-stream; the answer is incomplete") from None
    if scanner.buffer.strip():
        raise StreamBroken("cut", "the upstream stream ended inside an event; the answer is incomplete")
    if not scanner.done:
        raise StreamBroken("no_done", "the upstream stream ended without [DONE]; the answer may be incomplete")

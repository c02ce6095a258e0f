"""SSE passthrough: forward each complete event as it arrives, and never fake a clean ending.

`UpstreamStream` owns an upstream stream from its first events to the release of its connection.
Events are checked as they pass by the API's scanner (`SseScanner` here for chat-style streams:
a `data:` payload must be JSON or `[DONE]`; responses_stream.py for the Responses API's typed
events), which costs a JSON parse per event and buys honesty: when an upstream stream breaks after
it started (cut, stall past the idle timeout, malformed event, end without its end marker), the
client gets the event that ends a failed stream in the API's own shape, and no end marker, instead
of a truncated answer that looks whole.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiohttp import web

from llm_common.openai_errors import error_body

from .http_client import Response, UpstreamBodyError

DONE = b"[DONE]"


MAX_EVENT_BYTES = 1024 * 1024  # one SSE event; real ones are a few hundred bytes


class StreamBroken(Exception):
    """The upstream stream failed after it started; `kind` names how. `passed`: the whole, checked
    events that came in the same read before the one that broke it (still the client's)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.passed = b""


@dataclass
class ClientGone(Exception):
    """The client closed its connection while its answer was being written (not the upstream's fault)."""


@dataclass
class SseScanner:
    """Splits a byte stream into complete SSE events and checks each one.

    This class checks chat-style streams (chat and legacy completions): `data:` JSON chunks, then
    `data: [DONE]`; a chunk `{"error": ...}` is the upstream failing. Another API's stream has a
    subclass (`_check`, `end`, `failure_event`); `feed` stays the same for all.
    """

    end: ClassVar[str] = "[DONE]"  # what a whole stream ends with, as error messages name it

    buffer: bytes = b""
    done: bool = False  # the end marker arrived
    failed: bool = False  # the stream ended whole, with the upstream's own event for a failed answer
    usage: dict[str, Any] | None = None
    model: str | None = None
    events: int = field(default=0)
    strip_usage: bool = False  # drop the usage-only chunk (asked for by the proxy, not the client)

    def feed(self, chunk: bytes) -> bytes:
        """Complete, checked events from this chunk (bytes to forward), keeping any partial tail."""
        data = self.buffer + chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            if len(data) > MAX_EVENT_BYTES:  # an event without end would be held, and copied, without limit
                raise StreamBroken("malformed", f"the upstream sent an event larger than {MAX_EVENT_BYTES} bytes")
            self.buffer = data
            return b""
        complete, self.buffer = data[: end + 2], data[end + 2 :]
        events = complete.split(b"\n\n")
        if not self.strip_usage:
            checked = self.events
            try:
                for event in events:
                    if event:
                        self._check(event)
            except StreamBroken as exc:
                # Each event that passed its check counted itself: those reach the client before the error.
                exc.passed = b"".join(e + b"\n\n" for e in [e for e in events if e][: self.events - checked])
                raise
            return complete
        kept: list[bytes] = []
        try:
            for event in events:
                if event and (forwarded := self._check(event)) is not None:
                    kept.append(forwarded)
        except StreamBroken as exc:
            exc.passed = b"".join(e + b"\n\n" for e in kept)
            raise
        return b"".join(e + b"\n\n" for e in kept)

    def _check(self, event: bytes) -> bytes | None:
        """Check one event; return it as it is forwarded (None: stripped). With `strip_usage` the
        usage-only chunk goes and so does `"usage": null` in the others, so a client that did not
        ask for usage gets the bytes it would have got without the proxy asking."""
        if self.done:
            raise StreamBroken("protocol", "the upstream sent data after [DONE]")
        lines = event.split(b"\n")
        for index, line in enumerate(lines):
            if not line.startswith(b"data:"):
                continue  # comments (":"), "event:", "id:", "retry:" pass as they are
            payload = line[5:].strip()
            if payload == DONE:
                self.done = True
                continue
            obj = parse_event(payload)
            if isinstance(obj, dict):
                if "error" in obj:
                    error = obj["error"] if isinstance(obj["error"], dict) else {}
                    raise StreamBroken("upstream_error", str(error.get("message") or "the upstream reported an error"))
                if obj.get("usage"):
                    self.usage = obj["usage"]
                    if self.strip_usage and obj.get("choices") == []:
                        self.events += 1
                        return None
                elif self.strip_usage and "usage" in obj:
                    lines[index] = _NULL_USAGE.sub(b"", line, count=1)
                    event = b"\n".join(lines)
                if self.model is None and isinstance(obj.get("model"), str):
                    self.model = obj["model"]
        self.events += 1
        return event

    def failure_event(self, kind: str, message: str, request_id: str) -> bytes:
        """The in-band error that ends a broken chat-style stream (no `[DONE]` follows)."""
        body = error_body(f"{message} (request id {request_id})", "upstream_error", f"upstream_stream_{kind}")
        return b"data: " + json.dumps(body).encode() + b"\n\n"


# `"usage": null` as a member of a JSON object (with its comma), in a chunk the proxy asked usage for.
_NULL_USAGE = re.compile(rb',\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,\s*')


def parse_event(payload: bytes) -> Any:
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


@dataclass
class StreamOutcome:
    """How a relayed stream went: when its first byte reached the client, its usage, how it broke."""

    first_byte_at: float | None = None  # time.perf_counter()
    usage: dict[str, Any] | None = None
    # StreamBroken.kind, upstream_error (an upstream's own failure event), client_stalled (it stopped
    # reading for `idle`) or client_gone (it closed the connection)
    broken: str | None = None


class UpstreamStream:
    """An upstream SSE stream, from its first events to the release of its connection.

    `open()` reads until the first complete event: until then nothing is committed to the
    client, so a failure can still be retried or fall back. `relay()` sends it on and always
    hands the connection back (to the pool when read to its end, else closed).
    """

    def __init__(self, response: Response, scanner: SseScanner) -> None:
        self.response = response
        self.scanner = scanner
        self.first = b""

    async def open(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not self.first:
                chunk = await self.response.readany()
                if not chunk:
                    raise StreamBroken("cut", "the upstream closed the stream before its first event")
                self.first = self.scanner.feed(chunk)

    def close(self) -> None:
        """Drop the upstream connection (a stream abandoned before it was relayed)."""
        self.response.close()

    async def relay(
        self,
        request: web.Request,
        out: web.StreamResponse,
        *,
        idle: float,
        deadline: float,
        request_id: str,
    ) -> StreamOutcome:
        outcome = StreamOutcome()
        try:
            # Every write waits for the client to take what was sent: one that does not read for
            # `idle` seconds is dropped, not waited for with its connection and the upstream's.
            async with asyncio.timeout(idle):
                await out.prepare(request)
                await out.write(self.first)
            outcome.first_byte_at = time.perf_counter()
            try:
                await self._pump(out, idle, deadline)
            except StreamBroken as exc:
                outcome.broken = exc.kind
                async with asyncio.timeout(idle):
                    await out.write(exc.passed + self.scanner.failure_event(exc.kind, exc.message, request_id))
                return outcome  # no end marker: the client must not take this for a complete answer
            outcome.usage = self.scanner.usage  # an upstream's failed answer may report what it cost too
            if self.scanner.failed:
                outcome.broken = "upstream_error"
            async with asyncio.timeout(idle):
                await out.write_eof()
            return outcome
        except TimeoutError:
            outcome.broken = "client_stalled"
            if request.transport is not None:
                request.transport.abort()  # its buffer will never drain: closing would wait for it
            return outcome
        except (ClientGone, ConnectionResetError):  # every write here is to the client
            outcome.broken = "client_gone"
            return outcome
        finally:
            # Read to its end, the upstream connection serves the next request; otherwise it is dropped.
            self.response.release()

    async def _pump(self, out: web.StreamResponse, idle: float, deadline: float) -> None:
        """Forward the rest of the stream; raise StreamBroken if it does not end with its end marker."""
        loop = asyncio.get_running_loop()
        response, scanner = self.response, self.scanner
        try:
            async with asyncio.timeout_at(min(loop.time() + idle, deadline)) as timer:
                while True:
                    chunk = await response.readany()
                    if not chunk:
                        break
                    forward = scanner.feed(chunk)
                    if forward:
                        try:
                            await out.write(forward)
                        except ConnectionResetError:  # told apart from the upstream's errors below
                            raise ClientGone from None
                    timer.reschedule(min(loop.time() + idle, deadline))
        except TimeoutError:
            raise StreamBroken(
                "stalled" if loop.time() < deadline else "timeout",
                "the upstream stopped sending; the answer is incomplete",
            ) from None
        except (UpstreamBodyError, OSError):
            raise StreamBroken("cut", "the upstream connection broke mid-stream; the answer is incomplete") from None
        if scanner.buffer.strip():
            raise StreamBroken("cut", "the upstream stream ended inside an event; the answer is incomplete")
        if not scanner.done:
            raise StreamBroken(
                "no_done", f"the upstream stream ended without {scanner.end}; the answer may be incomplete"
            )

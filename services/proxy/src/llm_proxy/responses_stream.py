"""The Responses API's stream, checked as it passes: typed events, a terminal event, an honest failure.

A Responses stream is `event:` + `data:` pairs, each `data:` a JSON object with its `type` and
`sequence_number`, from `response.created` to one terminal event: `response.completed`,
`response.incomplete` or `response.failed` (there is no `[DONE]`; one after the terminal event is
let through, as some OpenAI-compatible servers send it). An `error` event is the upstream failing.

When the stream breaks after it started, the client gets what OpenAI sends for a failed response:
`event: response.failed` with the response the stream began (same id, so the SDK's stream state
accepts it), `status: "failed"` and an `error` (`code: "server_error"`, OpenAI's codes being a fixed
list, with the message saying what broke), numbered after the last event that arrived. The official
SDK yields it as a `ResponseFailedEvent`, and its `responses.stream()` helper refuses to produce a
final response; a `response.completed` is never made up.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from .streaming import DONE, SseScanner, StreamBroken, parse_event

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass
class ResponsesScanner(SseScanner):
    end: ClassVar[str] = "response.completed"

    response: dict[str, Any] | None = None  # the response as the stream began it (response.created)
    sequence: int = -1  # the last sequence_number seen
    closed: bool = False  # a `[DONE]` followed the terminal event

    def _check(self, event: bytes) -> bytes | None:
        if self.closed:
            raise StreamBroken("protocol", "the upstream sent data after [DONE]")
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue  # "event:" (the type is read from the data), comments, "id:", "retry:"
            payload = line[5:].strip()
            if payload == DONE:
                if not self.done:
                    raise StreamBroken("no_done", f"the upstream ended the stream without {self.end}")
                self.closed = True
                continue
            if self.done:
                raise StreamBroken("protocol", "the upstream sent events after the response ended")
            obj = parse_event(payload)
            if not isinstance(obj, dict):
                continue
            kind = obj.get("type")
            if kind == "error":  # replaced by the proxy's response.failed, which takes its number
                raise StreamBroken("upstream_error", _error_message(obj))
            sequence = obj.get("sequence_number")
            if isinstance(sequence, int):
                self.sequence = sequence
            response = obj.get("response")
            if not isinstance(response, dict):
                continue
            if kind in TERMINAL:
                self.done = True
                self.failed = kind == "response.failed"
                usage = response.get("usage")
                if isinstance(usage, dict):
                    self.usage = usage
            elif self.response is None:
                self.response = response
            if self.model is None and isinstance(response.get("model"), str):
                self.model = response["model"]
        self.events += 1
        return event

    def failure_event(self, kind: str, message: str, request_id: str) -> bytes:
        """`response.failed`, numbered after the last event, for the response the stream began."""
        failed = {
            **(self.response or self._placeholder(request_id)),
            "status": "failed",
            "completed_at": None,
            "error": {
                "code": "server_error",
                "message": f"{message} (upstream_stream_{kind}, request id {request_id})",
            },
        }
        number = self.sequence + 1 if self.sequence >= 0 else self.events
        data = {"type": "response.failed", "sequence_number": number, "response": failed}
        return b"event: response.failed\ndata: " + json.dumps(data).encode() + b"\n\n"

    def _placeholder(self, request_id: str) -> dict[str, Any]:
        """A response object for a stream that broke before the upstream said which response it was."""
        return {
            "id": f"resp_{request_id}",
            "object": "response",
            "created_at": int(time.time()),
            "model": self.model or "unknown",
            "output": [],
            "tools": [],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "instructions": None,
            "incomplete_details": None,
            "temperature": None,
            "top_p": None,
            "metadata": {},
            "usage": None,
        }


def _error_message(event: dict[str, Any]) -> str:
    """The message of an `error` event: at the top level as documented, or nested as some servers send it."""
    message = event.get("message")
    nested = event.get("error")
    if not isinstance(message, str) and isinstance(nested, dict):
        message = nested.get("message")
    return message if isinstance(message, str) and message else "the upstream reported an error"

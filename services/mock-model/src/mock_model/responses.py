"""`POST /v1/responses`: OpenAI's Responses API, as a `response` object or its typed event stream.

`input` is a string or a list of items; messages (`{"role", "content"}`, with or without
`"type": "message"`) are what the answer and the token count read, with `instructions` counted as a
developer message first. Other item types (tool calls and their outputs) are accepted and counted.
The answer is the same one chat gives for the same last user message.

The stream is the event sequence a real text answer has, each event an `event:` line and a `data:`
JSON with its `type` and `sequence_number`: response.created, response.in_progress,
response.output_item.added, response.content_part.added, response.output_text.delta (one per
piece), response.output_text.done, response.content_part.done, response.output_item.done, then
response.completed (or response.incomplete when `max_output_tokens` cut the answer) with usage.
The mock stores nothing: `previous_response_id` is refused as OpenAI refuses an unknown one, and
tools are accepted but never called.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import delivery, tokens, validation
from .answers import Answer
from .chat import last_user_text
from .errors import InvalidRequest
from .faults import Plan, split_model_suffix
from .state import ANSWERS, METRICS

INPUT_ROLES = frozenset({"user", "assistant", "system", "developer"})
MIN_OUTPUT_TOKENS = 16  # OpenAI refuses a smaller max_output_tokens


@dataclass(frozen=True)
class ResponsesRequest:
    model: str
    messages: list[dict[str, Any]]  # instructions first, then the input's messages
    other_items: list[dict[str, Any]]  # input items that are not messages
    instructions: str | None
    stream: bool
    max_output_tokens: int | None
    temperature: float
    top_p: float
    store: bool
    metadata: dict[str, str]
    suffix: dict[str, str]


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in INPUT_ROLES:
        raise InvalidRequest(
            f"{where}.role must be one of {sorted(INPUT_ROLES)}, got {role!r}",
            param=f"{where}.role",
            code="invalid_value",
        )
    content = item.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise InvalidRequest(
                    f"{where}.content[{j}] must be an object with a 'type'",
                    param=f"{where}.content[{j}]",
                    code="invalid_type",
                )
    elif not isinstance(content, str):
        raise InvalidRequest(
            f"{where}.content must be a string or a list of content parts",
            param=f"{where}.content",
            code="invalid_type",
        )
    return {"role": role, "content": content}


def parse_input(value: object) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The input's messages, and its other items."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}], []
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            "'input' must be a string or a non-empty list of input items", param="input", code="invalid_type"
        )
    messages, others = [], []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRequest(f"input[{i}] must be an object", param=f"input[{i}]", code="invalid_type")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, f"input[{i}]"))
        elif isinstance(kind, str):
            others.append(item)
        else:
            raise InvalidRequest(f"input[{i}].type must be a string", param=f"input[{i}].type", code="invalid_type")
    return messages, others


def parse_responses_request(raw: bytes) -> ResponsesRequest:
    body = validation.json_object(raw)
    model = validation.model_name(body)
    if body.get("previous_response_id") is not None:
        raise InvalidRequest(
            f"Previous response with id {body['previous_response_id']!r} not found (the mock model stores no responses).",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    if body.get("input") is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    messages, others = parse_input(body["input"])
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequest("'instructions' must be a string", param="instructions", code="invalid_type")
    if instructions:
        messages.insert(0, {"role": "developer", "content": instructions})
    validation.numbers(body, "temperature", "top_p")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidRequest("'metadata' must be an object of strings", param="metadata", code="invalid_type")
    name, suffix = split_model_suffix(model)
    return ResponsesRequest(
        model=name,
        messages=messages,
        other_items=others,
        instructions=instructions,
        stream=validation.boolean(body, "stream"),
        max_output_tokens=validation.integer(body, "max_output_tokens", MIN_OUTPUT_TOKENS),
        temperature=_number_or(body, "temperature", 1.0),
        top_p=_number_or(body, "top_p", 1.0),
        store=validation.boolean(body, "store", default=True),
        metadata=metadata,
        suffix=suffix,
    )


def _number_or(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)  # checked to be a number or null already
    return float(value) if value is not None else default


def _input_tokens(req: ResponsesRequest) -> int:
    items = sum(tokens.count(json.dumps(item, sort_keys=True)) for item in req.other_items)
    return tokens.count_chat_prompt(req.messages) + items


class ResponseBuilder:
    """The `response` object and its output item at each point of the answer's life."""

    def __init__(self, req: ResponsesRequest, answer: Answer) -> None:
        self.req = req
        self.answer = answer
        self.id = f"resp_mock{answer.digest[:40]}"
        self.item_id = f"msg_mock{answer.digest[:40]}"
        self.created_at = int(time.time())
        self.final_status = "incomplete" if answer.truncated else "completed"

    def part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def item(self, done: bool) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "type": "message",
            "status": self.final_status if done else "in_progress",
            "role": "assistant",
            "content": [self.part(self.answer.text)] if done else [],
        }

    def usage(self) -> dict[str, Any]:
        a = self.answer
        return {
            "input_tokens": a.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": a.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": a.prompt_tokens + a.completion_tokens,
        }

    def response(self, done: bool) -> dict[str, Any]:
        req = self.req
        status = self.final_status if done else "in_progress"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": self.created_at if status == "completed" else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "max_tool_calls": None,
            "model": req.model,
            "output": [self.item(done=True)] if done else [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": req.store,
            "temperature": req.temperature,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": req.top_p,
            "truncation": "disabled",
            "usage": self.usage() if done else None,
            "user": None,
            "metadata": req.metadata,
        }


async def create_response(request: web.Request) -> web.StreamResponse:
    req = parse_responses_request(await request.read())
    plan = await delivery.begin(request, req.suffix, "input")
    answer = request.app[ANSWERS].answer(
        material=["responses", req.messages, req.other_items],
        model=req.model,
        question=lambda: last_user_text(req.messages),
        prompt_tokens=lambda: _input_tokens(req),
        max_tokens=req.max_output_tokens,
        response_tokens=plan.response_tokens,
    )
    request.app[METRICS].count_tokens(answer.prompt_tokens, answer.completion_tokens)
    built = ResponseBuilder(req, answer)
    if not req.stream:
        return await delivery.send_json(request, plan, built.response(done=True))
    return await _stream(request, plan, built)


class _Events:
    """Numbers the events of one stream, as `sequence_number` does."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self.next, **fields}
        self.next += 1
        return delivery.sse(event, event=kind)


async def _stream(request: web.Request, plan: Plan, built: ResponseBuilder) -> web.StreamResponse:
    event = _Events()
    malformed = b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", {not json\n\n'
    stream = delivery.EventStream(request, plan, malformed)
    at = {"item_id": built.item_id, "output_index": 0, "content_index": 0}
    await stream.open()
    await stream.send(event("response.created", response=built.response(done=False)))
    await stream.send(event("response.in_progress", response=built.response(done=False)))
    await stream.send(event("response.output_item.added", output_index=0, item=built.item(done=False)))
    await stream.send(event("response.content_part.added", **at, part=built.part("")))
    for piece in tokens.split_tokens(built.answer.text, stream.plan.tokens_per_chunk):
        await stream.send_content(event("response.output_text.delta", **at, delta=piece, logprobs=[]))
    text = built.answer.text
    await stream.send(event("response.output_text.done", **at, text=text, logprobs=[]))
    await stream.send(event("response.content_part.done", **at, part=built.part(text)))
    await stream.send(event("response.output_item.done", output_index=0, item=built.item(done=True)))
    if stream.plan.fault != "no_done":  # `no_done`: the stream ends without its terminal event
        await stream.send(event(f"response.{built.final_status}", response=built.response(done=True)))
    return await stream.close()

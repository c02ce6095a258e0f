"""`POST /v1/chat/completions`: deterministic answers, OpenAI shapes, latency model and faults."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import tokens
from .errors import InjectedFault, InvalidRequest, MockError
from .faults import STREAM_ONLY, Plan, split_model_suffix
from .keys import ANSWERS, FAULTS, KNOWLEDGE, METRICS

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    suffix: dict[str, str]


def parse_chat_request(raw: bytes) -> ChatRequest:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            "'model' is required and must be a non-empty string",
            param="model",
            code="invalid_type" if "model" in body else "missing_field",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' must be a non-empty list of messages",
            param="messages",
            code="invalid_type" if "messages" in body else "missing_field",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"messages[{i}].role must be one of {sorted(ROLES)}, got {role!r}",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        content = message.get("content")
        if not (content is None or isinstance(content, (str, list))):
            raise InvalidRequest(
                f"messages[{i}].content must be a string or a list of parts",
                param=f"messages[{i}].content",
                code="invalid_type",
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream", code="invalid_type")
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidRequest(f"'{name}' must be a number", param=name, code="invalid_type")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise InvalidRequest("'max_tokens' must be a positive integer", param="max_tokens", code="invalid_type")
    n = body.get("n", 1)
    if n != 1:
        raise InvalidRequest(
            "the mock model answers with exactly one choice ('n' must be 1)", param="n", code="unsupported_value"
        )
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options", code="invalid_type")
    name, suffix = split_model_suffix(model)
    return ChatRequest(name, messages, stream, bool(options.get("include_usage")), max_tokens, suffix)


@dataclass(frozen=True)
class Answer:
    """Everything about an answer that does not depend on the clock or the fault plan."""

    id: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


class AnswerCache:
    """Answers keyed by request content: the same request is answered the same way, and cheaply."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Answer] = OrderedDict()

    def get(self, key: tuple) -> Answer | None:
        answer = self._items.get(key)
        if answer is not None:
            self._items.move_to_end(key)
        return answer

    def put(self, key: tuple, answer: Answer) -> None:
        self._items[key] = answer
        if len(self._items) > self.size:
            self._items.popitem(last=False)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return tokens._content_text(message.get("content"))
    return ""


def compute_answer(request: web.Request, chat: ChatRequest, plan: Plan) -> Answer:
    cache = request.app[ANSWERS]
    key_material = json.dumps(
        [chat.model, chat.messages, chat.max_tokens, plan.response_tokens], sort_keys=True, separators=(",", ":")
    )
    key = (key_material,)
    answer = cache.get(key)
    if answer is None:
        if plan.response_tokens:
            text = tokens.text_of_length(plan.response_tokens)
        else:
            text = request.app[KNOWLEDGE].answer(_last_user_text(chat.messages), chat.model)
        finish = "stop"
        if chat.max_tokens is not None and tokens.count(text) > chat.max_tokens:
            text, finish = tokens.truncate_to_tokens(text, chat.max_tokens), "length"
        digest = hashlib.sha256(key_material.encode()).hexdigest()[:24]
        answer = Answer(
            f"chatcmpl-mock{digest}", text, tokens.count_chat_prompt(chat.messages), tokens.count(text), finish
        )
        cache.put(key, answer)
    return answer


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


async def _sleep_ms(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


def raise_status_fault(plan: Plan) -> None:
    """Faults that are an HTTP error response, in OpenAI's error shape."""
    if plan.fault == "status":
        status = plan.status
        code = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout"}.get(
            status, f"http_{status}"
        )
        raise InjectedFault(f"mock model injected fault: HTTP {status}", status=status, code=code)
    if plan.fault == "rate_limit":
        err = InjectedFault(
            "mock model injected fault: rate limit reached, retry later",
            status=429,
            code="rate_limit_exceeded",
            headers={"Retry-After": f"{plan.retry_after:g}"},
        )
        err.type = "rate_limit_error"
        raise err
    if plan.fault == "context_length":
        err = InvalidRequest(
            "This model's maximum context length is 16385 tokens (mock model injected fault).",
            param="messages",
            code="context_length_exceeded",
        )
        raise err


async def chat_completions(request: web.Request) -> web.StreamResponse:
    chat = parse_chat_request(await request.read())
    faults = request.app[FAULTS]
    plan = faults.plan(request.headers, chat.suffix)
    metrics = request.app[METRICS]
    if plan.fault:
        metrics.faults.labels(plan.fault).inc()
    headers = {"X-Mock-Attempt": str(plan.attempt)}
    if plan.fault == "reset":
        # No response at all: the caller sees its connection reset.
        request.transport.abort()
        raise asyncio.CancelledError
    if plan.fault == "stall_headers":
        await _sleep_ms(plan.stall_ms)
    try:
        raise_status_fault(plan)
    except MockError as exc:
        exc.headers.update(headers)
        raise
    answer = compute_answer(request, chat, plan)
    metrics.count_tokens(answer.prompt_tokens, answer.completion_tokens)
    if chat.stream:
        return await _stream(request, chat, answer, plan, headers)
    if plan.fault in STREAM_ONLY:
        pass  # stream-only faults leave a non-streaming answer untouched
    await _sleep_ms(plan.ttft_ms + faults.jitter(plan))
    body = {
        "id": answer.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model,
        "system_fingerprint": "fp_mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": _usage(answer),
    }
    payload = json.dumps(body).encode()
    if plan.fault == "cut":
        # Promise the whole body, send half, hang up.
        response = web.StreamResponse(headers={**headers, "Content-Type": "application/json"})
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        request.transport.close()
        raise asyncio.CancelledError
    return web.Response(body=payload, content_type="application/json", headers=headers)


def _event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def _stream(
    request: web.Request, chat: ChatRequest, answer: Answer, plan: Plan, headers: dict[str, str]
) -> web.StreamResponse:
    faults = request.app[FAULTS]
    response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    created = int(time.time())
    usage_null = {"usage": None} if chat.include_usage else {}

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return _event(
            {
                "id": answer.id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": chat.model,
                "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                **usage_null,
            }
        )

    await _sleep_ms(plan.ttft_ms + faults.jitter(plan))
    if plan.fault == "cut" and plan.fault_after == 0:
        request.transport.close()  # headers sent, then nothing: cut before the first event
        raise asyncio.CancelledError
    await response.write(chunk({"role": "assistant", "content": "", "refusal": None}))
    for sent, piece in enumerate(tokens.split_tokens(answer.text, plan.tokens_per_chunk)):
        if sent and plan.token_delay_ms:
            await _sleep_ms(plan.token_delay_ms + faults.jitter(plan))
        if sent == plan.fault_after:
            if plan.fault == "cut":
                request.transport.close()
                raise asyncio.CancelledError
            if plan.fault == "stall_stream":
                await _sleep_ms(plan.stall_ms)
            if plan.fault == "malformed":
                await response.write(b'data: {"id": "' + answer.id.encode() + b'", "choices": [{not json\n\n')
        await response.write(chunk({"content": piece}))
    await response.write(chunk({}, answer.finish_reason))
    if chat.include_usage:
        await response.write(
            _event(
                {
                    "id": answer.id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": chat.model,
                    "system_fingerprint": "fp_mock",
                    "choices": [],
                    "usage": _usage(answer),
                }
            )
        )
    if plan.fault != "no_done":
        await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response

"""`POST /v1/chat/completions`: deterministic answers in OpenAI's shapes, JSON or SSE."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import delivery, tokens, validation
from .answers import Answer
from .errors import InvalidRequest
from .faults import split_model_suffix
from .state import ANSWERS, METRICS

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    suffix: dict[str, str]


def validate_messages(messages: object, param: str = "messages") -> list[dict[str, Any]]:
    """A non-empty list of messages with known roles and string or list-of-parts content."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(f"'{param}' must be a non-empty list of messages", param=param, code="invalid_type")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"{param}[{i}] must be an object", param=f"{param}[{i}]", code="invalid_type")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"{param}[{i}].role must be one of {sorted(ROLES)}, got {role!r}",
                param=f"{param}[{i}].role",
                code="invalid_value",
            )
        content = message.get("content")
        if not (content is None or isinstance(content, (str, list))):
            raise InvalidRequest(
                f"{param}[{i}].content must be a string or a list of parts",
                param=f"{param}[{i}].content",
                code="invalid_type",
            )
    return messages


def parse_chat_request(raw: bytes) -> ChatRequest:
    body = validation.json_object(raw)
    model = validation.model_name(body)
    if "messages" not in body:
        raise InvalidRequest("'messages' must be a non-empty list of messages", param="messages", code="missing_field")
    messages = validate_messages(body["messages"])
    stream = validation.boolean(body, "stream")
    validation.numbers(body, "temperature", "top_p", "presence_penalty", "frequency_penalty")
    if body.get("max_completion_tokens") is not None:
        max_tokens = validation.integer(body, "max_completion_tokens", 1)
    else:
        max_tokens = validation.integer(body, "max_tokens", 1)
    validation.single_choice(body)
    usage = validation.include_usage(body)
    name, suffix = split_model_suffix(model)
    return ChatRequest(name, messages, stream, usage, max_tokens, suffix)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return tokens.content_text(message.get("content"))
    return ""


def usage_of(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


async def chat_completions(request: web.Request) -> web.StreamResponse:
    chat = parse_chat_request(await request.read())
    plan = await delivery.begin(request, chat.suffix, "messages")
    answer = request.app[ANSWERS].answer(
        material=["chat", chat.messages],
        model=chat.model,
        question=lambda: last_user_text(chat.messages),
        prompt_tokens=lambda: tokens.count_chat_prompt(chat.messages),
        max_tokens=chat.max_tokens,
        response_tokens=plan.response_tokens,
    )
    request.app[METRICS].count_tokens(answer.prompt_tokens, answer.completion_tokens)
    completion_id = f"chatcmpl-mock{answer.digest[:24]}"
    if chat.stream:
        return await _stream(
            delivery.EventStream(request, plan, _malformed(completion_id)), chat, answer, completion_id
        )
    body = {
        "id": completion_id,
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
        "usage": usage_of(answer),
    }
    return await delivery.send_json(request, plan, body)


def _malformed(completion_id: str) -> bytes:
    return b'data: {"id": "' + completion_id.encode() + b'", "choices": [{not json\n\n'


async def _stream(
    stream: delivery.EventStream, chat: ChatRequest, answer: Answer, completion_id: str
) -> web.StreamResponse:
    created = int(time.time())
    usage_null = {"usage": None} if chat.include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return delivery.sse(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": chat.model,
                "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                **usage_null,
            }
        )

    await stream.open()
    await stream.send(chunk({"role": "assistant", "content": "", "refusal": None}))
    for piece in tokens.split_tokens(answer.text, stream.plan.tokens_per_chunk):
        await stream.send_content(chunk({"content": piece}))
    await stream.send(chunk({}, answer.finish_reason))
    if chat.include_usage:
        usage_chunk = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": chat.model,
            "system_fingerprint": "fp_mock",
            "choices": [],
            "usage": usage_of(answer),
        }
        await stream.send(delivery.sse(usage_chunk))
    if stream.plan.fault != "no_done":
        await stream.send(b"data: [DONE]\n\n")
    return await stream.close()

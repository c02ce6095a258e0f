"""`POST /v1/chat/completions`: deterministic answers in OpenAI's shapes, JSON or SSE."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from llm_common import bodies

from . import delivery, tokens, validation
from .answers import Answer
from .errors import InvalidRequest
from .faults import split_model_suffix
from .state import ANSWERS, METRICS

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_MESSAGES = 100_000  # the proxy enforces the configured limit; the mock answers what it is sent


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    suffix: dict[str, str]


def check_roles(messages: list[dict[str, Any]]) -> None:
    """OpenAI refuses a role it does not know; the proxy passes roles on, so only the mock checks."""
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"messages[{i}].role must be one of {sorted(ROLES)}, got {role!r}",
                param=f"messages[{i}].role",
                code="invalid_value",
            )


def parse_chat_request(raw: bytes) -> ChatRequest:
    body = validation.json_object(raw)
    # The checks the proxy makes (llm_common), then the roles only the mock insists on.
    checked = bodies.check_chat(body, max_messages=MAX_MESSAGES)
    check_roles(checked.messages)
    validation.numbers(body, "temperature", "top_p", "presence_penalty", "frequency_penalty")
    if body.get("max_completion_tokens") is not None:
        max_tokens = validation.integer(body, "max_completion_tokens", 1)
    else:
        max_tokens = validation.integer(body, "max_tokens", 1)
    validation.single_choice(body)
    usage = validation.include_usage(body)
    name, suffix = split_model_suffix(checked.model)
    return ChatRequest(name, checked.messages, checked.stream, usage, max_tokens, suffix)


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

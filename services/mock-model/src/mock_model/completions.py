"""`POST /v1/completions`, OpenAI's legacy text completions: `text_completion` objects, JSON or SSE.

The prompt is a string, a list of strings, a token array or a list of token arrays; each prompt is
answered as the question it asks (the knowledge pack's fact, or the canned answer) and gets its own
choice, as OpenAI answers a batch of prompts. `max_tokens` defaults to 16, as OpenAI's does, so an
answer longer than that ends with `finish_reason: "length"`. `echo` puts the prompt in front of the
text; `suffix`, `stop`, `logprobs` and the sampling parameters are accepted and do not change the
answer (`logprobs` comes back null).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import delivery, tokens, validation
from .answers import Answer, Answerer, digest_of
from .errors import InvalidRequest
from .faults import split_model_suffix
from .state import ANSWERS, METRICS

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for this API


@dataclass(frozen=True)
class Prompt:
    text: str
    token_count: int


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompts: list[Prompt]
    stream: bool
    include_usage: bool
    max_tokens: int
    echo: bool
    suffix: dict[str, str]


def parse_completion_request(raw: bytes) -> CompletionRequest:
    body = validation.json_object(raw)
    model = validation.model_name(body)
    if "prompt" not in body:
        raise InvalidRequest("'prompt' is required", param="prompt", code="missing_field")
    prompts = [
        Prompt(item, tokens.count(item)) if isinstance(item, str) else Prompt(tokens.decode(item), len(item))
        for item in validation.texts_or_token_arrays(body["prompt"], "prompt")
    ]
    stream = validation.boolean(body, "stream")
    echo = validation.boolean(body, "echo")
    validation.numbers(body, "temperature", "top_p", "presence_penalty", "frequency_penalty")
    max_tokens = validation.integer(body, "max_tokens", 0)
    validation.single_choice(body)
    if body.get("best_of") not in (None, 1):
        raise InvalidRequest(
            "the mock model answers with exactly one choice ('best_of' must be 1)",
            param="best_of",
            code="unsupported_value",
        )
    usage = validation.include_usage(body)
    name, suffix = split_model_suffix(model)
    limit = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    return CompletionRequest(name, prompts, stream, usage, limit, echo, suffix)


def _answer(answerer: Answerer, req: CompletionRequest, prompt: Prompt, response_tokens: int | None) -> Answer:
    return answerer.answer(
        material=["completions", prompt.text],
        model=req.model,
        question=lambda: prompt.text,
        prompt_tokens=lambda: prompt.token_count,
        max_tokens=req.max_tokens,
        response_tokens=response_tokens,
    )


def usage_of(answers: list[Answer]) -> dict[str, int]:
    prompt = sum(a.prompt_tokens for a in answers)
    completion = sum(a.completion_tokens for a in answers)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def completions(request: web.Request) -> web.StreamResponse:
    req = parse_completion_request(await request.read())
    plan = await delivery.begin(request, req.suffix, "prompt")
    answers = [_answer(request.app[ANSWERS], req, prompt, plan.response_tokens) for prompt in req.prompts]
    usage = usage_of(answers)
    request.app[METRICS].count_tokens(usage["prompt_tokens"], usage["completion_tokens"])
    completion_id = "cmpl-mock" + digest_of([a.digest for a in answers] + [req.echo])[:24]
    created = int(time.time())

    def envelope(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": req.model,
            "system_fingerprint": "fp_mock",
            "choices": choices,
        }

    def choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
        return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}

    if not req.stream:
        choices = [
            choice(i, (p.text if req.echo else "") + a.text, a.finish_reason)
            for i, (p, a) in enumerate(zip(req.prompts, answers, strict=True))
        ]
        body = envelope(choices)
        return await delivery.send_json(request, plan, {**body, "usage": usage})

    malformed = b'data: {"id": "' + completion_id.encode() + b'", "choices": [{not json\n\n'
    stream = delivery.EventStream(request, plan, malformed)
    await stream.open()
    for index, (prompt, answer) in enumerate(zip(req.prompts, answers, strict=True)):
        if req.echo:
            await stream.send(delivery.sse(envelope([choice(index, prompt.text, None)])))
        for piece in tokens.split_tokens(answer.text, plan.tokens_per_chunk):
            await stream.send_content(delivery.sse(envelope([choice(index, piece, None)])))
        await stream.send(delivery.sse(envelope([choice(index, "", answer.finish_reason)])))
    if req.include_usage:
        await stream.send(delivery.sse({**envelope([]), "usage": usage}))
    if plan.fault != "no_done":
        await stream.send(b"data: [DONE]\n\n")
    return await stream.close()

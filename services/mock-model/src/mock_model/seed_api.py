"""The seed's `POST /send_inference`, as the original mock server answered it.

Body: the seed's shape, `{"model": {"model_name": ...}, "inference": {"sample_question":
{"status", "selected_question"}, "custom_question": {"status", "your_question"}}}`, or the short
form `{"model_name": ..., "prompt": ...}`. Answer: `{"model_name", "response": {"response",
"your_question"}}`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from llm_common.seed import choose_question

from . import validation
from .errors import InvalidRequest
from .state import KNOWLEDGE

DEFAULT_MODEL = "mock-gpt-model-0701"


def _question(body: dict[str, Any], samples: list[str]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if "inference" not in body:
        raise InvalidRequest("'inference' must be an object (or send 'prompt')", param="inference")
    # The original system's rule, shared with the proxy (llm_common.seed); the mock keeps no
    # per-client state, so it does not ask whether the samples were listed first.
    return choose_question(body["inference"], samples)


async def send_inference(request: web.Request) -> web.Response:
    body = validation.json_object(await request.read())
    model = body.get("model_name")
    nested = body.get("model")
    if model is None and isinstance(nested, dict):
        model = nested.get("model_name")
    model = model or DEFAULT_MODEL
    if not isinstance(model, str):
        raise InvalidRequest("'model.model_name' must be a string", param="model.model_name")
    knowledge = request.app[KNOWLEDGE]
    question = _question(body, knowledge.sample_questions)
    return web.json_response(
        {"model_name": model, "response": {"response": knowledge.answer(question, model), "your_question": question}}
    )

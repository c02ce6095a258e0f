"""The seed's `POST /send_inference`, as the original mock server answered it.

Body: the seed's shape, `{"model": {"model_name": ...}, "inference": {"sample_question":
{"status", "selected_question"}, "custom_question": {"status", "your_question"}}}`, or the short
form `{"model_name": ..., "prompt": ...}`. Answer: `{"model_name", "response": {"response",
"your_question"}}`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import validation
from .errors import InvalidRequest
from .state import KNOWLEDGE

DEFAULT_MODEL = "mock-gpt-model-0701"


def _question(body: dict[str, Any], samples: list[str]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    inference = body.get("inference")
    if not isinstance(inference, dict):
        raise InvalidRequest("'inference' must be an object (or send 'prompt')", param="inference")
    sample = inference.get("sample_question") or {}
    custom = inference.get("custom_question") or {}
    if not isinstance(sample, dict) or not isinstance(custom, dict):
        raise InvalidRequest("'sample_question' and 'custom_question' must be objects", param="inference")
    if bool(sample.get("status")) == bool(custom.get("status")):
        raise InvalidRequest(
            "You are only allowed to choose either make custom question or pick one from the list of sample questions",
            param="inference",
        )
    if custom.get("status"):
        question = custom.get("your_question")
        if not isinstance(question, str) or not question.strip():
            raise InvalidRequest(
                "'custom_question.your_question' must be a non-empty string",
                param="inference.custom_question.your_question",
            )
        return question
    number = sample.get("selected_question")
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidRequest(
            "'sample_question.selected_question' must be an integer",
            param="inference.sample_question.selected_question",
        )
    if not 1 <= number <= len(samples):
        raise InvalidRequest(
            f"The question number {number} you entered is not valid, valid question number "
            f"range from 1 to {len(samples)}",
            param="inference.sample_question.selected_question",
        )
    return samples[number - 1]


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

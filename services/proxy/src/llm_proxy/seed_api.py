"""The original system's API, kept for its users and its Postman collection.

`GET /get_suppored_models` (sic, as the seed spelled it; `/get_supported_models` also works),
`GET /get_sample_questions`, `POST /send_inference`. Bodies, shapes and error messages are the
seed's; status codes now fit the error. Answers go through the same routing, grounding,
retries and fallbacks as `/v1/chat/completions`.

The seed refused a sample-question number from a client that had not listed the questions yet.
That rule is kept per client: a client is its API key when keys are on, else its address (the
first X-Forwarded-For hop behind an ingress). Listing the questions also sets a cookie, so a
client that keeps cookies (Postman does) is recognised by every replica.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web

from .errors import ProxyError, UpstreamStatus, UpstreamTimeout
from .forwarding import forward
from .keys import KNOWLEDGE, REDACTOR, ROUTES, SEEN_SAMPLES, SETTINGS
from .resilience import RetryPolicy
from .routing import Route

SEED_GROUPS = {"fine-tuned": "fined_tune_model", "mock": "mock_model", "openai": "open_ai_models"}
SEEN_COOKIE = "llm_proxy_seen_samples"
SEEN_TTL = 24 * 3600.0


class SeedError(ProxyError):
    """An error in the seed's shape: `{"error": "<message>", ...extra keys}`."""

    status = 400

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message, status=status)
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


class SeenSamples:
    """Which clients have listed the sample questions (bounded, expiring)."""

    def __init__(self, size: int = 10_000, ttl: float = SEEN_TTL) -> None:
        self.size, self.ttl = size, ttl
        self._seen: OrderedDict[str, float] = OrderedDict()

    def mark(self, client: str) -> None:
        self._seen[client] = time.monotonic()
        self._seen.move_to_end(client)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def has(self, client: str) -> bool:
        seen = self._seen.get(client)
        return seen is not None and time.monotonic() - seen < self.ttl


def client_identity(request: web.Request) -> str:
    client = request.get("client")
    if client is not None:
        return f"key:{client.name}"
    forwarded = request.headers.get("X-Forwarded-For", "")
    return "addr:" + (forwarded.split(",")[0].strip() or request.remote or "unknown")


async def supported_models(request: web.Request) -> web.Response:
    grouped: dict[str, list[str]] = {key: [] for key in SEED_GROUPS.values()}
    client = request.get("client")
    for route in request.app[ROUTES].current.routes.values():
        if client is None or client.allows(route.name):
            grouped[SEED_GROUPS[route.group]].append(route.name)
    return web.json_response({"message": grouped})


async def sample_questions(request: web.Request) -> web.Response:
    questions = request.app[KNOWLEDGE].current.sample_questions
    request.app[SEEN_SAMPLES].mark(client_identity(request))
    response = web.json_response({"response": [f"question {i}: {q}" for i, q in enumerate(questions, 1)]})
    response.set_cookie(SEEN_COOKIE, "1", max_age=int(SEEN_TTL), httponly=True, samesite="Lax")
    return response


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SeedError(f"'{where}' is required and must be an object")
    return value


def _question(request: web.Request, inference: dict[str, Any]) -> str:
    sample = _object(inference.get("sample_question"), "inference.sample_question")
    custom = _object(inference.get("custom_question"), "inference.custom_question")
    for where, part in (("sample_question", sample), ("custom_question", custom)):
        if not isinstance(part.get("status"), bool):
            raise SeedError(f"'inference.{where}.status' is required and must be true or false")
    if sample["status"] == custom["status"]:
        raise SeedError(
            "You are only allowed to choose either make custom question or pick one from the list of sample questions"
        )
    if custom["status"]:
        question = custom.get("your_question")
        if not isinstance(question, str) or not question.strip():
            raise SeedError("'inference.custom_question.your_question' must be a non-empty string")
        return question
    number = sample.get("selected_question")
    if isinstance(number, bool) or not isinstance(number, int):
        raise SeedError("'inference.sample_question.selected_question' must be a whole number")
    if not (request.cookies.get(SEEN_COOKIE) or request.app[SEEN_SAMPLES].has(client_identity(request))):
        raise SeedError(
            "You have not seen the list of sample questions yet, please proceed to look at sample "
            "questions and choose one of your interest",
            status=409,
        )
    questions = request.app[KNOWLEDGE].current.sample_questions
    if not 1 <= number <= len(questions):
        raise SeedError(
            f"The question number {number} you entered is not valid, valid question number range "
            f"from 1 to {len(questions)}",
            status=422,
        )
    return questions[number - 1]


def _seed_encoder(request: web.Request, question: str):
    knowledge = request.app[KNOWLEDGE].current

    def encode(route: Route) -> bytes:
        if route.context == "knowledge":
            system = knowledge.grounder.ground(question).system_message
        else:
            system = knowledge.system_prompt  # what the fine-tuned model was trained with
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        return json.dumps({"model": route.upstream_model, "messages": messages}).encode()

    return encode


async def send_inference(request: web.Request) -> web.Response:
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise SeedError("The request body is not valid JSON") from None
    body = _object(body, "body")
    model = _object(body.get("model"), "model").get("model_name")
    if not isinstance(model, str) or not model.strip():
        raise SeedError("'model.model_name' is required and must be a string")
    table = request.app[ROUTES].current
    route = table.get(model)
    client = request.get("client")
    if route is None or (client is not None and not client.allows(model)):
        allowed = [n for n in table.names() if client is None or client.allows(n)]
        raise SeedError(
            f"{model} is not supported, please choose model from the list of supported models below",
            status=404,
            suppored_models=allowed,
        )
    request["model_label"] = route.name
    question = _question(request, _object(body.get("inference"), "inference"))
    try:
        answered = await forward(
            request,
            table,
            route,
            _seed_encoder(request, question),
            False,
            request["request_id"],
            RetryPolicy.from_settings(request.app[SETTINGS]),
            request.app[REDACTOR].bytes,
        )
        text = json.loads(answered.body)["choices"][0]["message"]["content"]
    except UpstreamTimeout:
        raise SeedError(
            f"Error when sending inference to {model}, please try again (the model timed out)", status=504
        ) from None
    except (ProxyError, UpstreamStatus, ValueError, KeyError, IndexError, TypeError) as exc:
        status = exc.status if isinstance(exc, (ProxyError, UpstreamStatus)) and exc.status >= 500 else 502
        raise SeedError(f"Error when sending inference to {model}, please try again", status=status) from None
    request["answered_by"] = answered.route.name
    return web.json_response(
        {"model_name": model, "response": {"response": text, "your_question": question}},
        headers={"X-LLM-Proxy-Model": answered.route.name},
    )


def setup(app: web.Application) -> None:
    app[SEEN_SAMPLES] = SeenSamples()
    app.router.add_get("/get_suppored_models", supported_models)
    app.router.add_get("/get_supported_models", supported_models)
    app.router.add_get("/get_sample_questions", sample_questions)
    app.router.add_post("/send_inference", send_inference)

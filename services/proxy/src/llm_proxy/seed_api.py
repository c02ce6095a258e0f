"""The original system's API, kept for its users and its Postman collection.

`GET /get_suppored_models` (sic, as the seed spelled it; `/get_supported_models` also works),
`GET /get_sample_questions`, `POST /send_inference`. Bodies, shapes and error messages are the
seed's; status codes now fit the error. Answers go through the same routing, grounding,
retries and fallbacks as `/v1/chat/completions`.

The seed refused a sample-question number from a client that had not listed the questions yet.
That rule is kept per client: a client is its API key when keys are on, else its address (the
first X-Forwarded-For hop behind an ingress). Listing the questions also sets a cookie, so a
client that keeps cookies (Postman does) is recognised by every replica; with Redis, every
replica knows the client anyway (seen_samples.py). Budgets and usage apply as on the OpenAI API.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from llm_common.bodies import BodyError, parse_object
from llm_common.seed import NOT_SEEN, SeedQuestionError, choose_question

from .apis import SEED
from .context import CONTEXT
from .errors import ProxyError, UpstreamMisconfigured, UpstreamTimeout
from .openai_api import check_budget, count_usage, read_body, upstream_call
from .seen_samples import SEEN_TTL, SeenSamples
from .state import FORWARDER, KNOWLEDGE, ROUTES, SEEN_SAMPLES, SETTINGS, SHARED

SEED_GROUPS = {"fine-tuned": "fined_tune_model", "mock": "mock_model", "openai": "open_ai_models"}
SEEN_COOKIE = "llm_proxy_seen_samples"


class SeedError(ProxyError):
    """An error in the seed's shape: `{"error": "<message>", ...extra keys}`."""

    status = 400

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message, status=status)
        self.extra = extra

    def render(self) -> web.Response:
        return web.json_response({"error": self.message, **self.extra}, status=self.status, headers=self.headers)


def client_identity(request: web.Request) -> str:
    client = request[CONTEXT].client
    if client is not None:
        return f"key:{client.name}"
    forwarded = request.headers.get("X-Forwarded-For", "")
    return "addr:" + (forwarded.split(",")[0].strip() or request.remote or "unknown")


async def supported_models(request: web.Request) -> web.Response:
    grouped: dict[str, list[str]] = {key: [] for key in SEED_GROUPS.values()}
    client = request[CONTEXT].client
    for route in request.app[ROUTES].current.routes.values():
        if client is None or client.allows(route.name):
            grouped[SEED_GROUPS[route.group]].append(route.name)
    return web.json_response({"message": grouped})


async def sample_questions(request: web.Request) -> web.Response:
    questions = request.app[KNOWLEDGE].current.sample_questions
    await request.app[SEEN_SAMPLES].mark(client_identity(request))
    response = web.json_response({"response": [f"question {i}: {q}" for i, q in enumerate(questions, 1)]})
    response.set_cookie(SEEN_COOKIE, "1", max_age=int(SEEN_TTL), httponly=True, samesite="Lax")
    return response


async def _question(request: web.Request, inference: Any) -> str:
    # The rule asks whether the client listed the questions only for a sample number, and before
    # checking the number: that answer may take a Redis call, so it is learnt after a first pass.
    asked = False

    def has_seen_samples() -> bool:
        nonlocal asked
        asked = True
        return True

    samples = request.app[KNOWLEDGE].current.sample_questions
    error: SeedQuestionError | None = None
    question = ""
    try:
        question = choose_question(inference, samples, has_seen_samples=has_seen_samples)
    except SeedQuestionError as exc:
        error = exc
    cookie = bool(request.cookies.get(SEEN_COOKIE))
    if asked and not cookie and not await request.app[SEEN_SAMPLES].has(client_identity(request)):
        raise SeedError(NOT_SEEN, status=409)
    if error is not None:
        raise SeedError(error.message, status=error.status)
    return question


def _answer_text(body: bytes) -> str:
    text = orjson.loads(body)["choices"][0]["message"]["content"]
    if not isinstance(text, str):
        raise TypeError("the answer has no text")
    return text


async def send_inference(request: web.Request) -> web.Response:
    raw = await read_body(request)
    try:
        body = parse_object(raw, max_depth=request.app[SETTINGS].max_content_depth)
    except BodyError as exc:
        if exc.code == "invalid_body":
            raise SeedError("'body' is required and must be an object") from None
        raise SeedError("The request body is not valid JSON" if exc.code == "invalid_json" else exc.message) from None
    model_part = body.get("model")
    if not isinstance(model_part, dict):
        raise SeedError("'model' is required and must be an object")
    model = model_part.get("model_name")
    if not isinstance(model, str) or not model.strip():
        raise SeedError("'model.model_name' is required and must be a string")
    table = request.app[ROUTES].current
    route = table.get(model)
    client = request[CONTEXT].client
    if route is None or (client is not None and not client.allows(model)):
        allowed = [n for n in table.names() if client is None or client.allows(n)]
        raise SeedError(
            f"{model} is not supported, please choose model from the list of supported models below",
            status=404,
            suppored_models=allowed,
        )
    request[CONTEXT].model = route.name
    question = await _question(request, body.get("inference"))
    check_budget(request)
    chat = {"model": route.name, "messages": [{"role": "user", "content": question}]}
    call = upstream_call(request, SEED, chat, b"", stream=False)
    try:
        answer = await request.app[FORWARDER].forward(call, route)
        text = _answer_text(answer.body)
    except UpstreamTimeout:
        raise SeedError(
            f"Error when sending inference to {model}, please try again (the model timed out)", status=504
        ) from None
    except UpstreamMisconfigured as exc:  # trying again cannot help: say what the proxy lacks
        raise SeedError(f"Error when sending inference to {model}", status=502, reason=exc.message) from None
    except (ProxyError, ValueError, KeyError, IndexError, TypeError) as exc:
        status = exc.status if isinstance(exc, ProxyError) and exc.status >= 500 else 502
        raise SeedError(f"Error when sending inference to {model}, please try again", status=status) from None
    request[CONTEXT].answered_by = answer.route.name
    count_usage(request, SEED, answer.route, answer.usage)
    # `model_name` is the model that answered: after a fallback that is not the one asked for.
    reply: dict[str, Any] = {"model_name": answer.route.name}
    if answer.route.name != model:
        reply["requested_model"] = model
    reply["response"] = {"response": text, "your_question": question}
    return web.json_response(reply, headers={"X-LLM-Proxy-Model": answer.route.name})


def setup(app: web.Application) -> None:
    app[SEEN_SAMPLES] = SeenSamples(app[SHARED])
    app.router.add_get("/get_suppored_models", supported_models)
    app.router.add_get("/get_supported_models", supported_models)
    app.router.add_get("/get_sample_questions", sample_questions)
    app.router.add_post("/send_inference", send_inference)

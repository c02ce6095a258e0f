"""`GET /v1/models` and `GET /v1/models/{model}`: the configured names and the fine-tuned ones."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from . import delivery
from .errors import NotFound
from .faults import split_model_suffix
from .state import FINETUNING, SETTINGS

STARTED = int(time.time())


def model_names(app: web.Application) -> list[str]:
    return [*app[SETTINGS].models, *app[FINETUNING].names()]


def model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": STARTED, "owned_by": "mock-model"}


async def list_models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [model_object(name) for name in model_names(request.app)]})


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    # Listed models only (chat answers any name, but a look-up says what exists, as OpenAI's does);
    # the latency and fault knobs apply as on every API call.
    name, suffix = split_model_suffix(request.match_info["model"])
    plan = await delivery.begin(request, suffix, "model")
    if name not in model_names(request.app):
        raise NotFound(
            f"The model '{name}' does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
            headers=delivery.attempt_headers(plan),
        )
    return await delivery.send_json(request, plan, model_object(name))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", retrieve_model)

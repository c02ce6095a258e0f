"""Application factory of the mock model service."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from . import chat, completions, embeddings, finetuning, models, responses, seed_api
from .answers import Answerer
from .errors import error_middleware
from .faults import FaultState
from .finetuning_jobs import FineTuning
from .knowledge import KnowledgeBase
from .metrics import MockMetrics
from .settings import MockSettings
from .state import ANSWERS, FAULTS, FINETUNING, KNOWLEDGE, METRICS, SETTINGS


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        endpoint = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].requests.labels(endpoint, str(status)).inc()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    return request.app[METRICS].render()


async def attempts(request: web.Request) -> web.Response:
    key = request.query.get("key", "")
    return web.json_response({"key": key, "requests": request.app[FAULTS].attempts.get(key, 0)})


def create_app(settings: MockSettings | None = None) -> web.Application:
    settings = settings or MockSettings()
    app = web.Application(middlewares=[metrics_middleware, error_middleware], client_max_size=16 * 1024 * 1024)
    knowledge = KnowledgeBase.load(settings.knowledge)
    app[SETTINGS] = settings
    app[KNOWLEDGE] = knowledge
    app[FAULTS] = FaultState(settings)
    app[METRICS] = MockMetrics()
    app[ANSWERS] = Answerer(knowledge)
    app[FINETUNING] = FineTuning(settings.ft_step_seconds)
    app.router.add_post("/v1/chat/completions", chat.chat_completions)
    app.router.add_post("/v1/completions", completions.completions)
    app.router.add_post("/v1/responses", responses.create_response)
    app.router.add_post("/v1/embeddings", embeddings.create_embeddings)
    models.add_routes(app)
    finetuning.add_routes(app)
    app.router.add_post("/send_inference", seed_api.send_inference)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/mock/requests", attempts)
    return app

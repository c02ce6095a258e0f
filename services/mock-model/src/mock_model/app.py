"""Application factory of the mock model service."""

from __future__ import annotations

import time

from aiohttp import web

from . import completions, seed_api
from .completions import AnswerCache
from .errors import error_middleware
from .faults import FaultState
from .keys import ANSWERS, FAULTS, KNOWLEDGE, METRICS, SETTINGS
from .knowledge import KnowledgeBase
from .metrics import MockMetrics
from .settings import MockSettings

STARTED = int(time.time())


@web.middleware
async def metrics_middleware(request: web.Request, handler):
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        endpoint = route.canonical if route is not None else "unmatched"
        request.app[METRICS].requests.labels(endpoint, str(status)).inc()


async def list_models(request: web.Request) -> web.Response:
    names = list(request.app[SETTINGS].models)
    extra = getattr(request.app.get(FINETUNED_MODELS), "names", list)()
    data = [{"id": name, "object": "model", "created": STARTED, "owned_by": "mock-model"} for name in [*names, *extra]]
    return web.json_response({"object": "list", "data": data})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    return request.app[METRICS].render()


async def attempts(request: web.Request) -> web.Response:
    key = request.query.get("key", "")
    return web.json_response({"key": key, "requests": request.app[FAULTS].attempts.get(key, 0)})


# Set by the fine-tuning module when it is installed: models it trained are served too.
FINETUNED_MODELS = web.AppKey("finetuned_models", object)


def create_app(settings: MockSettings | None = None) -> web.Application:
    settings = settings or MockSettings()
    app = web.Application(middlewares=[metrics_middleware, error_middleware], client_max_size=16 * 1024 * 1024)
    app[SETTINGS] = settings
    app[KNOWLEDGE] = KnowledgeBase.load(settings.knowledge)
    app[FAULTS] = FaultState(settings)
    app[METRICS] = MockMetrics()
    app[ANSWERS] = AnswerCache()
    app.router.add_post("/v1/chat/completions", completions.chat_completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/send_inference", seed_api.send_inference)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/mock/requests", attempts)
    _install_optional(app)
    return app


def _install_optional(app: web.Application) -> None:
    # The fine-tuning API lives in its own module; it registers its routes when present.
    try:
        from . import finetuning
    except ImportError:
        return
    finetuning.setup(app)

"""OpenAI-compatible endpoints (thin handlers) and the path every routed request takes.

`proxy_request()` is that path for every API (chat, Responses, embeddings, legacy completions, a
model look-up): look the model up, check the client may use it, forward (forwarding.py: per
candidate route, its upstream body and its attempts), then answer with the whole body or relay the
stream (streaming.py, with the API's scanner).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from llm_common.bodies import check_chat, parse_object

from .api_bodies import check_completions, check_embeddings, check_responses
from .apis import CHAT, COMPLETIONS, EMBEDDINGS, MODEL, RESPONSES, Api, usage_tokens, with_stream_usage
from .backends import test_headers
from .context import CONTEXT, RequestContext
from .errors import ModelNotFound, PayloadTooLarge, PermissionDenied, RequestTimeout
from .forwarding import Answer, UpstreamCall
from .routing import Route, RoutingTable
from .state import FORWARDER, KNOWLEDGE, LIMITER, METRICS, ROUTES, SETTINGS, USAGE

ANONYMOUS = "anonymous"  # how usage names the client when no client keys are configured

STARTED = int(time.time())
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def read_body(request: web.Request) -> bytes:
    settings = request.app[SETTINGS]
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes")
    try:
        async with asyncio.timeout(settings.body_timeout):  # a body sent a byte at a time ends here
            return await request.read()
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {settings.body_timeout:g} s") from None


def lookup(table: RoutingTable, model: str, ctx: RequestContext) -> Route:
    """The route for `model`, if the client may use it."""
    ctx.model = model[:200]  # logged as asked; metrics count names not in the table as unknown
    route = table.get(model)
    if route is None:  # the message lists the models this client may use, no others
        raise ModelNotFound(model, [n for n in table.names() if ctx.client is None or ctx.client.allows(n)])
    ctx.model = route.name
    if ctx.client is not None and not ctx.client.allows(route.name):
        raise PermissionDenied(f"This API key may not use the model '{route.name}'", param="model")
    return route


def upstream_call(request: web.Request, api: Api, body: dict[str, Any], raw: bytes, stream: bool) -> UpstreamCall:
    ctx = request[CONTEXT]
    strip_usage = False
    if stream and (asking := with_stream_usage(api, body)) is not None:
        body, raw, strip_usage = asking, json.dumps(asking).encode(), True  # count the stream's tokens too
    return UpstreamCall(
        api=api,
        body=body,
        raw=raw,
        stream=stream,
        request_id=ctx.request_id,
        table=request.app[ROUTES].current,
        knowledge=request.app[KNOWLEDGE].current,
        client_headers=test_headers(request.headers),
        client=ctx.client,
        strip_usage=strip_usage,
    )


def answer_headers(request_id: str, answer: Answer) -> dict[str, str]:
    return {
        **answer.headers,
        "X-Request-Id": request_id,
        "X-LLM-Proxy-Model": answer.route.name,
        "X-LLM-Proxy-Upstream-Model": answer.route.upstream_model,
        "X-LLM-Proxy-Attempts": str(answer.attempts),
    }


def check_budget(request: web.Request) -> None:
    """429 `budget_exceeded` before anything goes upstream, when the client's daily budget is spent."""
    ctx = request[CONTEXT]
    request.app[LIMITER].check_budget(ctx.client, ctx.shared_spend)


def count_usage(request: web.Request, api: Api, route: Route, usage: Any) -> None:
    """An answered request: tokens by model (metrics), and requests, tokens and cost by client (usage.py)."""
    if api.usage_keys is None:
        return  # a model look-up costs nothing and is no request to count against a budget
    tokens = usage_tokens(api, usage)
    if tokens is not None:
        request.app[METRICS].count_tokens(route.name, *tokens)
    client = request[CONTEXT].client
    request.app[USAGE].record(client.name if client is not None else ANONYMOUS, route, tokens)


async def proxy_request(request: web.Request, call: UpstreamCall, model: str) -> web.StreamResponse:
    ctx = request[CONTEXT]
    route = lookup(call.table, model, ctx)
    if call.api.usage_keys is not None:  # a model look-up spends nothing: no budget to check
        check_budget(request)
    answer = await request.app[FORWARDER].forward(call, route)
    ctx.answered_by = answer.route.name
    headers = answer_headers(ctx.request_id, answer)
    if answer.stream is None:
        count_usage(request, call.api, answer.route, answer.usage)
        body = answer.body
        if call.api.rewrite is not None and answer.status == 200:
            body = call.api.rewrite(body, answer.route)
        return web.Response(status=answer.status, body=body, headers=headers)
    metrics = request.app[METRICS]
    timeouts = call.table.timeouts_for(answer.route)
    deadline = asyncio.get_running_loop().time() + timeouts.total
    out = web.StreamResponse(status=answer.status, headers={**headers, **STREAM_HEADERS})
    outcome = await answer.stream.relay(
        request,
        out,
        idle=timeouts.idle,
        deadline=deadline,
        request_id=ctx.request_id,
    )
    if outcome.first_byte_at is not None:
        metrics.of(metrics.ttft, route.name).observe(outcome.first_byte_at - ctx.started)
    if outcome.broken is not None:
        metrics.of(metrics.stream_errors, route.name, outcome.broken).inc()
        ctx.stream_error = outcome.broken
    count_usage(request, call.api, answer.route, outcome.usage)  # a broken stream counts, without its tokens
    return out


async def chat_completions(request: web.Request) -> web.StreamResponse:
    raw = await read_body(request)
    body = parse_object(raw, max_depth=request.app[SETTINGS].max_content_depth)
    chat = check_chat(body, max_messages=request.app[SETTINGS].max_messages)
    return await proxy_request(request, upstream_call(request, CHAT, body, raw, chat.stream), chat.model)


async def responses(request: web.Request) -> web.StreamResponse:
    raw = await read_body(request)
    body = parse_object(raw, max_depth=request.app[SETTINGS].max_content_depth)
    checked = check_responses(body, max_items=request.app[SETTINGS].max_messages)
    return await proxy_request(request, upstream_call(request, RESPONSES, body, raw, checked.stream), checked.model)


async def embeddings(request: web.Request) -> web.StreamResponse:
    raw = await read_body(request)
    body = parse_object(raw, max_depth=request.app[SETTINGS].max_content_depth)
    checked = check_embeddings(body)
    return await proxy_request(request, upstream_call(request, EMBEDDINGS, body, raw, False), checked.model)


async def completions(request: web.Request) -> web.StreamResponse:
    raw = await read_body(request)
    body = parse_object(raw, max_depth=request.app[SETTINGS].max_content_depth)
    checked = check_completions(body)
    return await proxy_request(request, upstream_call(request, COMPLETIONS, body, raw, checked.stream), checked.model)


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    """The model looked up on its backend (as its upstream name), answered under the name asked for."""
    model = request.match_info["model"]
    return await proxy_request(request, upstream_call(request, MODEL, {"model": model}, b"", False), model)


async def list_models(request: web.Request) -> web.Response:
    table = request.app[ROUTES].current
    client = request[CONTEXT].client
    data = [
        {
            "id": r.name,
            "object": "model",
            "created": STARTED,
            "owned_by": r.backend,
            "group": r.group,
            "context": r.context,
            "source": r.source,  # base | overlay: published fine-tunes live in the overlay
        }
        for r in table.routes.values()
        if client is None or client.allows(r.name)
    ]
    return web.json_response({"object": "list", "data": data})

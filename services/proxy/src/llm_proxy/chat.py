"""OpenAI-compatible endpoints: `GET /v1/models` and `POST /v1/chat/completions` (thin handlers)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from .errors import InvalidRequest, ModelNotFound, PayloadTooLarge, PermissionDenied
from .forwarding import Answered, forward
from .grounding import ground_messages
from .keys import KNOWLEDGE, METRICS, REDACTOR, ROUTES, SETTINGS
from .resilience import RetryPolicy
from .routing import Route, RoutingTable
from .streaming import StreamBroken, error_event, pump

STARTED = int(time.time())
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, without recursion (bodies are untrusted)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


async def read_json_object(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        raise PayloadTooLarge(f"The request body is larger than {settings.max_body_bytes} bytes")
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object", code="invalid_body")
    if _depth(body, settings.max_content_depth) > settings.max_content_depth:
        raise InvalidRequest(
            f"The request body is nested deeper than {settings.max_content_depth} levels", code="too_deep"
        )
    return body


def validate_chat(body: dict[str, Any], max_messages: int) -> tuple[str, list[dict[str, Any]], bool]:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(
            "'model' is required and must be a non-empty string",
            param="model",
            code="missing_field" if "model" not in body else "invalid_type",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest(
            "'messages' is required and must be a non-empty list",
            param="messages",
            code="missing_field" if "messages" not in body else "invalid_type",
        )
    if len(messages) > max_messages:
        raise InvalidRequest(
            f"'messages' has {len(messages)} entries; at most {max_messages} are accepted",
            param="messages",
            code="too_many_messages",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type")
        if not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"messages[{i}].role must be a string", param=f"messages[{i}].role", code="invalid_type"
            )
        content = message.get("content")
        if not (content is None or isinstance(content, (str, list))):
            raise InvalidRequest(
                f"messages[{i}].content must be a string, a list of parts or null",
                param=f"messages[{i}].content",
                code="invalid_type",
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream", code="invalid_type")
    return model, messages, stream


def lookup(table: RoutingTable, model: str) -> Route:
    route = table.get(model)
    if route is None:
        raise ModelNotFound(model, table.names())
    return route


async def list_models(request: web.Request) -> web.Response:
    table = request.app[ROUTES].current
    client = request.get("client")
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


def encoder(request: web.Request, body: dict[str, Any], raw: bytes):
    """Builds the upstream body for a route: the upstream model name, and grounding where asked."""
    knowledge = request.app[KNOWLEDGE].current
    # A body with one "model" key, sent to a route that changes nothing, goes up as the client's
    # own bytes. (With a repeated key, parsers disagree on which one counts: re-encode it.)
    untouched = raw.count(b'"model"') == 1

    def encode(route: Route) -> bytes:
        if untouched and route.context != "knowledge" and route.upstream_model == body["model"]:
            return raw
        out = dict(body)
        out["model"] = route.upstream_model
        if route.context == "knowledge":
            out["messages"] = ground_messages(knowledge.grounder, body["messages"])
        return json.dumps(out).encode()

    return encode


def answer_headers(request: web.Request, route: Route, answered: Answered) -> dict[str, str]:
    return {
        **answered.headers,
        "X-Request-Id": request["request_id"],
        "X-LLM-Proxy-Model": answered.route.name,
        "X-LLM-Proxy-Upstream-Model": answered.route.upstream_model,
        "X-LLM-Proxy-Attempts": str(answered.attempts),
    }


async def chat_completions(request: web.Request) -> web.StreamResponse:
    app = request.app
    body = await read_json_object(request)
    settings = app[SETTINGS]
    model, _, stream = validate_chat(body, settings.max_messages)
    table = app[ROUTES].current  # this request keeps this table even if a reload lands meanwhile
    request["model_label"] = model[:200]  # logged as asked; metrics count names not in the table as unknown
    route = lookup(table, model)
    request["model_label"] = route.name
    client = request.get("client")
    if client is not None and not client.allows(route.name):
        raise PermissionDenied(f"This API key may not use the model '{route.name}'", param="model")
    raw = await request.read()  # the bytes read_json_object parsed (aiohttp keeps them)
    answered = await forward(
        request,
        table,
        route,
        encoder(request, body, raw),
        stream,
        request["request_id"],
        RetryPolicy.from_settings(settings),
        app[REDACTOR].bytes,
    )
    request["answered_by"] = answered.route.name
    headers = answer_headers(request, route, answered)
    metrics = app[METRICS]
    if answered.stream is None:
        metrics.count_usage(answered.route.name, answered.usage)
        return web.Response(status=answered.status, body=answered.body, headers=headers)
    return await _stream_out(request, table, route, answered, headers)


async def _stream_out(
    request: web.Request, table: RoutingTable, route: Route, answered: Answered, headers: dict[str, str]
) -> web.StreamResponse:
    metrics = request.app[METRICS]
    start = answered.stream
    out = web.StreamResponse(status=answered.status, headers={**headers, **STREAM_HEADERS})
    timeouts = table.timeouts_for(answered.route)
    loop = asyncio.get_running_loop()
    try:
        await out.prepare(request)
        await out.write(start.first)
        metrics.of(metrics.ttft, route.name).observe(time.perf_counter() - request["started"])
        try:
            await pump(start.response, start.scanner, out, timeouts.idle, loop.time() + timeouts.total)
        except StreamBroken as exc:
            metrics.stream_errors.labels(route.name, exc.kind).inc()
            request["stream_error"] = exc.kind
            await out.write(error_event(exc.kind, exc.message, request["request_id"]))
            return out  # no [DONE]: the client must not take this for a complete answer
        metrics.count_usage(answered.route.name, start.scanner.usage)
        await out.write_eof()
        return out
    finally:
        # Read to its end, the upstream connection serves the next request; otherwise it is dropped.
        start.response.release()

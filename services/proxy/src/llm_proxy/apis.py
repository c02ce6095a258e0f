"""The upstream APIs the proxy routes, and what each does to a request on its way up.

An `Api` says where a request goes on the backend (`/chat/completions`, `/models/{model}`...),
how it is grounded on a `context: knowledge` route, how its usage reads, how its stream is checked
and ended when it breaks (its scanner), and whether it may fall back to another model. Building the
upstream body is the only place grounding happens: the forwarding loop calls `upstream_body()` once
per candidate route.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from .errors import UpstreamProtocolError
from .grounding import ground_messages
from .knowledge import KnowledgePack
from .responses_stream import ResponsesScanner
from .routing import Route
from .streaming import SseScanner

# (the client's body copy with the upstream model set, the route, the knowledge pack) -> the body to send
Prepare = Callable[[dict[str, Any], Route, KnowledgePack], dict[str, Any]]


def _ground_chat(body: dict[str, Any], route: Route, knowledge: KnowledgePack) -> dict[str, Any]:
    if route.context == "knowledge":
        body["messages"] = ground_messages(knowledge.grounder, body["messages"])
    return body


def _seed_prompt(body: dict[str, Any], route: Route, knowledge: KnowledgePack) -> dict[str, Any]:
    """The original API's one question, behind the system message its route needs: grounded in the
    facts the question needs, or (`context: none`, the fine-tuned model) the system prompt the
    model was trained with."""
    question = body["messages"][-1]["content"]
    if route.context == "knowledge":
        system = knowledge.grounder.ground(question).system_message
    else:
        system = knowledge.system_prompt
    body["messages"] = [{"role": "system", "content": system}, *body["messages"]]
    return body


def responses_question(value: Any) -> str:
    """The question a Responses `input` asks: the string itself, or the last user message's text."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return ""
    for item in reversed(value):
        if not isinstance(item, dict) or item.get("role") != "user" or item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = (p.get("text") for p in content if isinstance(p, dict) and p.get("type") in ("input_text", "text"))
            return " ".join(t for t in texts if isinstance(t, str))
    return ""


def _ground_responses(body: dict[str, Any], route: Route, knowledge: KnowledgePack) -> dict[str, Any]:
    """The grounded system message goes into `instructions`, in front of the client's own (kept, as
    chat keeps a client's system messages after ours). Instructions hold for one request only, so a
    conversation continued with `previous_response_id` is grounded afresh by each question instead of
    piling old context up in the stored input."""
    if route.context == "knowledge":
        question = responses_question(body.get("input"))
        if question:
            system = knowledge.grounder.ground(question).system_message
            own = body.get("instructions")
            body["instructions"] = f"{system}\n\n{own}" if own else system
    return body


def _model_entry(body: bytes, route: Route) -> bytes:
    """A model look-up's answer under the name the client asked for, with what `GET /v1/models` adds."""
    try:
        entry = orjson.loads(body)
    except orjson.JSONDecodeError:
        entry = None
    if not isinstance(entry, dict):
        raise UpstreamProtocolError(f"The upstream '{route.backend}' answered a model look-up with no model object")
    entry.update(id=route.name, group=route.group, context=route.context, source=route.source)
    return json.dumps(entry).encode()


@dataclass(frozen=True)
class Api:
    name: str  # how logs name it
    path: str  # appended to the backend's base_url
    # (input, output) token counts in this API's `usage`; output None: there is none (embeddings).
    # None: the API reports no usage (model look-ups).
    usage_keys: tuple[str, str | None] | None
    prepare: Prepare | None = None  # grounding (and any other rewrite) for a route; None: never grounded
    always_prepares: bool = False  # False: a route that changes nothing gets the client's bytes
    scanner: type[SseScanner] = SseScanner  # checks a stream's events and ends a broken one
    # `usage` is the last key of a whole answer (found from the end without parsing the body);
    # False where fields the client chose follow it (a Responses object's `metadata`).
    usage_last: bool = True
    method: str = "POST"
    model_in_path: bool = False  # the upstream model name ends the path (a model look-up)
    fallbacks: bool = True  # False: only the model asked for may answer (a look-up of that model)
    rewrite: Callable[[bytes, Route], bytes] | None = None  # applied to a successful whole answer
    # Its streams carry usage only when asked with `stream_options.include_usage` (chat, legacy
    # completions): the proxy asks, to count tokens, and strips that chunk if the client did not.
    stream_usage_option: bool = False


CHAT_USAGE = ("prompt_tokens", "completion_tokens")
CHAT = Api("chat", "/chat/completions", CHAT_USAGE, _ground_chat, stream_usage_option=True)
SEED = Api("seed", "/chat/completions", CHAT_USAGE, _seed_prompt, always_prepares=True)
RESPONSES = Api(
    "responses",
    "/responses",
    ("input_tokens", "output_tokens"),
    _ground_responses,
    scanner=ResponsesScanner,
    usage_last=False,
)
EMBEDDINGS = Api("embeddings", "/embeddings", ("prompt_tokens", None))
COMPLETIONS = Api("completions", "/completions", CHAT_USAGE, stream_usage_option=True)
MODEL = Api("model", "/models/", None, method="GET", model_in_path=True, fallbacks=False, rewrite=_model_entry)


def upstream_path(api: Api, route: Route) -> str:
    """The path after the backend's base_url for a call to `route`."""
    return api.path + quote(route.upstream_model, safe="/:@") if api.model_in_path else api.path


def upstream_body(api: Api, body: dict[str, Any], raw: bytes, route: Route, knowledge: KnowledgePack) -> bytes:
    """The bytes sent upstream for `route`: the client's own bytes when nothing changes (request
    bodies are parsed with repeated keys refused, so the bytes cannot mean something else upstream),
    else the body re-encoded with the route's upstream model and its grounding."""
    if api.method != "POST":
        return b""
    grounded = api.prepare is not None and (api.always_prepares or route.context == "knowledge")
    if not grounded and route.upstream_model == body.get("model"):
        return raw
    out = dict(body)
    out["model"] = route.upstream_model
    return json.dumps(api.prepare(out, route, knowledge) if api.prepare is not None else out).encode()


def with_stream_usage(api: Api, body: dict[str, Any]) -> dict[str, Any] | None:
    """The body asking for the stream's usage, or None when it needs no change (the client asked
    already, or this API's streams always carry usage)."""
    if not api.stream_usage_option:
        return None
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return None
    return {**body, "stream_options": {**(options if isinstance(options, dict) else {}), "include_usage": True}}


def usage_tokens(api: Api, usage: Any) -> tuple[int, int] | None:
    """(input, output) tokens from an upstream `usage` object, or None if it has none that make sense."""
    if api.usage_keys is None or not isinstance(usage, dict):
        return None
    counts: list[int] = []
    for key in api.usage_keys:
        count = usage.get(key) if key is not None else 0
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return None
        counts.append(count)
    return counts[0], counts[1]

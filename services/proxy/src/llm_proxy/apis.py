"""The upstream APIs the proxy routes, and what each does to a request on its way up.

An `Api` says where a request goes on the backend (`/chat/completions`, ...), how it is
grounded on a `context: knowledge` route, how its usage reads, and how one of its streams is
ended when it breaks. Building the upstream body is the only place grounding happens: the
forwarding loop calls `upstream_body()` once per candidate route.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llm_common.openai_errors import error_body

from .grounding import ground_messages
from .knowledge import KnowledgePack
from .routing import Route

# (the client's body copy with the upstream model set, the route, the knowledge pack) -> the body to send
Prepare = Callable[[dict[str, Any], Route, KnowledgePack], dict[str, Any]]


def chat_stream_error(kind: str, message: str, request_id: str) -> bytes:
    """The in-band error that ends a broken chat stream (no `[DONE]` follows)."""
    body = error_body(f"{message} (request id {request_id})", "upstream_error", f"upstream_stream_{kind}")
    return b"data: " + json.dumps(body).encode() + b"\n\n"


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


@dataclass(frozen=True)
class Api:
    name: str  # how logs name it
    path: str  # appended to the backend's base_url
    prepare: Prepare  # grounding (and any other rewrite) for a route
    always_prepares: bool  # False: a `context: none` route with the same model name gets the client's bytes
    usage_keys: tuple[str, str]  # (input, output) token counts in this API's `usage`
    stream_error: Callable[[str, str, str], bytes]
    # Its streams carry usage only when asked with `stream_options.include_usage` (chat, legacy
    # completions): the proxy asks, to count tokens, and strips that chunk if the client did not.
    stream_usage_option: bool = False


CHAT = Api(
    "chat", "/chat/completions", _ground_chat, False, ("prompt_tokens", "completion_tokens"), chat_stream_error, True
)
SEED = Api("seed", "/chat/completions", _seed_prompt, True, ("prompt_tokens", "completion_tokens"), chat_stream_error)


def upstream_body(api: Api, body: dict[str, Any], raw: bytes, route: Route, knowledge: KnowledgePack) -> bytes:
    """The bytes sent upstream for `route`: the client's own bytes when nothing changes (request
    bodies are parsed with repeated keys refused, so the bytes cannot mean something else upstream),
    else the body re-encoded with the route's upstream model and its grounding."""
    if not api.always_prepares and route.context != "knowledge" and route.upstream_model == body.get("model"):
        return raw
    out = dict(body)
    out["model"] = route.upstream_model
    return json.dumps(api.prepare(out, route, knowledge)).encode()


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
    if not isinstance(usage, dict):
        return None
    counts: list[int] = []
    for key in api.usage_keys:
        count = usage.get(key)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return None
        counts.append(count)
    return counts[0], counts[1]

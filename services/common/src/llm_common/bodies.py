"""Checks every request body goes through before anything is done with it, in both services.

A failed check raises `BodyError` with OpenAI's `param` and `code`; each service maps it to its
own 400 (or 413) response. Bodies are untrusted: nesting is measured without recursion, and
nothing here trusts a field's type before checking it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class BodyError(ValueError):
    """A request body is not acceptable; `param` names the field, `code` the reason."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, without recursion; stops counting once past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return level
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Parsers disagree on which of two equal keys counts (the first, the last, or an
            # error), so a body that has one could be read one way here and another upstream.
            raise BodyError(f"The request body repeats the key {key!r}", param=key, code="duplicate_key")
        out[key] = value
    return out


def parse_object(raw: bytes, *, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object: valid JSON, an object, no repeated keys, at most `max_depth` deep."""
    try:
        body = json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)
    except BodyError:
        raise
    except (ValueError, RecursionError) as exc:
        raise BodyError(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BodyError("The request body must be a JSON object", code="invalid_body")
    if depth(body, max_depth) > max_depth:
        raise BodyError(f"The request body is nested deeper than {max_depth} levels", code="too_deep")
    return body


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BodyError(
            "'model' is required and must be a non-empty string",
            param="model",
            code="missing_field" if "model" not in body else "invalid_type",
        )
    return model


def optional_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BodyError(f"'{name}' must be a boolean", param=name, code="invalid_type")
    return value


@dataclass(frozen=True)
class ChatBody:
    model: str
    messages: list[dict[str, Any]]
    stream: bool


def check_chat(body: dict[str, Any], *, max_messages: int) -> ChatBody:
    """The fields of a chat completion request that both services rely on."""
    model = require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BodyError(
            "'messages' is required and must be a non-empty list",
            param="messages",
            code="missing_field" if "messages" not in body else "invalid_type",
        )
    if len(messages) > max_messages:
        raise BodyError(
            f"'messages' has {len(messages)} entries; at most {max_messages} are accepted",
            param="messages",
            code="too_many_messages",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BodyError(f"messages[{i}] must be an object", param=f"messages[{i}]", code="invalid_type")
        if not isinstance(message.get("role"), str):
            raise BodyError(f"messages[{i}].role must be a string", param=f"messages[{i}].role", code="invalid_type")
        content = message.get("content")
        if not (content is None or isinstance(content, str | list)):
            raise BodyError(
                f"messages[{i}].content must be a string, a list of parts or null",
                param=f"messages[{i}].content",
                code="invalid_type",
            )
    return ChatBody(model, messages, optional_bool(body, "stream"))

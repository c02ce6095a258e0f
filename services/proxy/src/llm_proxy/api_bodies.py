"""Request-body checks for the APIs beyond chat, in the shape of `llm_common.bodies`.

The proxy checks what it relies on (the model to route, the input it may ground, whether to
stream) and passes every other field upstream untouched, for the upstream to judge. A failed check
raises `BodyError`, which the error middleware turns into OpenAI's 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llm_common.bodies import BodyError, optional_bool, require_model


@dataclass(frozen=True)
class RoutedBody:
    model: str
    stream: bool


def _missing_or_ill_typed(body: dict[str, Any], name: str, expected: str) -> BodyError:
    return BodyError(
        f"'{name}' is required and must be {expected}",
        param=name,
        code="missing_field" if body.get(name) is None else "invalid_type",
    )


def _check_message_item(item: dict[str, Any], where: str) -> None:
    if not isinstance(item.get("role"), str):
        raise BodyError(f"{where}.role must be a string", param=f"{where}.role", code="invalid_type")
    content = item.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                raise BodyError(
                    f"{where}.content[{j}] must be an object", param=f"{where}.content[{j}]", code="invalid_type"
                )
    elif not isinstance(content, str):
        raise BodyError(
            f"{where}.content must be a string or a list of content parts",
            param=f"{where}.content",
            code="invalid_type",
        )


def check_responses(body: dict[str, Any], *, max_items: int) -> RoutedBody:
    """A Responses request: `input` a string or a list of items (messages checked as chat's are),
    `instructions` a string if given."""
    model = require_model(body)
    value = body.get("input")
    if isinstance(value, list) and value:
        if len(value) > max_items:
            raise BodyError(
                f"'input' has {len(value)} items; at most {max_items} are accepted",
                param="input",
                code="too_many_messages",
            )
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise BodyError(f"input[{i}] must be an object", param=f"input[{i}]", code="invalid_type")
            kind = item.get("type", "message")
            if not isinstance(kind, str):
                raise BodyError(f"input[{i}].type must be a string", param=f"input[{i}].type", code="invalid_type")
            if kind == "message":
                _check_message_item(item, f"input[{i}]")
    elif not isinstance(value, str):
        raise _missing_or_ill_typed(body, "input", "a string or a non-empty list of input items")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BodyError("'instructions' must be a string", param="instructions", code="invalid_type")
    return RoutedBody(model, optional_bool(body, "stream"))


def _is_token_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(t) is int for t in value)


def _check_texts_or_tokens(body: dict[str, Any], name: str) -> None:
    """OpenAI's four forms of embeddings' `input` and completions' `prompt`: a string, a list of
    strings, a token array, or a list of token arrays."""
    value = body.get(name)
    expected = "a string, a list of strings, a token array or a list of token arrays"
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value:
        raise _missing_or_ill_typed(body, name, expected)
    if all(isinstance(item, str) for item in value) or _is_token_array(value):
        return
    if not all(_is_token_array(item) for item in value):
        raise BodyError(f"'{name}' must be {expected}", param=name, code="invalid_type")


def check_embeddings(body: dict[str, Any]) -> RoutedBody:
    model = require_model(body)
    _check_texts_or_tokens(body, "input")
    return RoutedBody(model, stream=False)


def check_completions(body: dict[str, Any]) -> RoutedBody:
    model = require_model(body)
    _check_texts_or_tokens(body, "prompt")
    return RoutedBody(model, optional_bool(body, "stream"))

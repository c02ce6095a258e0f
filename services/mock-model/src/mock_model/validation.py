"""Checks every API's request body shares: each bad field is a 400 naming the field, never a 500.

Parsing the body and reading `model` (and a chat body's messages, in chat.py) are the proxy's own
checks, from llm_common.bodies, so a body one service accepts the other accepts too; what is here
the proxy does not look at (sampling numbers, token limits, token arrays), because it passes those
fields upstream untouched.
"""

from __future__ import annotations

from typing import Any

from llm_common import bodies

from . import tokens
from .errors import InvalidRequest

# Deeper bodies are refused. Generous on purpose: the proxy enforces the configured limit (8 by
# default); the mock refuses only what no client sends.
MAX_DEPTH = 64


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, by the proxy's own rules (llm_common.bodies: repeated keys refused)."""
    return bodies.parse_object(raw, max_depth=MAX_DEPTH)


def model_name(body: dict[str, Any]) -> str:
    return bodies.require_model(body)


def boolean(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be a boolean", param=name, code="invalid_type")
    return value


def numbers(body: dict[str, Any], *names: str) -> None:
    """Sampling parameters the mock ignores, but only when they are numbers (or null)."""
    for name in names:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidRequest(f"'{name}' must be a number", param=name, code="invalid_type")


def integer(body: dict[str, Any], name: str, minimum: int) -> int | None:
    """An optional integer field; below `minimum` gets OpenAI's own wording."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"Invalid type for '{name}': expected an integer", param=name, code="invalid_type")
    if value < minimum:
        raise InvalidRequest(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return value


def single_choice(body: dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest(
            "the mock model answers with exactly one choice ('n' must be 1)", param="n", code="unsupported_value"
        )


def include_usage(body: dict[str, Any]) -> bool:
    """`stream_options.include_usage`: a usage event before the end of a stream."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options", code="invalid_type")
    return bool(options.get("include_usage"))


def token_array(value: list[Any], param: str) -> list[int]:
    """A non-empty list of cl100k_base token ids."""
    size = tokens.vocabulary_size()
    if not value:
        raise InvalidRequest(f"'{param}' must not be an empty token array", param=param, code="invalid_value")
    for token in value:
        if isinstance(token, bool) or not isinstance(token, int):
            raise InvalidRequest(f"'{param}' must hold only integers (token ids)", param=param, code="invalid_type")
        if not 0 <= token < size:
            raise InvalidRequest(
                f"'{param}' holds the token id {token}, outside the vocabulary (0 to {size - 1})",
                param=param,
                code="invalid_value",
            )
    return value


def texts_or_token_arrays(value: object, param: str) -> list[str | list[int]]:
    """OpenAI's four input forms (string, strings, token array, token arrays), as a list of inputs."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            f"'{param}' must be a string, a list of strings, a token array or a list of token arrays",
            param=param,
            code="invalid_type",
        )
    if len(value) > 2048:
        raise InvalidRequest(f"'{param}' holds {len(value)} items; at most 2048", param=param, code="invalid_value")
    if all(isinstance(item, str) for item in value):
        return list(value)
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return [token_array(value, param)]
    if all(isinstance(item, list) for item in value):
        return [token_array(item, f"{param}[{i}]") for i, item in enumerate(value)]
    raise InvalidRequest(
        f"'{param}' mixes kinds: use strings only, token ids only, or token arrays only",
        param=param,
        code="invalid_type",
    )

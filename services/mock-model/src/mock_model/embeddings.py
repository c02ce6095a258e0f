"""`POST /v1/embeddings`: a deterministic unit vector per input, derived from the input's tokens.

Each cl100k_base token has a fixed pseudo-random direction (from SHAKE-256 of its id); an input's
vector is the sum of its tokens' directions, normalised. So the same text always gets the same
vector, a string and its token array get the same one, and texts sharing words point the same way
(cosine similarity means something, as retrieval code expects). The vector has 1536 components
(3072 for a model named `*-large`), or `dimensions` of them: the first ones of the full vector,
normalised again, as OpenAI shortens its embeddings. `encoding_format: "base64"` sends the float32
values little-endian, base64-encoded, as OpenAI does (and as the `openai` SDK asks by default).
"""

from __future__ import annotations

import base64
import hashlib
import math
import operator
import struct
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Any

from aiohttp import web

from . import delivery, tokens, validation
from .errors import InvalidRequest
from .faults import split_model_suffix
from .state import METRICS

MAX_INPUT_TOKENS = 8192  # per input, as OpenAI's embedding models
MAX_REQUEST_TOKENS = 300_000  # summed over the inputs of one request


@dataclass(frozen=True)
class EmbeddingsRequest:
    model: str
    inputs: list[list[int]]  # token ids of each input
    dimensions: int
    base64: bool
    suffix: dict[str, str]


def native_dimensions(model: str) -> int:
    return 3072 if model.endswith("-large") else 1536


def parse_embeddings_request(raw: bytes) -> EmbeddingsRequest:
    body = validation.json_object(raw)
    model = validation.model_name(body)
    name, suffix = split_model_suffix(model)
    if "input" not in body:
        raise InvalidRequest("'input' is required", param="input", code="missing_field")
    inputs: list[list[int]] = []
    for i, item in enumerate(validation.texts_or_token_arrays(body["input"], "input")):
        if item == "":
            raise InvalidRequest("'input' must not hold an empty string", param="input", code="invalid_value")
        ids = tokens.encode(item) if isinstance(item, str) else item
        if len(ids) > MAX_INPUT_TOKENS:
            raise InvalidRequest(
                f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested "
                f"{len(ids)} tokens in input[{i}]. Please reduce your input.",
                param="input",
                code="context_length_exceeded",
            )
        inputs.append(ids)
    total = sum(len(ids) for ids in inputs)
    if total > MAX_REQUEST_TOKENS:
        raise InvalidRequest(
            f"The inputs hold {total} tokens together; at most {MAX_REQUEST_TOKENS} per request.",
            param="input",
            code="max_tokens_per_request",
        )
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise InvalidRequest(
            f"'encoding_format' must be 'float' or 'base64', got {encoding!r}",
            param="encoding_format",
            code="invalid_value",
        )
    native = native_dimensions(name)
    dimensions = validation.integer(body, "dimensions", 1) or native
    if dimensions > native:
        raise InvalidRequest(
            f"'dimensions' is {dimensions}; {name} has at most {native}", param="dimensions", code="invalid_value"
        )
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise InvalidRequest("'user' must be a string", param="user", code="invalid_type")
    return EmbeddingsRequest(name, inputs, dimensions, encoding == "base64", suffix)


@lru_cache(maxsize=8192)
def token_direction(token: int, dimensions: int) -> tuple[int, ...]:
    """The token's fixed direction: `dimensions` signed 16-bit components (a prefix of the longer ones)."""
    raw = hashlib.shake_256(b"mock-embedding/" + token.to_bytes(4, "little")).digest(2 * dimensions)
    return struct.unpack(f"<{dimensions}h", raw)


def float32_vector(ids: list[int], dimensions: int) -> bytes:
    """The input's unit vector as little-endian float32 bytes (what base64 carries)."""
    total = [0] * dimensions
    for token, times in Counter(ids).items():
        direction = token_direction(token, dimensions)
        scaled = direction if times == 1 else map(operator.mul, direction, repeat(times))
        total = list(map(operator.add, total, scaled))
    norm = math.sqrt(math.fsum(x * x for x in total)) or 1.0
    return struct.pack(f"<{dimensions}f", *(x / norm for x in total))


def embedding_value(vector: bytes, as_base64: bool) -> list[float] | str:
    if as_base64:
        return base64.b64encode(vector).decode("ascii")
    # The float32 values themselves, so a float answer and a decoded base64 one are equal.
    return list(struct.unpack(f"<{len(vector) // 4}f", vector))


async def create_embeddings(request: web.Request) -> web.StreamResponse:
    req = parse_embeddings_request(await request.read())
    plan = await delivery.begin(request, req.suffix, "input")
    prompt_tokens = sum(len(ids) for ids in req.inputs)
    request.app[METRICS].count_tokens(prompt_tokens, 0)
    data: list[dict[str, Any]] = [
        {
            "object": "embedding",
            "index": i,
            "embedding": embedding_value(float32_vector(ids, req.dimensions), req.base64),
        }
        for i, ids in enumerate(req.inputs)
    ]
    body = {
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return await delivery.send_json(request, plan, body)

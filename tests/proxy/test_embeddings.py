"""Embeddings through a real proxy in front of a real mock: the official SDK, both encodings, the
vectors the upstream made, OpenAI's body shape, and body checks."""

import base64
import math
import struct

import pytest
from fixtures.openapi import EMBEDDINGS, ERROR, assert_conforms

MODEL = "mock-gpt-model-0701"


async def direct_vectors(mock_sdk, inputs, **kwargs):
    reply = await mock_sdk.embeddings.create(model=MODEL, input=inputs, **kwargs)
    return [item.embedding for item in reply.data]


@pytest.mark.parametrize("encoding", ["float", "base64"])
@pytest.mark.parametrize("inputs", ["his birthday", ["his birthday", "his hobbies", "his languages"]])
async def test_the_sdk_gets_the_upstreams_vectors(proxy_sdk, mock_sdk, inputs, encoding):
    reply = await proxy_sdk.embeddings.create(model=MODEL, input=inputs, encoding_format=encoding, dimensions=16)
    count = 1 if isinstance(inputs, str) else len(inputs)
    assert [item.index for item in reply.data] == list(range(count))
    vectors = [item.embedding for item in reply.data]
    assert vectors == await direct_vectors(mock_sdk, inputs, encoding_format=encoding, dimensions=16)
    if encoding == "base64":  # asked for explicitly, the SDK hands the string over as it came
        vectors = [list(struct.unpack("<16f", base64.b64decode(v))) for v in vectors]
    assert all(len(v) == 16 and math.isclose(math.fsum(x * x for x in v), 1, rel_tol=1e-5) for v in vectors)
    assert reply.usage.prompt_tokens > 0 and reply.usage.total_tokens == reply.usage.prompt_tokens


async def test_the_sdks_default_base64_decodes_to_the_float_vectors(proxy_sdk):
    default = await proxy_sdk.embeddings.create(model=MODEL, input="his birthday")  # the SDK asks for base64
    floats = await proxy_sdk.embeddings.create(model=MODEL, input="his birthday", encoding_format="float")
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)


@pytest.mark.parametrize("encoding", ["float", "base64"])
async def test_bodies_conform_to_openais_schema(proxy_server, http, encoding):
    body = {"model": MODEL, "input": [[1, 2, 3], [4, 5]], "encoding_format": encoding}
    async with http.post(proxy_server.make_url("/v1/embeddings"), json=body) as resp:
        assert resp.status == 200 and resp.headers["X-LLM-Proxy-Model"] == MODEL
        reply = await resp.json()
    assert_conforms(EMBEDDINGS, reply)
    assert isinstance(reply["data"][0]["embedding"], str if encoding == "base64" else list)


@pytest.mark.parametrize(
    "body, param, code",
    [
        ({"input": "hi"}, "model", "missing_field"),
        ({"model": MODEL}, "input", "missing_field"),
        ({"model": MODEL, "input": None}, "input", "missing_field"),
        ({"model": MODEL, "input": 3}, "input", "invalid_type"),
        ({"model": MODEL, "input": []}, "input", "invalid_type"),
        ({"model": MODEL, "input": ["a", 1]}, "input", "invalid_type"),
        ({"model": MODEL, "input": [[1, 2], [True]]}, "input", "invalid_type"),
        ({"model": MODEL, "input": {"text": "hi"}}, "input", "invalid_type"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(proxy_server, http, body, param, code):
    async with http.post(proxy_server.make_url("/v1/embeddings"), json=body) as resp:
        status, error = resp.status, await resp.json()
    assert status == 400 and error["error"]["param"] == param and error["error"]["code"] == code
    assert_conforms(ERROR, error)

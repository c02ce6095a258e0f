"""The mock's embeddings through the official openai SDK: deterministic vectors, dimensions, encodings."""

import base64
import math
import struct

import openai
import pytest

from mock_model import tokens

MODEL = "text-embedding-3-small"


def norm(vector):
    return math.sqrt(sum(x * x for x in vector))


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


async def embed(mock_sdk, value, **options):
    return await mock_sdk.embeddings.create(model=MODEL, input=value, encoding_format="float", **options)


async def test_one_input_gets_one_deterministic_unit_vector_and_real_usage(mock_sdk):
    text = "When is his birthday?"
    first = await embed(mock_sdk, text)
    second = await embed(mock_sdk, text)
    assert first.object == "list" and first.model == MODEL
    [item] = first.data
    assert item.object == "embedding" and item.index == 0
    assert len(item.embedding) == 1536 and norm(item.embedding) == pytest.approx(1.0, abs=1e-5)
    assert second.data[0].embedding == item.embedding
    assert first.usage.prompt_tokens == first.usage.total_tokens == tokens.count(text)


async def test_several_inputs_get_one_vector_each_in_order(mock_sdk):
    texts = ["his birthday", "his favourite football club", "quantum chromodynamics"]
    reply = await embed(mock_sdk, texts)
    assert [d.index for d in reply.data] == [0, 1, 2]
    alone = [(await embed(mock_sdk, t)).data[0].embedding for t in texts]
    assert [d.embedding for d in reply.data] == alone
    assert reply.usage.prompt_tokens == sum(tokens.count(t) for t in texts)


async def test_vectors_come_from_the_tokens_so_shared_words_mean_closer_vectors(mock_sdk):
    reply = await embed(mock_sdk, ["When is his birthday?", "his birthday date", "quantum chromodynamics lecture"])
    question, related, unrelated = (d.embedding for d in reply.data)
    assert cosine(question, related) > cosine(question, unrelated) + 0.2


async def test_a_token_array_gets_the_vector_of_its_text(mock_sdk):
    text = "Which sports can he play?"
    ids = tokens.encode(text)
    by_text = (await embed(mock_sdk, text)).data[0].embedding
    assert (await embed(mock_sdk, ids)).data[0].embedding == by_text
    both = await embed(mock_sdk, [ids, tokens.encode("hello")])
    assert both.data[0].embedding == by_text and len(both.data) == 2
    assert both.usage.prompt_tokens == len(ids) + 1


async def test_dimensions_shortens_the_vector_as_openai_does(mock_sdk):
    text = "his favourite football club"
    full = (await embed(mock_sdk, text)).data[0].embedding
    short = (await embed(mock_sdk, text, dimensions=256)).data[0].embedding
    assert len(short) == 256 and norm(short) == pytest.approx(1.0, abs=1e-5)
    prefix = full[:256]
    assert short == pytest.approx([x / norm(prefix) for x in prefix], abs=1e-6)


async def test_a_large_model_has_3072_dimensions(mock_sdk):
    reply = await mock_sdk.embeddings.create(model="text-embedding-3-large", input="hi", encoding_format="float")
    assert len(reply.data[0].embedding) == 3072


async def test_base64_is_the_same_float32_values_little_endian(mock_sdk):
    texts = ["his birthday", "his hobbies"]
    floats = await embed(mock_sdk, texts)
    raw = await mock_sdk.embeddings.create(model=MODEL, input=texts, encoding_format="base64")
    for as_float, as_base64 in zip(floats.data, raw.data, strict=True):
        packed = base64.b64decode(as_base64.embedding)
        assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == as_float.embedding
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    default = await mock_sdk.embeddings.create(model=MODEL, input=texts)
    assert [d.embedding for d in default.data] == [d.embedding for d in floats.data]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": MODEL}, "input"),
        ({"input": "hi"}, "model"),
        ({"model": MODEL, "input": ""}, "input"),
        ({"model": MODEL, "input": []}, "input"),
        ({"model": MODEL, "input": ["a", 1]}, "input"),
        ({"model": MODEL, "input": [[]]}, "input[0]"),
        ({"model": MODEL, "input": [-1]}, "input"),
        ({"model": MODEL, "input": [10**7]}, "input"),
        ({"model": MODEL, "input": {"text": "hi"}}, "input"),
        ({"model": MODEL, "input": "hi " * 9000}, "input"),
        ({"model": MODEL, "input": "hi", "dimensions": 0}, "dimensions"),
        ({"model": MODEL, "input": "hi", "dimensions": 4096}, "dimensions"),
        ({"model": MODEL, "input": "hi", "dimensions": "many"}, "dimensions"),
        ({"model": MODEL, "input": "hi", "encoding_format": "hex"}, "encoding_format"),
    ],
)
async def test_bad_input_is_an_openai_400_naming_the_field(mock_sdk, body, param):
    with pytest.raises(openai.BadRequestError) as err:
        await mock_sdk.post("/embeddings", body=body, cast_to=object)
    assert err.value.body["type"] == "invalid_request_error" and err.value.body["param"] == param

"""The mock's legacy completions (`/v1/completions`) through the official openai SDK, and on the wire."""

import openai
import pytest
from fixtures.openapi import assert_completion_stream, parse_sse

from mock_model import tokens

PROMPT = "When is his birthday ?"


async def chat_answer(mock_sdk, question):
    reply = await mock_sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content


async def test_plain_answers_the_prompt_with_real_usage(mock_sdk):
    reply = await mock_sdk.completions.create(model="m", prompt=PROMPT, max_tokens=200)
    assert reply.object == "text_completion" and reply.id.startswith("cmpl-") and reply.model == "m"
    [choice] = reply.choices
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.text == await chat_answer(mock_sdk, PROMPT)
    assert reply.usage.prompt_tokens == tokens.count(PROMPT)
    assert reply.usage.completion_tokens == tokens.count(choice.text)


async def test_max_tokens_defaults_to_16_as_openai_does(mock_sdk):
    reply = await mock_sdk.completions.create(model="m", prompt=PROMPT)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 16


async def test_streamed_text_is_the_plain_text(mock_sdk):
    whole = await mock_sdk.completions.create(model="m", prompt=PROMPT, max_tokens=200)
    stream = await mock_sdk.completions.create(
        model="m", prompt=PROMPT, max_tokens=200, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert all(c.object == "text_completion" and c.id == whole.id for c in chunks)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


async def test_several_prompts_get_a_choice_each_and_token_arrays_read_as_their_text(mock_sdk):
    prompts = [PROMPT, "Which sports can he play?"]
    reply = await mock_sdk.completions.create(model="m", prompt=prompts, max_tokens=200)
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.text for c in reply.choices] == [await chat_answer(mock_sdk, p) for p in prompts]
    by_tokens = await mock_sdk.completions.create(model="m", prompt=[tokens.encode(p) for p in prompts], max_tokens=200)
    assert [c.text for c in by_tokens.choices] == [c.text for c in reply.choices]
    assert by_tokens.usage == reply.usage
    one = await mock_sdk.completions.create(model="m", prompt=tokens.encode(PROMPT), max_tokens=200)
    assert one.choices[0].text == reply.choices[0].text


async def test_several_prompts_stream_each_choice_to_its_finish(mock_sdk):
    stream = await mock_sdk.completions.create(model="m", prompt=["a", "b"], max_tokens=5, stream=True)
    chunks = [c async for c in stream]
    texts, finishes = {0: "", 1: ""}, {}
    for chunk in chunks:
        choice = chunk.choices[0]
        texts[choice.index] += choice.text
        if choice.finish_reason:
            finishes[choice.index] = choice.finish_reason
    assert finishes == {0: "length", 1: "length"}
    assert all(tokens.count(t) == 5 for t in texts.values())


async def test_echo_puts_the_prompt_first(mock_sdk):
    plain = await mock_sdk.completions.create(model="m", prompt=PROMPT, max_tokens=200)
    echoed = await mock_sdk.completions.create(model="m", prompt=PROMPT, max_tokens=200, echo=True)
    assert echoed.choices[0].text == PROMPT + plain.choices[0].text


async def test_the_wire_stream_ends_with_done_and_no_done_leaves_it_out(http, mock_server):
    body = {"model": "m", "prompt": PROMPT, "stream": True}
    async with http.post(mock_server.make_url("/v1/completions"), json=body) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert_completion_stream(await resp.read())
    headers = {"X-Mock-Fault": "no_done"}
    async with http.post(mock_server.make_url("/v1/completions"), json=body, headers=headers) as resp:
        events = parse_sse(await resp.read())
    assert events[-1].data != "[DONE]" and '"finish_reason":"length"' in events[-1].data


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "m"}, "prompt"),
        ({"prompt": "hi"}, "model"),
        ({"model": "m", "prompt": 5}, "prompt"),
        ({"model": "m", "prompt": []}, "prompt"),
        ({"model": "m", "prompt": ["a", [1]]}, "prompt"),
        ({"model": "m", "prompt": "hi", "max_tokens": -1}, "max_tokens"),
        ({"model": "m", "prompt": "hi", "n": 2}, "n"),
        ({"model": "m", "prompt": "hi", "best_of": 3}, "best_of"),
        ({"model": "m", "prompt": "hi", "echo": "yes"}, "echo"),
        ({"model": "m", "prompt": "hi", "stream_options": []}, "stream_options"),
    ],
)
async def test_bad_input_is_an_openai_400_naming_the_field(mock_sdk, body, param):
    with pytest.raises(openai.BadRequestError) as err:
        await mock_sdk.post("/completions", body=body, cast_to=object)
    assert err.value.body["type"] == "invalid_request_error" and err.value.body["param"] == param

"""The mock's chat completions through the official openai SDK: shapes, streams, determinism, usage."""

import json

from fixtures.clients import openai_client, sse_events

from mock_model import tokens


def ask(question):
    return [{"role": "system", "content": "You answer about the candidate."}, {"role": "user", "content": question}]


async def test_non_stream_has_the_openai_shape_and_real_usage(mock_sdk):
    messages = ask("When is his birthday ?")
    reply = await mock_sdk.chat.completions.create(model="mock-gpt-model-0701", messages=messages)
    assert reply.object == "chat.completion"
    assert reply.model == "mock-gpt-model-0701"
    assert reply.id.startswith("chatcmpl-")
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "7 January 1998" in choice.message.content
    assert reply.usage.completion_tokens == tokens.count(choice.message.content)
    assert reply.usage.prompt_tokens == tokens.count_chat_prompt(messages)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_the_same_request_gets_the_same_answer(mock_sdk):
    first = await mock_sdk.chat.completions.create(model="m", messages=ask("Which sports can he play?"))
    second = await mock_sdk.chat.completions.create(model="m", messages=ask("Which sports can he play?"))
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.id == second.id


async def test_a_close_question_gets_the_fact_and_an_unknown_one_the_canned_answer(mock_sdk):
    close = await mock_sdk.chat.completions.create(model="m", messages=ask("what is his favorite football club"))
    assert "Liverpool" in close.choices[0].message.content
    unknown = await mock_sdk.chat.completions.create(model="m", messages=ask("Explain quantum chromodynamics"))
    text = unknown.choices[0].message.content
    assert "mock model" in text and "Liverpool" not in text


async def test_stream_sends_role_content_finish_and_usage_chunks(mock_sdk):
    stream = await mock_sdk.chat.completions.create(
        model="m", messages=ask("When is his birthday ?"), stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "7 January 1998" in content
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == tokens.count(content)
    assert len({c.id for c in chunks}) == 1


async def test_stream_without_include_usage_has_no_usage_chunk(mock_sdk):
    stream = await mock_sdk.chat.completions.create(model="m", messages=ask("hello"), stream=True)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


async def test_stream_and_non_stream_give_the_same_text(mock_sdk):
    whole = await mock_sdk.chat.completions.create(model="m", messages=ask("When is his birthday ?"))
    stream = await mock_sdk.chat.completions.create(model="m", messages=ask("When is his birthday ?"), stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == whole.choices[0].message.content


async def test_max_tokens_truncates_with_finish_reason_length(mock_sdk):
    reply = await mock_sdk.chat.completions.create(model="m", messages=ask("When is his birthday ?"), max_tokens=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 3


async def test_response_tokens_and_tokens_per_chunk_shape_the_stream(mock_sdk):
    stream = await mock_sdk.chat.completions.create(
        model="m",
        messages=ask("x"),
        stream=True,
        extra_headers={"X-Mock-Response-Tokens": "20", "X-Mock-Tokens-Per-Chunk": "4"},
    )
    chunks = [c async for c in stream]
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 5
    assert tokens.count("".join(c.choices[0].delta.content for c in content_chunks)) == 20


async def test_models_lists_the_configured_names(make_mock_server):
    server = await make_mock_server(models=("a-model", "b-model"))
    async with openai_client(server) as c:
        models = await c.models.list()
    assert [m.id for m in models.data] == ["a-model", "b-model"]


async def test_sse_framing_and_done_on_the_wire(mock_server, http):
    # raw HTTP: the SDK hides [DONE]
    async with http.post(
        mock_server.make_url("/v1/chat/completions"), json={"model": "m", "stream": True, "messages": ask("hi")}
    ) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = sse_events(await resp.read())
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    for event in events[:-1]:
        json.loads(event[len("data: ") :])

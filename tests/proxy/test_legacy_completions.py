"""Legacy text completions through a real proxy in front of a real mock: the official SDK plain and
streamed, chat's honesty rules for streams ([DONE] only on a whole stream), OpenAI's shapes."""

import json

import pytest
from fixtures.clients import sse_events
from fixtures.mock_servers import mock_base_url
from fixtures.openapi import COMPLETION, ERROR, assert_completion_stream, assert_conforms, parse_sse
from fixtures.proxy_servers import proxy_routes

MODEL = "mock-gpt-model-0701"
PROMPT = "When is his birthday ?"


async def test_plain_and_streamed_say_the_same(proxy_sdk):
    reply = await proxy_sdk.completions.create(model=MODEL, prompt=PROMPT, max_tokens=60)
    assert "7 January 1998" in reply.choices[0].text and reply.usage.completion_tokens > 0
    stream = await proxy_sdk.completions.create(model=MODEL, prompt=PROMPT, max_tokens=60, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == reply.choices[0].text
    assert chunks[-1].choices[0].finish_reason == reply.choices[0].finish_reason


async def test_several_prompts_get_a_choice_each(proxy_sdk):
    reply = await proxy_sdk.completions.create(model=MODEL, prompt=[PROMPT, "What are his hobbies?"], max_tokens=60)
    assert [c.index for c in reply.choices] == [0, 1]
    assert "1998" in reply.choices[0].text and "1998" not in reply.choices[1].text


async def test_bodies_and_chunks_conform_to_openais_schemas(proxy_server, http):
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 60}
    async with http.post(proxy_server.make_url("/v1/completions"), json=body) as resp:
        assert resp.status == 200
        assert_conforms(COMPLETION, await resp.json())
    stream = {**body, "stream": True, "stream_options": {"include_usage": True}}
    async with http.post(proxy_server.make_url("/v1/completions"), json=stream) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        chunks = assert_completion_stream(await resp.read())
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


async def test_a_stream_that_did_not_ask_for_usage_gets_none_but_its_tokens_are_counted(proxy_server, http):
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 60, "stream": True}
    async with http.post(proxy_server.make_url("/v1/completions"), json=body) as resp:
        chunks = assert_completion_stream(await resp.read())
    assert all("usage" not in c and c["choices"] for c in chunks)
    async with http.get(proxy_server.make_url("/metrics")) as resp:
        text = await resp.text()
    assert f'llm_proxy_tokens_total{{kind="completion",model="{MODEL}"}}' in text


@pytest.mark.parametrize(
    "fault, kind",
    [
        ({"X-Mock-Fault": "cut", "X-Mock-Fault-After": "3"}, "cut"),
        ({"X-Mock-Fault": "malformed", "X-Mock-Fault-After": "2", "X-Mock-Token-Delay-Ms": "20"}, "malformed"),
        ({"X-Mock-Fault": "no_done"}, "no_done"),
        ({"X-Mock-Fault": "stall_stream", "X-Mock-Fault-After": "2", "X-Mock-Stall-Ms": "3000"}, "stalled"),
    ],
)
async def test_a_broken_stream_ends_with_an_error_and_no_done(make_proxy, mock_server, http, fault, kind):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["backends"]["mock"]["timeouts"] = {"idle": 0.3}
    proxy = await make_proxy(routes)
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 60, "stream": True}
    async with http.post(proxy.make_url("/v1/completions"), json=body, headers=fault) as resp:
        assert resp.status == 200
        raw = await resp.read()
    assert "data: [DONE]" not in sse_events(raw)
    *chunks, last = parse_sse(raw)
    error = json.loads(last.data)
    assert error["error"]["code"] == f"upstream_stream_{kind}"
    assert_conforms(ERROR, error)
    for chunk in chunks:  # what arrived was passed on, each a valid chunk
        assert_conforms("CreateCompletionStreamChunk", json.loads(chunk.data))


@pytest.mark.parametrize(
    "body, param, code",
    [
        ({"prompt": "hi"}, "model", "missing_field"),
        ({"model": MODEL}, "prompt", "missing_field"),
        ({"model": MODEL, "prompt": 7}, "prompt", "invalid_type"),
        ({"model": MODEL, "prompt": [["x"]]}, "prompt", "invalid_type"),
        ({"model": MODEL, "prompt": "hi", "stream": "true"}, "stream", "invalid_type"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(proxy_server, http, body, param, code):
    async with http.post(proxy_server.make_url("/v1/completions"), json=body) as resp:
        status, error = resp.status, await resp.json()
    assert status == 400 and error["error"]["param"] == param and error["error"]["code"] == code
    assert_conforms(ERROR, error)

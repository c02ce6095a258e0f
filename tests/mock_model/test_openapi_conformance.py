"""Every body and stream event the mock sends, checked against OpenAI's published OpenAPI schemas."""

import json

import aiohttp
import pytest
from fixtures import openapi
from fixtures.openapi import assert_conforms

QUESTION = "When is his birthday ?"
MESSAGES = [{"role": "system", "content": "You answer about the candidate."}, {"role": "user", "content": QUESTION}]


@pytest.fixture
async def server(make_mock_server, http):
    # A fine-tuned model too, so listings and look-ups show both kinds.
    server = await make_mock_server(ft_step_seconds=0)
    form = aiohttp.FormData()
    form.add_field("purpose", "fine-tune")
    form.add_field("file", b'{"messages": []}\n', filename="train.jsonl")
    file_id = (await (await http.post(server.make_url("/v1/files"), data=form)).json())["id"]
    job = {"model": "gpt-4o-mini", "training_file": file_id, "suffix": "cv"}
    job_id = (await (await http.post(server.make_url("/v1/fine_tuning/jobs"), json=job)).json())["id"]
    done = await (await http.get(server.make_url(f"/v1/fine_tuning/jobs/{job_id}"))).json()
    server.ft_model = done["fine_tuned_model"]
    return server


async def post(http, server, path, body, headers=None):
    async with http.post(server.make_url(path), json=body, headers=headers or {}) as resp:
        return resp.status, resp.headers, await resp.read()


@pytest.mark.parametrize(
    "extra",
    [{}, {"max_tokens": 3}, {"max_completion_tokens": 400, "temperature": 0.2}],
    ids=["plain", "cut-by-max-tokens", "options"],
)
async def test_chat_completion(http, server, extra):
    status, _, body = await post(http, server, "/v1/chat/completions", {"model": "m", "messages": MESSAGES, **extra})
    assert status == 200
    assert_conforms(openapi.CHAT_COMPLETION, json.loads(body))


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "include-usage"])
async def test_chat_stream_chunks(http, server, usage):
    request = {"model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": usage}}
    status, headers, body = await post(http, server, "/v1/chat/completions", request)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    chunks = openapi.assert_chat_stream(body)
    assert chunks[0]["choices"][0]["finish_reason"] is None  # what the corrected schema must allow
    assert (chunks[-1]["choices"] == []) is usage


@pytest.mark.parametrize(
    "extra",
    [
        {"input": QUESTION},
        {
            "input": [{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
            "instructions": "Be brief.",
        },
        {"input": QUESTION, "max_output_tokens": 16, "metadata": {"ticket": "42"}, "temperature": 0.5},
    ],
    ids=["string", "items-and-instructions", "incomplete"],
)
async def test_response_object(http, server, extra):
    status, _, body = await post(http, server, "/v1/responses", {"model": "m", **extra})
    assert status == 200
    assert_conforms(openapi.RESPONSE, json.loads(body))


@pytest.mark.parametrize("extra", [{}, {"max_output_tokens": 16}], ids=["completed", "incomplete"])
async def test_response_stream_events(http, server, extra):
    request = {"model": "m", "input": QUESTION, "stream": True, **extra}
    status, headers, body = await post(http, server, "/v1/responses", request)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = openapi.assert_responses_stream(body)
    assert {e["type"] for e in events} >= set(openapi.RESPONSE_EVENTS) - {
        "response.completed",
        "response.incomplete",
        "response.failed",
        "error",
    }
    assert events[-1]["type"] == ("response.incomplete" if extra else "response.completed")


@pytest.mark.parametrize(
    "extra",
    [
        {"prompt": QUESTION},
        {"prompt": [QUESTION, "Which sports can he play?"], "max_tokens": 100, "echo": True},
        {"prompt": [[10, 11, 12]], "max_tokens": 0},
    ],
    ids=["string", "several-echo", "token-array"],
)
async def test_completion(http, server, extra):
    status, _, body = await post(http, server, "/v1/completions", {"model": "m", **extra})
    assert status == 200
    assert_conforms(openapi.COMPLETION, json.loads(body))


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "include-usage"])
async def test_completion_stream_chunks(http, server, usage):
    request = {"model": "m", "prompt": ["a", "b"], "stream": True, "stream_options": {"include_usage": usage}}
    status, _, body = await post(http, server, "/v1/completions", request)
    assert status == 200
    chunks = openapi.assert_completion_stream(body)
    assert chunks[0]["choices"][0]["finish_reason"] is None
    assert ("usage" in chunks[-1]) is usage


@pytest.mark.parametrize(
    "extra",
    [
        {"input": "his birthday"},
        {"input": ["his birthday", "his hobbies"], "dimensions": 64},
        {"input": [[1, 2, 3], [4]], "encoding_format": "base64"},
    ],
    ids=["one", "several-shortened", "token-arrays-base64"],
)
async def test_embeddings(http, server, extra):
    status, _, body = await post(http, server, "/v1/embeddings", {"model": "text-embedding-3-small", **extra})
    assert status == 200
    assert_conforms(openapi.EMBEDDINGS, json.loads(body))


async def test_models_list_and_each_model(http, server):
    async with http.get(server.make_url("/v1/models")) as resp:
        listing = await resp.json()
    assert_conforms(openapi.MODEL_LIST, listing)
    assert [m["id"] for m in listing["data"]] == ["mock-gpt-model-0701", server.ft_model]
    for name in ("mock-gpt-model-0701", server.ft_model):
        async with http.get(server.make_url(f"/v1/models/{name}")) as resp:
            assert resp.status == 200
            assert_conforms(openapi.MODEL, await resp.json())


@pytest.mark.parametrize(
    "method, path, body, headers, status",
    [
        ("POST", "/v1/chat/completions", b"{not json", {}, 400),
        ("POST", "/v1/chat/completions", {"model": "m", "messages": [{"role": "x"}]}, {}, 400),
        ("POST", "/v1/responses", {"model": "m"}, {}, 400),
        ("POST", "/v1/responses", {"model": "m", "input": "hi", "max_output_tokens": 1}, {}, 400),
        ("POST", "/v1/completions", {"model": "m", "prompt": 5}, {}, 400),
        ("POST", "/v1/embeddings", {"model": "m", "input": ""}, {}, 400),
        ("POST", "/v1/embeddings", {"model": "m", "input": "hi"}, {"X-Mock-Fault": "bogus"}, 400),
        ("GET", "/v1/models/nope", None, {}, 404),
        ("GET", "/v1/nothing", None, {}, 404),
        ("GET", "/v1/chat/completions", None, {}, 405),
        ("POST", "/v1/responses", {"model": "m", "input": "hi"}, {"X-Mock-Fault": "rate_limit"}, 429),
        ("POST", "/v1/completions", {"model": "m", "prompt": "hi"}, {"X-Mock-Fault": "status"}, 500),
        ("POST", "/v1/embeddings", {"model": "m", "input": "hi"}, {"X-Mock-Fault": "context_length"}, 400),
    ],
)
async def test_errors(http, server, method, path, body, headers, status):
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    async with http.request(method, server.make_url(path), headers=headers, **kwargs) as resp:
        assert resp.status == status
        assert_conforms(openapi.ERROR, await resp.json())


@pytest.mark.parametrize("fault", ["no_done", "stall_stream"])
async def test_fault_streams_still_send_only_valid_events(http, server, fault):
    headers = {"X-Mock-Fault": fault, "X-Mock-Stall-Ms": "10"}
    _, _, body = await post(http, server, "/v1/responses", {"model": "m", "input": "hi", "stream": True}, headers)
    openapi.assert_responses_stream(body)

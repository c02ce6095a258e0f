"""The Responses API through a real proxy in front of a real mock: the official SDK, typed event
streams relayed as they arrive, grounding, and a stream that breaks ending as a failed response."""

import asyncio
import json
from uuid import uuid4

import openai
import pytest
from fixtures.clients import openai_client
from fixtures.mock_servers import mock_base_url
from fixtures.openapi import ERROR, RESPONSE, assert_conforms, assert_responses_stream, parse_sse
from fixtures.proxy_servers import proxy_routes

from llm_proxy.knowledge import load_knowledge

QUESTION = "When is his birthday ?"


async def post(http, proxy, body, headers=None):
    async with http.post(proxy.make_url("/v1/responses"), json=body, headers=headers or {}) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_a_response_and_its_stream_say_the_same(proxy_sdk):
    reply = await proxy_sdk.responses.create(model="mock-gpt-model-0701", input=QUESTION)
    assert reply.status == "completed" and "7 January 1998" in reply.output_text
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    stream = await proxy_sdk.responses.create(model="mock-gpt-model-0701", input=QUESTION, stream=True)
    events = [event async for event in stream]
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == reply.output_text == events[-1].response.output_text


async def test_the_sdk_stream_helper_assembles_the_final_response(proxy_sdk):
    async with proxy_sdk.responses.stream(
        model="mock-gpt-model-0701",
        input=[{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
        instructions="Answer briefly.",
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.status == "completed" and "7 January 1998" in final.output_text


async def test_bodies_and_every_event_conform_to_openais_schemas(proxy_server, http):
    body = {"model": "mock-gpt-model-0701", "input": QUESTION}
    status, headers, raw = await post(http, proxy_server, body)
    assert status == 200 and headers["X-LLM-Proxy-Model"] == "mock-gpt-model-0701"
    assert_conforms(RESPONSE, json.loads(raw))
    status, headers, raw = await post(http, proxy_server, {**body, "stream": True})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    assert headers["X-Accel-Buffering"] == "no" and "Content-Length" not in headers
    events = assert_responses_stream(raw)
    assert events[-1]["type"] == "response.completed" and b"[DONE]" not in raw


async def test_the_stream_is_the_upstreams_event_for_event(proxy_server, mock_server, http):
    body = {"model": "mock-gpt-model-0701", "input": QUESTION, "stream": True}
    async with http.post(mock_server.make_url("/v1/responses"), json=body) as direct:
        expected = parse_sse(await direct.read())
    _, _, raw = await post(http, proxy_server, body)

    def comparable(events):  # the response's timestamps are the clock's; everything else is the upstream's
        out = []
        for event in events:
            data = json.loads(event.data)
            for key in ("created_at", "completed_at"):
                data.get("response", {}).pop(key, None)
            out.append((event.event, data))
        return out

    assert comparable(parse_sse(raw)) == comparable(expected)


async def test_events_arrive_as_the_upstream_sends_them(proxy_server, http):
    headers = {"X-Mock-Token-Delay-Ms": "150", "X-Mock-Response-Tokens": "5"}
    body = {"model": "mock-gpt-model-0701", "input": QUESTION, "stream": True}
    loop = asyncio.get_running_loop()
    async with http.post(proxy_server.make_url("/v1/responses"), json=body, headers=headers) as resp:
        start = loop.time()
        while b"response.output_text.delta" not in await resp.content.readuntil(b"\n\n"):
            pass
        first_delta_at = loop.time() - start
        await resp.read()
        total = loop.time() - start
    assert total >= 0.6 and first_delta_at < total - 0.4


async def test_a_stream_cut_midway_ends_as_a_failed_response_the_sdk_sees(proxy_sdk):
    cut = {"X-Mock-Fault": "cut", "X-Mock-Fault-After": "2"}
    stream = await proxy_sdk.responses.create(
        model="mock-gpt-model-0701", input=QUESTION, stream=True, extra_headers=cut
    )
    events = [event async for event in stream]
    created, last = events[0], events[-1]
    assert last.type == "response.failed" and last.response.status == "failed"
    assert last.response.id == created.response.id  # the response the stream began
    assert last.response.error.code == "server_error" and "upstream_stream_cut" in last.response.error.message
    assert last.sequence_number == events[-2].sequence_number + 1
    assert not any(e.type == "response.completed" for e in events)
    assert [e.delta for e in events if e.type == "response.output_text.delta"]  # what arrived was passed on
    with pytest.raises(RuntimeError, match="response.completed"):
        async with proxy_sdk.responses.stream(model="mock-gpt-model-0701", input=QUESTION, extra_headers=cut) as helper:
            async for _ in helper:
                pass
            await helper.get_final_response()


@pytest.mark.parametrize(
    "fault, kind",
    [
        ({"X-Mock-Fault": "cut", "X-Mock-Fault-After": "3"}, "cut"),
        ({"X-Mock-Fault": "malformed", "X-Mock-Fault-After": "2", "X-Mock-Token-Delay-Ms": "20"}, "malformed"),
        ({"X-Mock-Fault": "no_done"}, "no_done"),
        ({"X-Mock-Fault": "stall_stream", "X-Mock-Fault-After": "2", "X-Mock-Stall-Ms": "3000"}, "stalled"),
    ],
)
async def test_every_broken_stream_ends_with_a_schema_valid_response_failed(make_proxy, mock_server, http, fault, kind):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["backends"]["mock"]["timeouts"] = {"idle": 0.3}
    proxy = await make_proxy(routes)
    body = {"model": "mock-gpt-model-0701", "input": QUESTION, "stream": True}
    status, _, raw = await post(http, proxy, body, fault)
    assert status == 200  # the status went out with the first event
    events = assert_responses_stream(raw)  # numbered 0, 1, 2... through the proxy's own last event
    assert events[-1]["type"] == "response.failed" and f"upstream_stream_{kind}" in raw.decode()
    assert not any(e["type"] in ("response.completed", "response.incomplete") for e in events)
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert f'llm_proxy_stream_errors_total{{kind="{kind}",model="mock-gpt-model-0701"}} 1.0' in await resp.text()


async def test_a_cut_before_the_first_event_falls_back(make_proxy, mock_server, http):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["models"][0]["fallbacks"] = ["ft-mock"]
    routes["backends"]["mock"]["idempotent"] = False  # no retry of a call that may be billed: the fallback answers
    proxy = await make_proxy(routes)
    for stream in (False, True):
        body = {"model": "mock-gpt-model-0701", "input": QUESTION, "stream": stream}
        # The first call (to the model asked for) is cut before anything arrived; the fallback's is not.
        cut = {
            "X-Mock-Fault": "cut",
            "X-Mock-Fault-After": "0",
            "X-Mock-Fail-Times": "1",
            "X-Mock-Fault-Key": uuid4().hex,
        }
        status, headers, raw = await post(http, proxy, body, cut)
        assert status == 200 and headers["X-LLM-Proxy-Model"] == "ft-mock"
        if stream:
            assert assert_responses_stream(raw)[-1]["response"]["model"] == "ft:mock:test::1"
        else:
            assert json.loads(raw)["model"] == "ft:mock:test::1"


async def test_a_knowledge_route_grounds_the_input_in_instructions(make_proxy, recording_upstream):
    routes = {
        "backends": {"rec": {"base_url": str(recording_upstream.make_url("/v1"))}},
        "models": [{"name": "grounded", "group": "openai", "backend": "rec", "context": "knowledge"}],
    }
    proxy = await make_proxy(routes)
    async with openai_client(proxy) as client:
        await client.responses.create(model="grounded", input=QUESTION)
        await client.responses.create(
            model="grounded",
            instructions="Answer in French.",
            input=[
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": [{"type": "input_text", "text": "What are his hobbies?"}]},
            ],
        )
    (_, first), (_, second) = recording_upstream.requests
    grounder = load_knowledge(None).grounder
    assert first["instructions"] == grounder.ground(QUESTION).system_message and first["input"] == QUESTION
    assert "7 January 1998" in first["instructions"]
    hobbies = grounder.ground("What are his hobbies?").system_message
    assert second["instructions"] == hobbies + "\n\nAnswer in French." and "badminton" in hobbies
    assert len(second["input"]) == 3  # the conversation itself is sent as the client wrote it


async def test_a_route_that_changes_nothing_sends_the_clients_bytes(make_proxy, recording_upstream, http):
    routes = {
        "backends": {"rec": {"base_url": str(recording_upstream.make_url("/v1"))}},
        "models": [{"name": "plain", "group": "mock", "backend": "rec"}],
    }
    proxy = await make_proxy(routes)
    raw = b'{"input": "hi",  "model":"plain", "metadata": {"usage": "not this one"}}'
    async with http.post(proxy.make_url("/v1/responses"), data=raw) as resp:
        assert resp.status == 200
    assert recording_upstream.raw == [raw]
    async with http.get(proxy.make_url("/metrics")) as resp:
        text = await resp.text()  # usage read from the response object, not from a metadata key after it
    assert 'llm_proxy_tokens_total{kind="prompt",model="plain"} 3.0' in text
    assert 'llm_proxy_tokens_total{kind="completion",model="plain"} 1.0' in text


async def test_an_upstreams_own_failed_response_passes_through_whole(make_proxy, aiohttp_server, http):
    from aiohttp import web

    events = [
        {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "status": "in_progress"}},
        {
            "type": "response.failed",
            "sequence_number": 1,
            "response": {"id": "resp_1", "status": "failed", "error": {"code": "server_error", "message": "boom"}},
        },
    ]

    async def responses(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        for event in events:
            await out.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
        return out

    app = web.Application()
    app.router.add_post("/v1/responses", responses)
    upstream = await aiohttp_server(app)
    proxy = await make_proxy(
        {
            "backends": {"up": {"base_url": str(upstream.make_url("/v1"))}},
            "models": [{"name": "m", "group": "mock", "backend": "up"}],
        }
    )
    status, _, raw = await post(http, proxy, {"model": "m", "input": "hi", "stream": True})
    assert status == 200 and [json.loads(e.data) for e in parse_sse(raw)] == events
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert 'llm_proxy_stream_errors_total{kind="upstream_error",model="m"} 1.0' in await resp.text()


@pytest.mark.parametrize(
    "body, param, code",
    [
        ({"input": "hi"}, "model", "missing_field"),
        ({"model": "mock-gpt-model-0701"}, "input", "missing_field"),
        ({"model": "mock-gpt-model-0701", "input": 7}, "input", "invalid_type"),
        ({"model": "mock-gpt-model-0701", "input": []}, "input", "invalid_type"),
        ({"model": "mock-gpt-model-0701", "input": ["hi"]}, "input[0]", "invalid_type"),
        (
            {"model": "mock-gpt-model-0701", "input": [{"role": "user", "content": 5}]},
            "input[0].content",
            "invalid_type",
        ),
        ({"model": "mock-gpt-model-0701", "input": [{"content": "x"}]}, "input[0].role", "invalid_type"),
        ({"model": "mock-gpt-model-0701", "input": "hi", "instructions": ["x"]}, "instructions", "invalid_type"),
        ({"model": "mock-gpt-model-0701", "input": "hi", "stream": "yes"}, "stream", "invalid_type"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(proxy_server, http, body, param, code):
    status, _, raw = await post(http, proxy_server, body)
    error = json.loads(raw)
    assert status == 400 and error["error"]["param"] == param and error["error"]["code"] == code
    assert_conforms(ERROR, error)


async def test_unknown_and_forbidden_models_and_keys(make_proxy, tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {key: team-a-secret, name: team-a, models: [mock-gpt-model-0701]}\n")
    proxy = await make_proxy(api_keys_file=keys)
    async with openai_client(proxy, "team-a-secret") as client:
        with pytest.raises(openai.NotFoundError) as missing:
            await client.responses.create(model="gpt-7", input=QUESTION)
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await client.responses.create(model="ft-mock", input=QUESTION)
    async with openai_client(proxy, "wrong") as client:
        with pytest.raises(openai.AuthenticationError) as wrong:
            await client.responses.create(model="mock-gpt-model-0701", input=QUESTION)
    assert missing.value.code == "model_not_found" and "gpt-7" in missing.value.message
    assert denied.value.code == "model_not_allowed" and wrong.value.code == "invalid_api_key"
    for err in (missing, denied, wrong):
        assert_conforms(ERROR, err.value.response.json())

"""The OpenAI-compatible API through a real proxy and a real mock, with the official SDK and raw HTTP."""

import asyncio
import json

import openai
import pytest
from fixtures.clients import openai_client, sse_events
from fixtures.mock_servers import mock_base_url
from fixtures.proxy_servers import one_model_routes, proxy_routes

QUESTION = [{"role": "user", "content": "When is his birthday ?"}]


async def test_non_stream_answer_passes_through(proxy_sdk):
    reply = await proxy_sdk.chat.completions.create(model="mock-gpt-model-0701", messages=QUESTION)
    assert "7 January 1998" in reply.choices[0].message.content
    assert reply.usage.total_tokens > 0


async def test_stream_answer_passes_through(proxy_sdk):
    stream = await proxy_sdk.chat.completions.create(
        model="mock-gpt-model-0701", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "7 January 1998" in text
    assert chunks[-1].usage is not None


async def test_models_lists_the_table_with_groups(proxy_sdk):
    models = await proxy_sdk.models.list()
    assert [(m.id, m.group) for m in models.data] == [
        ("mock-gpt-model-0701", "mock"),
        ("grounded-mock", "openai"),
        ("ft-mock", "fine-tuned"),
    ]


async def test_unknown_model_is_a_404_naming_it(proxy_sdk):
    with pytest.raises(openai.NotFoundError) as err:
        await proxy_sdk.chat.completions.create(model="gpt-7", messages=QUESTION)
    assert err.value.code == "model_not_found"
    assert "gpt-7" in err.value.message and "mock-gpt-model-0701" in err.value.message


async def test_sse_events_are_the_upstreams_byte_for_byte(proxy_server, mock_server, http):
    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": QUESTION}
    async with http.post(mock_server.make_url("/v1/chat/completions"), json=body) as direct:
        expected = await direct.read()
    async with http.post(proxy_server.make_url("/v1/chat/completions"), json=body) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["X-Accel-Buffering"] == "no"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert "Content-Length" not in resp.headers and "Content-Encoding" not in resp.headers
        assert resp.headers["X-LLM-Proxy-Model"] == "mock-gpt-model-0701"
        got = await resp.read()

    def strip(raw):
        return [json.loads(e[6:]) | {"created": 0} if e != "data: [DONE]" else e for e in sse_events(raw)]

    assert strip(got) == strip(expected)


async def test_chunks_arrive_as_the_upstream_sends_them(proxy_server, http):
    # 5 content chunks 150 ms apart upstream: relayed unbuffered, they reach us spread over time
    # (buffered, they would arrive together at the end). Only the spread is asserted, not speed.
    headers = {"X-Mock-Token-Delay-Ms": "150", "X-Mock-Response-Tokens": "5"}
    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": QUESTION}
    loop = asyncio.get_running_loop()
    arrivals = []
    async with http.post(proxy_server.make_url("/v1/chat/completions"), json=body, headers=headers) as resp:
        while True:
            event = await resp.content.readuntil(b"\n\n")
            if b'"content"' in event:
                arrivals.append(loop.time())
            if event.startswith(b"data: [DONE]"):
                break
    assert len(arrivals) >= 5
    assert arrivals[-1] - arrivals[0] >= 0.3


async def test_model_is_rewritten_and_auth_is_swapped(make_proxy, recording_upstream):
    routes = {
        "backends": {"rec": {"base_url": str(recording_upstream.make_url("/v1")), "api_key": "sk-backend-1234"}},
        "models": [{"name": "alias", "group": "openai", "backend": "rec", "upstream_model": "real-model-id"}],
    }
    proxy = await make_proxy(routes)
    async with openai_client(proxy, "client-secret-key") as client:
        reply = await client.chat.completions.with_raw_response.create(
            model="alias", messages=QUESTION, extra_headers={"X-Mock-TTFT-Ms": "0", "X-Other": "no"}
        )
    headers, body = recording_upstream.requests[0]
    assert body["model"] == "real-model-id"
    assert headers["Authorization"] == "Bearer sk-backend-1234"
    assert "client-secret-key" not in json.dumps(dict(headers))
    assert "X-Mock-TTFT-Ms" not in headers and "X-Other" not in headers  # test knobs only to a backend that asks
    assert reply.headers["X-LLM-Proxy-Upstream-Model"] == "real-model-id"
    assert "X-Upstream" not in reply.headers  # only allowlisted upstream headers reach a client
    assert reply.headers["X-Request-Id"] == headers["X-Request-Id"]


async def test_an_unchanged_body_goes_up_as_the_clients_bytes_and_a_repeated_key_is_refused(
    make_proxy, recording_upstream, http
):
    routes = {
        "backends": {"rec": {"base_url": str(recording_upstream.make_url("/v1"))}},
        "models": [
            {"name": "cheap", "group": "mock", "backend": "rec"},
            {"name": "dear", "group": "openai", "backend": "rec"},
        ],
    }
    proxy = await make_proxy(routes)
    verbatim = b'{ "messages":[{"role":"user","content":"hi"}],  "model" : "cheap", "x_extra": 1.50 }'
    # Parsers disagree on which of two equal keys counts; an escaped spelling is the same key.
    smuggled = [
        b'{"model": "dear", "messages": [{"role": "user", "content": "hi"}], "model": "cheap"}',
        b'{"model": "cheap", "messages": [{"role": "user", "content": "hi"}], "m\\u006fdel": "dear"}',
        b'{"model": "cheap", "messages": [{"role": "user", "content": "hi", "role": "system"}]}',
    ]
    async with http.post(
        proxy.make_url("/v1/chat/completions"), data=verbatim, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 200
    for body in smuggled:
        async with http.post(
            proxy.make_url("/v1/chat/completions"), data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400, body
            error = (await resp.json())["error"]
            assert error["code"] == "duplicate_key" and error["type"] == "invalid_request_error"
    assert recording_upstream.raw == [verbatim]


async def test_a_backend_without_a_key_sends_no_authorization(make_proxy, recording_upstream):
    proxy = await make_proxy(one_model_routes(recording_upstream, group="mock"))
    async with openai_client(proxy, "client-key") as client:
        await client.chat.completions.create(model="m", messages=QUESTION)
    assert "Authorization" not in recording_upstream.requests[0][0]


async def test_request_id_is_taken_from_the_caller_or_made(proxy_server, http):
    body = {"model": "mock-gpt-model-0701", "messages": QUESTION}
    async with http.post(
        proxy_server.make_url("/v1/chat/completions"), json=body, headers={"X-Request-Id": "abc-123"}
    ) as resp:
        assert resp.headers["X-Request-Id"] == "abc-123"
    async with http.post(
        proxy_server.make_url("/v1/chat/completions"), json=body, headers={"X-Request-Id": "bad id with spaces"}
    ) as resp:
        assert resp.headers["X-Request-Id"] != "bad id with spaces" and len(resp.headers["X-Request-Id"]) == 32


@pytest.mark.parametrize(
    "raw, status, param",
    [
        (b"{nope", 400, None),
        (b'"a string"', 400, None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
        (b'{"model": 5, "messages": [{"role": "user", "content": "hi"}]}', 400, "model"),
        (b'{"model": "mock-gpt-model-0701"}', 400, "messages"),
        (b'{"model": "mock-gpt-model-0701", "messages": {}}', 400, "messages"),
        (b'{"model": "mock-gpt-model-0701", "messages": [3]}', 400, "messages[0]"),
        (b'{"model": "mock-gpt-model-0701", "messages": [{"role": 1}]}', 400, "messages[0].role"),
        (b'{"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": 7}]}', 400, "messages[0].content"),
        (
            b'{"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "x"}], "stream": 1}',
            400,
            "stream",
        ),
    ],
)
async def test_bad_input_is_a_clear_400(proxy_server, http, raw, status, param):
    async with http.post(
        proxy_server.make_url("/v1/chat/completions"), data=raw, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error" and error["message"] and error["param"] == param


async def test_limits_on_size_messages_and_nesting(make_proxy, http):
    proxy = await make_proxy(max_body_bytes=2000, max_messages=3, max_content_depth=6)
    url = proxy.make_url("/v1/chat/completions")
    big = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "x" * 5000}]}
    async with http.post(url, json=big) as resp:
        assert resp.status == 413 and (await resp.json())["error"]["code"] == "payload_too_large"
    many = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "x"}] * 4}
    async with http.post(url, json=many) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "too_many_messages"
    deep = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "x"}], "x": [[[[[[[1]]]]]]]}
    async with http.post(url, json=deep) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "too_deep"


async def test_unknown_paths_and_methods_are_openai_errors(proxy_server, http):
    async with http.get(proxy_server.make_url("/v1/nothing")) as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    async with http.get(proxy_server.make_url("/v1/chat/completions")) as resp:
        assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_upstream_unreachable_is_a_502(make_proxy, unused_tcp_port_factory):
    routes = one_model_routes(f"http://127.0.0.1:{unused_tcp_port_factory()}/v1", group="mock")
    proxy = await make_proxy(routes, retry_attempts=1)
    async with openai_client(proxy) as client:
        with pytest.raises(openai.APIStatusError) as err:
            await client.chat.completions.create(model="m", messages=QUESTION)
    assert err.value.status_code == 502 and err.value.code == "upstream_unreachable"


async def test_upstream_timeout_is_a_504(make_proxy, mock_server):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["backends"]["mock"]["timeouts"] = {"first_byte": 0.3}
    proxy = await make_proxy(routes, retry_attempts=1)
    async with openai_client(proxy) as client:
        with pytest.raises(openai.APIStatusError) as err:
            await client.chat.completions.create(
                model="mock-gpt-model-0701",
                messages=QUESTION,
                extra_headers={"X-Mock-Fault": "stall_headers", "X-Mock-Stall-Ms": "3000"},
            )
    assert err.value.status_code == 504 and err.value.code == "upstream_timeout"


async def test_upstream_4xx_passes_through_with_its_body(proxy_sdk):
    with pytest.raises(openai.BadRequestError) as err:
        await proxy_sdk.chat.completions.create(
            model="mock-gpt-model-0701", messages=QUESTION, extra_headers={"X-Mock-Fault": "context_length"}
        )
    assert err.value.code == "context_length_exceeded"


async def test_health_readiness_and_metrics(proxy_server, http, proxy_sdk):
    await proxy_sdk.chat.completions.create(model="mock-gpt-model-0701", messages=QUESTION)
    with pytest.raises(openai.NotFoundError):
        await proxy_sdk.chat.completions.create(model="not-in-table-1", messages=QUESTION)
    async with http.get(proxy_server.make_url("/healthz")) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    async with http.get(proxy_server.make_url("/readyz")) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ready"
    async with http.get(proxy_server.make_url("/metrics")) as resp:
        text = await resp.text()
    assert 'llm_proxy_requests_total{model="mock-gpt-model-0701",status="200"} 1.0' in text
    assert 'llm_proxy_requests_total{model="unknown",status="404"} 1.0' in text
    assert "not-in-table-1" not in text
    assert 'llm_proxy_tokens_total{kind="completion",model="mock-gpt-model-0701"}' in text
    assert "llm_proxy_request_duration_seconds_bucket" in text and "llm_proxy_in_flight_requests 0.0" in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert line.startswith("llm_proxy_")


async def test_a_client_that_disconnects_cancels_the_upstream_stream(proxy_server, mock_server, http):
    # A slow 200-token stream: after the client leaves, the mock must see its connection close soon.
    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": QUESTION}
    headers = {"X-Mock-Token-Delay-Ms": "50", "X-Mock-Response-Tokens": "200"}
    resp = await http.post(proxy_server.make_url("/v1/chat/completions"), json=body, headers=headers)
    await resp.content.readuntil(b"\n\n")
    resp.close()
    for _ in range(40):
        await asyncio.sleep(0.05)
        if not any(p.transport for p in _mock_connections(mock_server)):
            break
    assert not any(p.transport for p in _mock_connections(mock_server))


def _mock_connections(server):
    return list(server.runner.server.connections)

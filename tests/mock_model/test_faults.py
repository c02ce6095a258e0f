"""Every fault the mock can inject, as a client sees it."""

import asyncio
import time

import aiohttp
import openai
import pytest
from fixtures.clients import sse_events

BODY = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "When is his birthday ?"}]}


async def post(http, server, headers, stream=False):
    return await http.post(server.make_url("/v1/chat/completions"), json={**BODY, "stream": stream}, headers=headers)


async def test_status_fault_returns_an_openai_error(mock_sdk):
    with pytest.raises(openai.InternalServerError) as err:
        await mock_sdk.chat.completions.create(**BODY, extra_headers={"X-Mock-Fault": "status", "X-Mock-Status": "503"})
    assert err.value.status_code == 503
    assert err.value.body["code"] == "service_unavailable"


async def test_rate_limit_sends_retry_after(http, mock_server):
    resp = await post(http, mock_server, {"X-Mock-Fault": "rate_limit", "X-Mock-Retry-After": "2"})
    assert resp.status == 429 and resp.headers["Retry-After"] == "2"
    assert (await resp.json())["error"]["code"] == "rate_limit_exceeded"


async def test_context_length_is_a_400_with_its_code(mock_sdk):
    with pytest.raises(openai.BadRequestError) as err:
        await mock_sdk.chat.completions.create(**BODY, extra_headers={"X-Mock-Fault": "context_length"})
    assert err.value.code == "context_length_exceeded"


async def test_stall_before_headers_times_a_client_out(http, mock_server):
    with pytest.raises(asyncio.TimeoutError):
        await http.post(
            mock_server.make_url("/v1/chat/completions"),
            json=BODY,
            headers={"X-Mock-Fault": "stall_headers", "X-Mock-Stall-Ms": "2000"},
            timeout=aiohttp.ClientTimeout(total=0.3),
        )


async def test_stall_mid_stream_pauses_after_n_chunks(http, mock_server):
    started = time.monotonic()  # before the request: the stall cannot have begun earlier
    resp = await post(
        http,
        mock_server,
        {"X-Mock-Fault": "stall_stream", "X-Mock-Fault-After": "2", "X-Mock-Stall-Ms": "400"},
        stream=True,
    )
    first = await resp.content.readuntil(b"\n\n")
    assert first.startswith(b"data: ")
    rest = await resp.read()
    assert time.monotonic() - started >= 0.4
    assert rest.endswith(b"data: [DONE]\n\n")


async def test_cut_ends_the_stream_without_finish_or_done(http, mock_server):
    resp = await post(http, mock_server, {"X-Mock-Fault": "cut", "X-Mock-Fault-After": "3"}, stream=True)
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_cut_in_a_non_stream_body_is_a_short_read(http, mock_server):
    resp = await post(http, mock_server, {"X-Mock-Fault": "cut"})
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_malformed_chunk_is_not_json(http, mock_server):
    resp = await post(http, mock_server, {"X-Mock-Fault": "malformed", "X-Mock-Fault-After": "1"}, stream=True)
    events = sse_events(await resp.read())
    assert any(e.startswith("data: ") and "{not json" in e for e in events)


async def test_no_done_finishes_cleanly_but_without_done(http, mock_server):
    resp = await post(http, mock_server, {"X-Mock-Fault": "no_done"}, stream=True)
    raw = await resp.read()
    assert b'"finish_reason":"stop"' in raw and b"[DONE]" not in raw


async def test_reset_drops_the_connection(http, mock_server):
    with pytest.raises(aiohttp.ClientError):
        resp = await post(http, mock_server, {"X-Mock-Fault": "reset"})
        await resp.read()


async def test_fail_n_times_then_succeed_counts_attempts_by_key(http, mock_server):
    headers = {"X-Mock-Fail-Times": "2", "X-Mock-Fault-Key": "job-1"}
    statuses = []
    for _ in range(3):
        resp = await post(http, mock_server, headers)
        statuses.append((resp.status, resp.headers["X-Mock-Attempt"]))
        await resp.read()
    assert statuses == [(503, "1"), (503, "2"), (200, "3")]
    seen = await (await http.get(mock_server.make_url("/mock/requests"), params={"key": "job-1"})).json()
    assert seen == {"key": "job-1", "requests": 3}


async def test_model_name_suffix_selects_a_fault(mock_sdk):
    with pytest.raises(openai.RateLimitError):
        await mock_sdk.chat.completions.create(model="mock-gpt-model-0701@fault=rate_limit", messages=BODY["messages"])


async def test_configured_fault_rate_is_seeded_and_repeatable(make_mock_server, http):
    async def run():
        server = await make_mock_server(fault="status", fault_rate=0.5, seed=42)
        out = []
        for _ in range(20):
            resp = await post(http, server, {})
            out.append(resp.status)
            await resp.read()
        return out

    first, second = await run(), await run()
    assert first == second
    assert 200 in first and 500 in first


async def test_ttft_delays_the_first_chunk_at_least_as_asked(http, mock_server):
    started = time.monotonic()
    resp = await post(http, mock_server, {"X-Mock-TTFT-Ms": "300"}, stream=True)
    await resp.content.readuntil(b"\n\n")
    assert time.monotonic() - started >= 0.3
    await resp.read()


async def test_token_delay_spaces_the_chunks(http, mock_server):
    started = time.monotonic()
    resp = await post(http, mock_server, {"X-Mock-Token-Delay-Ms": "50", "X-Mock-Response-Tokens": "6"}, stream=True)
    await resp.read()
    assert time.monotonic() - started >= 0.25  # five gaps between six chunks


async def test_unknown_fault_and_bad_numbers_are_400s(http, mock_server):
    for headers in ({"X-Mock-Fault": "meteor"}, {"X-Mock-TTFT-Ms": "soon"}, {"X-Mock-Tokens-Per-Chunk": "0"}):
        resp = await post(http, mock_server, headers)
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


# Every API the mock serves, with a body that gets an answer: the knobs mean the same on each.
ENDPOINTS = {
    "chat": ("POST", "/v1/chat/completions", BODY, "messages"),
    "responses": ("POST", "/v1/responses", {"model": BODY["model"], "input": "When is his birthday ?"}, "input"),
    "completions": ("POST", "/v1/completions", {"model": BODY["model"], "prompt": "When is his birthday ?"}, "prompt"),
    "embeddings": ("POST", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "his birthday"}, "input"),
    "model": ("GET", "/v1/models/mock-gpt-model-0701", None, "model"),
}


async def call(http, server, endpoint, headers=None, **kwargs):
    method, path, body, _ = ENDPOINTS[endpoint]
    return await http.request(method, server.make_url(path), json=body, headers=headers or {}, **kwargs)


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
async def test_error_faults_apply_to_every_api(http, mock_server, endpoint):
    resp = await call(http, mock_server, endpoint, {"X-Mock-Fault": "status", "X-Mock-Status": "502"})
    assert resp.status == 502 and resp.headers["X-Mock-Attempt"] == "1"
    assert (await resp.json())["error"]["code"] == "bad_gateway"
    resp = await call(http, mock_server, endpoint, {"X-Mock-Fault": "rate_limit", "X-Mock-Retry-After": "3"})
    assert resp.status == 429 and resp.headers["Retry-After"] == "3"
    assert (await resp.json())["error"]["type"] == "rate_limit_error"
    resp = await call(http, mock_server, endpoint, {"X-Mock-Fault": "context_length"})
    error = (await resp.json())["error"]
    assert resp.status == 400 and error["code"] == "context_length_exceeded"
    assert error["param"] == ENDPOINTS[endpoint][3]


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
async def test_connection_faults_and_latency_apply_to_every_api(http, mock_server, endpoint):
    with pytest.raises(aiohttp.ClientError):
        resp = await call(http, mock_server, endpoint, {"X-Mock-Fault": "reset"})
        await resp.read()
    resp = await call(http, mock_server, endpoint, {"X-Mock-Fault": "cut"})
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()
    with pytest.raises(asyncio.TimeoutError):
        await call(
            http,
            mock_server,
            endpoint,
            {"X-Mock-Fault": "stall_headers", "X-Mock-Stall-Ms": "2000"},
            timeout=aiohttp.ClientTimeout(total=0.3),
        )
    started = time.monotonic()
    resp = await call(http, mock_server, endpoint, {"X-Mock-TTFT-Ms": "300"})
    await resp.read()
    assert resp.status == 200 and time.monotonic() - started >= 0.3


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
async def test_fail_times_and_the_model_suffix_apply_to_every_api(http, mock_server, endpoint):
    headers = {"X-Mock-Fail-Times": "1", "X-Mock-Fault-Key": f"k-{endpoint}"}
    statuses = []
    for _ in range(2):
        resp = await call(http, mock_server, endpoint, headers)
        statuses.append(resp.status)
        await resp.read()
    assert statuses == [503, 200]
    method, path, body, _ = ENDPOINTS[endpoint]
    if body is None:
        path += "@fault=rate_limit"
    else:
        body = {**body, "model": body["model"] + "@fault=rate_limit"}
    resp = await http.request(method, mock_server.make_url(path), json=body)
    assert resp.status == 429


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/chat/completions", {**BODY, "stream": True}),
        ("/v1/responses", {"model": "m", "input": "When is his birthday ?", "stream": True}),
        ("/v1/completions", {"model": "m", "prompt": "When is his birthday ?", "stream": True}),
    ],
)
async def test_stream_faults_cut_and_stall_every_stream_after_n_pieces(http, mock_server, path, body):
    headers = {"X-Mock-Fault": "cut", "X-Mock-Fault-After": "0"}
    resp = await http.post(mock_server.make_url(path), json=body, headers=headers)
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()
    started = time.monotonic()
    headers = {"X-Mock-Fault": "stall_stream", "X-Mock-Fault-After": "2", "X-Mock-Stall-Ms": "300"}
    resp = await http.post(mock_server.make_url(path), json=body, headers=headers)
    assert (await resp.read()).endswith(b"\n\n") and time.monotonic() - started >= 0.3

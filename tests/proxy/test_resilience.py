"""Upstream faults (from the mock) as the client sees them, and how hard the upstream was tried."""

import asyncio
import json
import uuid

import pytest
from aiohttp import web
from fixtures.clients import sse_events
from fixtures.mock_servers import mock_base_url
from fixtures.proxy_servers import one_model_routes, proxy_routes

QUESTION = [{"role": "user", "content": "When is his birthday ?"}]


async def attempts_seen(http, mock, key):
    async with http.get(mock.make_url("/mock/requests"), params={"key": key}) as resp:
        return (await resp.json())["requests"]


async def call(http, proxy, stream, headers, model="mock-gpt-model-0701"):
    body = {"model": model, "stream": stream, "messages": QUESTION}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 408])
async def test_retryable_statuses_are_retried_then_succeed(make_proxy, mock_server, http, stream, status):
    proxy = await make_proxy(retry_attempts=3)
    key = uuid.uuid4().hex
    headers = {
        "X-Mock-Fail-Times": "2",
        "X-Mock-Fault-Key": key,
        "X-Mock-Fault": "status",
        "X-Mock-Status": str(status),
        "X-Mock-Retry-After": "0",
    }
    got, resp_headers, raw = await call(http, proxy, stream, headers)
    assert got == 200
    assert resp_headers["X-LLM-Proxy-Attempts"] == "3"
    assert await attempts_seen(http, mock_server, key) == 3
    if stream:
        assert sse_events(raw)[-1] == "data: [DONE]"


@pytest.mark.parametrize("stream", [False, True])
async def test_retries_are_bounded_and_the_last_error_passes_through(make_proxy, mock_server, http, stream):
    proxy = await make_proxy(retry_attempts=3)
    key = uuid.uuid4().hex
    headers = {"X-Mock-Fail-Times": "99", "X-Mock-Fault-Key": key, "X-Mock-Status": "503"}
    got, _, raw = await call(http, proxy, stream, headers)
    assert got == 503
    assert json.loads(raw)["error"]["code"] == "service_unavailable"
    assert await attempts_seen(http, mock_server, key) == 3


@pytest.mark.parametrize("stream", [False, True])
async def test_other_4xx_are_never_retried(make_proxy, mock_server, http, stream):
    proxy = await make_proxy(retry_attempts=3)
    key = uuid.uuid4().hex
    headers = {"X-Mock-Fail-Times": "1", "X-Mock-Fault-Key": key, "X-Mock-Fault": "context_length"}
    got, _, raw = await call(http, proxy, stream, headers)
    assert got == 400 and json.loads(raw)["error"]["code"] == "context_length_exceeded"
    assert await attempts_seen(http, mock_server, key) == 1


async def test_retry_after_is_honoured_and_capped(make_proxy, mock_server, http):
    proxy = await make_proxy(retry_attempts=2, retry_after_max=0.5)
    loop = asyncio.get_running_loop()
    key = uuid.uuid4().hex
    headers = {
        "X-Mock-Fail-Times": "1",
        "X-Mock-Fault-Key": key,
        "X-Mock-Fault": "rate_limit",
        "X-Mock-Retry-After": "0.3",
    }
    started = loop.time()
    assert (await call(http, proxy, False, headers))[0] == 200
    assert loop.time() - started >= 0.3
    key = uuid.uuid4().hex
    headers = {**headers, "X-Mock-Fault-Key": key, "X-Mock-Retry-After": "30"}
    started = loop.time()
    assert (await call(http, proxy, False, headers))[0] == 200
    assert 0.5 <= loop.time() - started < 5  # capped at 0.5 s, not 30


async def test_the_time_budget_stops_retries(make_proxy, mock_server, http):
    proxy = await make_proxy(retry_attempts=10, request_budget=0.5, retry_after_max=0.3)
    key = uuid.uuid4().hex
    headers = {
        "X-Mock-Fail-Times": "99",
        "X-Mock-Fault-Key": key,
        "X-Mock-Fault": "rate_limit",
        "X-Mock-Retry-After": "0.3",
    }
    assert (await call(http, proxy, False, headers))[0] == 429
    assert await attempts_seen(http, mock_server, key) <= 2


@pytest.mark.parametrize("stream", [False, True])
async def test_fallbacks_answer_when_a_model_is_down(make_proxy, mock_server, unused_tcp_port_factory, http, stream):
    routes = proxy_routes(
        mock_base_url(mock_server), dead={"base_url": f"http://127.0.0.1:{unused_tcp_port_factory()}/v1"}
    )
    routes["models"].append(
        {"name": "gpt-4", "group": "openai", "backend": "dead", "fallbacks": ["grounded-mock", "mock-gpt-model-0701"]}
    )
    proxy = await make_proxy(routes, retry_attempts=2)
    got, headers, raw = await call(http, proxy, stream, {}, model="gpt-4")
    assert got == 200
    assert headers["X-LLM-Proxy-Model"] == "grounded-mock"
    assert headers["X-LLM-Proxy-Attempts"] == "3"  # two on the dead backend, one on the fallback
    if stream:
        assert sse_events(raw)[-1] == "data: [DONE]"
        assert json.loads(sse_events(raw)[0][6:])["model"] == "mock-gpt-model-0701"
    else:
        assert json.loads(raw)["model"] == "mock-gpt-model-0701"


async def test_a_stream_that_fails_before_its_first_event_falls_back(make_proxy, mock_server, http):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["models"][0]["fallbacks"] = ["ft-mock"]
    proxy = await make_proxy(routes, retry_attempts=1)
    got, headers, raw = await call(
        http,
        proxy,
        True,
        {
            "X-Mock-Fault": "cut",
            "X-Mock-Fault-After": "0",
            "X-Mock-Fail-Times": "1",
            "X-Mock-Fault-Key": uuid.uuid4().hex,
        },
    )
    assert got == 200 and headers["X-LLM-Proxy-Model"] == "ft-mock"
    assert sse_events(raw)[-1] == "data: [DONE]"


@pytest.mark.parametrize(
    "fault, kind",
    [
        ({"X-Mock-Fault": "cut", "X-Mock-Fault-After": "3"}, "cut"),
        ({"X-Mock-Fault": "malformed", "X-Mock-Fault-After": "2", "X-Mock-Token-Delay-Ms": "20"}, "malformed"),
        ({"X-Mock-Fault": "no_done"}, "no_done"),
        ({"X-Mock-Fault": "stall_stream", "X-Mock-Fault-After": "2", "X-Mock-Stall-Ms": "3000"}, "stalled"),
    ],
)
async def test_a_stream_that_breaks_after_it_started_ends_with_an_error_event_and_no_done(
    make_proxy, mock_server, http, fault, kind
):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["backends"]["mock"]["timeouts"] = {"idle": 0.3}
    proxy = await make_proxy(routes)
    got, _, raw = await call(http, proxy, True, fault)
    assert got == 200  # the status went out with the first chunk
    evs = sse_events(raw)
    assert "data: [DONE]" not in evs
    error = json.loads(evs[-1][6:])["error"]
    assert error["code"] == f"upstream_stream_{kind}" and error["type"] == "upstream_error"
    assert any('"content"' in e for e in evs[:-1])  # what did arrive was passed on
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert f'llm_proxy_stream_errors_total{{kind="{kind}",model="mock-gpt-model-0701"}} 1.0' in await resp.text()


async def test_a_malformed_stream_before_anything_was_sent_is_retried_then_a_502(make_proxy, mock_server, http):
    proxy = await make_proxy(retry_attempts=2)
    key = uuid.uuid4().hex
    got, _, raw = await call(
        http,
        proxy,
        True,
        {"X-Mock-Fault": "malformed", "X-Mock-Fault-After": "0", "X-Mock-Fail-Times": "9", "X-Mock-Fault-Key": key},
    )
    assert got == 502 and json.loads(raw)["error"]["code"] == "upstream_protocol_error"
    assert await attempts_seen(http, mock_server, key) == 2


@pytest.mark.parametrize("fault", ["cut", "reset"])
async def test_a_non_stream_answer_cut_or_reset_is_retried(make_proxy, mock_server, http, fault):
    proxy = await make_proxy(retry_attempts=2)
    key = uuid.uuid4().hex
    got, _, raw = await call(
        http, proxy, False, {"X-Mock-Fault": fault, "X-Mock-Fail-Times": "1", "X-Mock-Fault-Key": key}
    )
    assert got == 200 and "choices" in json.loads(raw)
    assert await attempts_seen(http, mock_server, key) == 2


async def test_the_circuit_opens_and_fallbacks_skip_the_dead_backend(
    make_proxy, mock_server, http, unused_tcp_port_factory
):
    routes = proxy_routes(
        mock_base_url(mock_server), dead={"base_url": f"http://127.0.0.1:{unused_tcp_port_factory()}/v1"}
    )
    routes["models"].append(
        {"name": "flaky", "group": "openai", "backend": "dead", "fallbacks": ["mock-gpt-model-0701"]}
    )
    proxy = await make_proxy(routes, retry_attempts=1, breaker_failures=2, breaker_cooldown=60)
    for _ in range(4):
        got, headers, _ = await call(http, proxy, False, {}, model="flaky")
        assert got == 200 and headers["X-LLM-Proxy-Model"] == "mock-gpt-model-0701"
    async with http.get(proxy.make_url("/metrics")) as resp:
        text = await resp.text()
    assert 'llm_proxy_circuit_state{backend="dead"} 2.0' in text
    # Two failures opened it; the later requests did not touch the dead backend at all.
    assert 'llm_proxy_upstream_attempts_total{backend="dead"} 2.0' in text


async def proxy_to_an_erring_upstream(make_proxy, chat_upstream, api_key, status, code, message):
    """A proxy whose model `m` goes to an upstream that answers every chat request with this
    OpenAI error; `message` is called with the request, so it can echo what the upstream got."""

    async def fail(request: web.Request) -> web.Response:
        error = {"message": message(request), "type": "invalid_request_error", "code": code}
        return web.json_response({"error": error}, status=status)

    return await make_proxy(one_model_routes(await chat_upstream(fail), api_key=api_key))


async def test_upstream_credentials_rejected_is_a_proxy_problem_not_the_clients(make_proxy, chat_upstream, http):
    proxy = await proxy_to_an_erring_upstream(
        make_proxy,
        chat_upstream,
        api_key="sk-abcdef123456789",
        status=401,
        code="invalid_api_key",
        message=lambda request: "Incorrect API key provided: sk-abcdef123456789",
    )
    got, _, raw = await call(http, proxy, False, {}, model="m")
    assert got == 502
    assert json.loads(raw)["error"]["code"] == "upstream_auth_failed"
    assert b"sk-abcdef" not in raw


async def test_secrets_in_a_passed_through_upstream_error_are_redacted(make_proxy, chat_upstream, http):
    proxy = await proxy_to_an_erring_upstream(
        make_proxy,
        chat_upstream,
        api_key="sk-backend-secret-999",
        status=400,
        code="bad",
        message=lambda request: f"bad request from key sk-backend-secret-999 ({request.headers['Authorization']})",
    )
    got, _, raw = await call(http, proxy, False, {}, model="m")
    assert got == 400
    assert b"sk-backend-secret-999" not in raw and b"[REDACTED]" in raw

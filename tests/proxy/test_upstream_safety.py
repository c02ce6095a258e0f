"""What one client can make the proxy do to an upstream (security review, issue 15): breakers that
always settle, fallbacks within the key's allowlist, a bounded number of upstream calls, and no
second call for an answer the upstream may already have billed."""

import asyncio
import json
import uuid

import aiohttp
import pytest
from aiohttp import web
from fixtures.mock_servers import mock_base_url
from fixtures.proxy_servers import chat_answer, one_model_routes, proxy_routes

QUESTION = [{"role": "user", "content": "hi"}]
CHAT = {"model": "m", "messages": QUESTION}
OK = chat_answer(answer_id="chatcmpl-1", usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})


async def scripted_upstream(chat_upstream, script: list[str]):
    """An upstream that answers its n-th chat call as `script[n]` says (the last entry repeats):
    `ok`, `500`, `401`, `stall` (no answer for a minute)."""
    calls: list[str] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        step = script[min(len(calls), len(script) - 1)]
        calls.append(step)
        if step == "stall":
            await asyncio.sleep(60)
        if step in ("500", "401"):
            error = {"message": f"scripted {step}", "type": "server_error", "code": step}
            return web.json_response({"error": error}, status=int(step))
        return web.json_response(OK)

    server = await chat_upstream(chat)
    server.calls = calls
    return server


async def post(http, proxy, body=CHAT, headers=None, **kwargs):
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body, headers=headers, **kwargs) as resp:
        return resp.status, await resp.json()


async def open_then_cool(http, proxy):
    """One failing call opens the breaker (threshold 1); wait out the short cooldown."""
    assert (await post(http, proxy))[0] == 500
    assert (await post(http, proxy))[1]["error"]["code"] == "circuit_open"
    await asyncio.sleep(0.3)


BREAKER = {"retry_attempts": 1, "breaker_failures": 1, "breaker_cooldown": 0.2}


async def test_a_probe_refused_with_401_settles_and_the_next_request_gets_through(make_proxy, chat_upstream, http):
    upstream = await scripted_upstream(chat_upstream, ["500", "401", "ok"])
    proxy = await make_proxy(one_model_routes(upstream), **BREAKER)
    await open_then_cool(http, proxy)
    status, body = await post(http, proxy)  # the probe: the upstream refuses the proxy's key
    assert status == 502 and body["error"]["code"] == "upstream_auth_failed"
    status, body = await post(http, proxy)
    assert status == 200, body  # was: 503 circuit_open for everyone until a restart
    assert upstream.calls == ["500", "401", "ok"]


async def test_a_probe_whose_client_went_away_settles_and_the_next_request_gets_through(
    make_proxy, chat_upstream, http
):
    upstream = await scripted_upstream(chat_upstream, ["500", "stall", "ok"])
    proxy = await make_proxy(one_model_routes(upstream), **BREAKER)
    await open_then_cool(http, proxy)
    with pytest.raises(asyncio.TimeoutError):  # the probe's client gives up and disconnects
        await post(http, proxy, timeout=aiohttp.ClientTimeout(total=0.5))
    for _ in range(50):  # the proxy notices the disconnect and cancels the probe
        status, body = await post(http, proxy)
        if status == 200:
            break
        assert body["error"]["code"] == "circuit_open"
        await asyncio.sleep(0.05)
    assert status == 200
    assert upstream.calls == ["500", "stall", "ok"]


async def test_a_probe_that_fails_inside_the_proxy_settles(make_proxy, chat_upstream, http):
    upstream = await scripted_upstream(chat_upstream, ["500", "ok"])
    proxy = await make_proxy(one_model_routes(upstream, forward_test_headers=True), **BREAKER)
    await open_then_cool(http, proxy)
    # A test header that is not valid Latin-1 cannot be sent on: the probe request fails early.
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
    body = json.dumps(CHAT).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Mock-Note: caf\xff\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] in (b"400", b"500")
    status, body = await post(http, proxy)
    assert status == 200, body
    assert upstream.calls == ["500", "ok"]


async def test_fallbacks_skip_models_the_key_may_not_use(
    make_proxy, mock_server, unused_tcp_port_factory, http, tmp_path
):
    routes = proxy_routes(
        mock_base_url(mock_server), dead={"base_url": f"http://127.0.0.1:{unused_tcp_port_factory()}/v1"}
    )
    routes["models"].append({"name": "premium", "group": "openai", "backend": "dead", "fallbacks": ["ft-mock"]})
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n  - {key: only-premium-key, name: narrow, models: [premium]}\n  - {key: wide-key, name: wide}\n"
    )
    proxy = await make_proxy(routes, retry_attempts=1, api_keys_file=keys)
    status, body = await post(
        http, proxy, {"model": "premium", "messages": QUESTION}, {"Authorization": "Bearer only-premium-key"}
    )
    assert status == 502 and body["error"]["code"] == "upstream_unreachable"  # was: 200 from ft-mock
    status, body = await post(
        http, proxy, {"model": "premium", "messages": QUESTION}, {"Authorization": "Bearer wide-key"}
    )
    assert status == 200 and body["model"] == "ft:mock:test::1"


async def attempts_metric(http, proxy) -> float:
    async with http.get(proxy.make_url("/metrics")) as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("llm_proxy_upstream_attempts_total{")
    )


async def test_one_request_makes_at_most_request_attempts_upstream_calls(make_proxy, unused_tcp_port_factory, http):
    dead = {f"dead{i}": {"base_url": f"http://127.0.0.1:{unused_tcp_port_factory()}/v1"} for i in range(3)}
    routes = {
        "backends": dead,
        "models": [
            {"name": "m", "group": "openai", "backend": "dead0", "fallbacks": ["f1", "f2"]},
            {"name": "f1", "group": "openai", "backend": "dead1"},
            {"name": "f2", "group": "openai", "backend": "dead2"},
        ],
    }
    proxy = await make_proxy(routes, retry_attempts=3, request_attempts=4, breaker_failures=10)
    status, body = await post(http, proxy)
    assert status == 502 and body["error"]["code"] == "upstream_unreachable"
    assert await attempts_metric(http, proxy) == 4  # was: 9 (three attempts on each of three models)


@pytest.mark.parametrize("idempotent, calls", [(False, 1), (True, 3)])
async def test_a_timeout_after_the_request_went_out_is_retried_only_when_idempotent(
    make_proxy, chat_upstream, http, idempotent, calls
):
    upstream = await scripted_upstream(chat_upstream, ["stall"])
    routes = one_model_routes(upstream, idempotent=idempotent, timeouts={"first_byte": 0.3})
    proxy = await make_proxy(routes, retry_attempts=3)
    status, body = await post(http, proxy)
    assert status == 504 and body["error"]["code"] == "upstream_timeout"
    assert len(upstream.calls) == calls  # was: 3 either way, each possibly billed


async def test_a_route_can_say_it_is_idempotent_on_a_backend_that_is_not(make_proxy, chat_upstream, http):
    upstream = await scripted_upstream(chat_upstream, ["stall", "ok"])
    routes = one_model_routes(upstream, timeouts={"first_byte": 0.3})
    routes["models"][0]["idempotent"] = True
    proxy = await make_proxy(routes, retry_attempts=2)
    assert (await post(http, proxy))[0] == 200
    assert upstream.calls == ["stall", "ok"]


@pytest.mark.parametrize(
    "stream, fault",
    [
        (False, {"X-Mock-Fault": "reset"}),
        (False, {"X-Mock-Fault": "cut"}),
        (True, {"X-Mock-Fault": "cut", "X-Mock-Fault-After": "0"}),
    ],
)
async def test_an_answer_broken_after_the_request_went_out_is_not_sent_again(
    make_proxy, mock_server, http, stream, fault
):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["backends"]["mock"]["idempotent"] = False
    proxy = await make_proxy(routes, retry_attempts=3)
    key = uuid.uuid4().hex
    headers = {**fault, "X-Mock-Fail-Times": "9", "X-Mock-Fault-Key": key}
    body = {"model": "mock-gpt-model-0701", "stream": stream, "messages": QUESTION}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body, headers=headers) as resp:
        assert resp.status == 502
    async with http.get(mock_server.make_url("/mock/requests"), params={"key": key}) as resp:
        assert (await resp.json())["requests"] == 1


async def test_a_refused_connection_is_still_retried(make_proxy, unused_tcp_port_factory, http):
    routes = one_model_routes(f"http://127.0.0.1:{unused_tcp_port_factory()}/v1")
    proxy = await make_proxy(routes, retry_attempts=3)
    assert (await post(http, proxy))[0] == 502
    assert await attempts_metric(http, proxy) == 3  # nothing was sent, so nothing can be billed twice


async def test_test_headers_reach_only_a_backend_that_opts_in(make_proxy, recording_upstream, http):
    url = str(recording_upstream.make_url("/v1"))
    routes = {
        "backends": {"real": {"base_url": url}, "test": {"base_url": url, "forward_test_headers": True}},
        "models": [
            {"name": "real", "group": "openai", "backend": "real"},
            {"name": "test", "group": "mock", "backend": "test"},
        ],
    }
    proxy = await make_proxy(routes)
    knobs = {"X-Mock-Fault": "status", "X-Mock-Response-Tokens": "99"}
    for model in ("real", "test"):
        assert (await post(http, proxy, {"model": model, "messages": QUESTION}, knobs))[0] == 200
    (real, _), (test, _) = recording_upstream.requests
    assert not [h for h in real if h.lower().startswith("x-mock-")]
    assert test["X-Mock-Fault"] == "status" and test["X-Mock-Response-Tokens"] == "99"

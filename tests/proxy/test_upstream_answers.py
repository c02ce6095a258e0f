"""What an upstream's answer can and cannot carry to a client or a log (security review, issue 15):
allowlisted headers only, no upstream 5xx text, no unbounded body, no credentials in a log line."""

import asyncio
import json
import sys
from pathlib import Path

import pytest
from aiohttp import web
from fixtures.clients import free_port
from fixtures.proxy_servers import chat_answer

QUESTION = [{"role": "user", "content": "hi"}]
BACKEND_KEY = "sk-backend-key-0123456789"
OK = chat_answer(answer_id="chatcmpl-1")


async def upstream_answering(aiohttp_server, answer):
    """An upstream whose every chat call is answered by `answer(request)`; `.calls` counts them."""
    calls = []

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        calls.append(request)
        return await answer(request)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    server = await aiohttp_server(app)
    server.calls = calls
    return server


async def proxy_to(make_proxy, upstream, **settings):
    routes = {
        "backends": {"up": {"base_url": str(upstream.make_url("/v1")), "api_key": BACKEND_KEY}},
        "models": [{"name": "m", "group": "openai", "backend": "up"}],
    }
    return await make_proxy(routes, **settings)


async def ask(http, proxy):
    body = {"model": "m", "messages": QUESTION}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_only_allowlisted_upstream_headers_reach_the_client(make_proxy, aiohttp_server, http):
    async def answer(request):
        headers = {
            "Authorization": request.headers["Authorization"],  # an upstream echoing the proxy's key
            "X-Debug-Key": request.headers["Authorization"],
            "Set-Cookie": "session=upstream",
            "Server": "upstream/1.2.3",
            "X-Upstream-Host": "10.0.0.7",
            "openai-processing-ms": "12",
            "openai-organization": "acme-corp",
            "x-ratelimit-remaining-requests": "99",
        }
        return web.json_response(OK, headers=headers)

    proxy = await proxy_to(make_proxy, await upstream_answering(aiohttp_server, answer))
    status, headers, _ = await ask(http, proxy)
    assert status == 200
    for dropped in ("Authorization", "X-Debug-Key", "Set-Cookie", "X-Upstream-Host", "openai-organization"):
        assert dropped not in headers, dropped  # Authorization used to be passed on, the key with it
    assert headers["Server"] == "llm-proxy"
    assert headers["openai-processing-ms"] == "12" and headers["x-ratelimit-remaining-requests"] == "99"
    assert BACKEND_KEY not in json.dumps(dict(headers))


async def test_an_upstream_5xx_body_is_replaced_by_its_status_and_code(make_proxy, aiohttp_server, http):
    async def answer(request):
        dump = f"Traceback ... request headers {dict(request.headers)} password=hunter2 at db-7.internal"
        error = {"message": dump, "type": "server_error", "code": "internal_error"}
        return web.json_response({"error": error}, status=500)

    proxy = await proxy_to(make_proxy, await upstream_answering(aiohttp_server, answer), retry_attempts=1)
    status, _, raw = await ask(http, proxy)
    assert status == 500
    error = json.loads(raw)["error"]
    assert error["code"] == "internal_error" and error["type"] == "upstream_error"
    assert b"hunter2" not in raw and b"db-7" not in raw and b"Traceback" not in raw


async def test_a_4xx_body_still_passes_with_credentials_redacted(make_proxy, aiohttp_server, http):
    async def answer(request):
        message = f"bad request; you sent Authorization: {request.headers['Authorization']}"
        return web.json_response(
            {"error": {"message": message, "type": "invalid_request_error", "code": "x"}}, status=400
        )

    proxy = await proxy_to(make_proxy, await upstream_answering(aiohttp_server, answer))
    status, _, raw = await ask(http, proxy)
    assert status == 400 and b"bad request; you sent" in raw and BACKEND_KEY.encode() not in raw


async def test_an_answer_over_the_cap_is_a_502_and_not_asked_for_again(make_proxy, aiohttp_server, http):
    async def answer(request):
        huge = {**OK, "padding": "x" * 200_000}
        return web.json_response(huge)

    upstream = await upstream_answering(aiohttp_server, answer)
    proxy = await proxy_to(make_proxy, upstream, max_upstream_body_bytes=65536, retry_attempts=3)
    status, _, raw = await ask(http, proxy)
    assert status == 502 and json.loads(raw)["error"]["code"] == "upstream_response_too_large"
    assert len(upstream.calls) == 1  # was: read whole into memory, whatever its size


@pytest.mark.parametrize("line", [b"Authorization: Bearer team-secret-key\x01", b"api-key: team-secret-key\x7f"])
async def test_a_request_the_parser_refuses_is_logged_without_its_credentials(line):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "llm-proxy"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--allow-anonymous",
        env={"PATH": "/usr/bin:/bin", "LLM_PROXY_DRAIN_DELAY": "0"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n")
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    log = out.decode(errors="replace")
    assert "Error handling request" in log  # aiohttp logged the refused request...
    assert "team-secret-key" not in log and "[REDACTED]" in log  # ...without the key (it quoted the line)


async def test_a_stream_event_without_end_is_cut_off_not_held(make_proxy, aiohttp_server, http):
    sent = []

    async def answer(request):
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        first = {**OK, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a"}}]}
        await response.write(b"data: " + json.dumps(first).encode() + b"\n\n")
        try:
            await response.write(b'data: {"x": "')
            for _ in range(640):  # 40 MiB of one event that never ends
                await response.write(b"y" * 65536)
                sent.append(65536)
        except ConnectionError:
            pass  # the proxy hung up
        return response

    proxy = await proxy_to(make_proxy, await upstream_answering(aiohttp_server, answer))
    body = {"model": "m", "messages": QUESTION, "stream": True}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body) as resp:
        raw = await resp.read()
    last = json.loads(raw.decode().strip().split("\n\n")[-1][6:])
    assert last["error"]["code"] == "upstream_stream_malformed" and "larger than" in last["error"]["message"]
    assert sum(sent) < 40 * 1024 * 1024  # the upstream was cut off, not read to its end into memory

"""Slow and idle clients are cut off (security review, issue 15, finding 9), on a real `llm-proxy`
process with short limits, through raw sockets: a socket that sends nothing, headers a byte at a
time, a body a byte at a time, an idle kept-alive connection, and one connection too many."""

import asyncio
import json
import socket

import pytest
from aiohttp import web
from fixtures.proxy_processes import spawn_proxy

SHORT = {
    "LLM_PROXY_HEADER_TIMEOUT": "0.5",
    "LLM_PROXY_BODY_TIMEOUT": "0.5",
    "LLM_PROXY_KEEPALIVE_TIMEOUT": "0.5",
}
WAIT = 15  # seconds a test waits for the proxy to act, far beyond its limits


async def start_proxy(env: dict[str, str]):
    proc, port = await spawn_proxy(
        "--allow-anonymous", env={"LLM_PROXY_LOG_REQUESTS": "false", **env}, output=asyncio.subprocess.DEVNULL
    )
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc, port
        except OSError:
            await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("llm-proxy did not start")


@pytest.fixture
async def proxy():
    started = []

    async def start(**env):
        proc, port = await start_proxy({**SHORT, **env})
        started.append(proc)
        return port

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def closed_by_the_proxy(reader: asyncio.StreamReader) -> bytes:
    """Everything the proxy sends until it closes the connection (it must, within WAIT)."""
    return await asyncio.wait_for(reader.read(), WAIT)


async def test_a_connection_that_sends_nothing_is_closed(proxy):
    reader, writer = await asyncio.open_connection("127.0.0.1", await proxy())
    assert await closed_by_the_proxy(reader) == b""  # was: open forever
    writer.close()


async def test_headers_sent_a_byte_at_a_time_are_cut_off(proxy):
    reader, writer = await asyncio.open_connection("127.0.0.1", await proxy())
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: " + b"a" * 200 + b"\r\n\r\n"
    sent = 0

    async def trickle() -> None:
        nonlocal sent
        for byte in request:
            writer.write(bytes([byte]))
            sent += 1
            await asyncio.sleep(0.05)

    feeding = asyncio.create_task(trickle())
    answer = await closed_by_the_proxy(reader)
    feeding.cancel()
    assert answer == b"" and sent < len(request)  # cut off before the headers were complete
    writer.close()


async def test_a_body_sent_a_byte_at_a_time_gets_408_and_the_connection_closed(proxy):
    reader, writer = await asyncio.open_connection("127.0.0.1", await proxy())
    body = json.dumps({"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "hi"}]}).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )

    async def trickle() -> None:
        for byte in body:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    feeding = asyncio.create_task(trickle())
    answer = await closed_by_the_proxy(reader)
    feeding.cancel()
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"code": "request_timeout"' in answer
    writer.close()


async def test_an_idle_kept_alive_connection_is_closed_and_a_busy_one_is_not(proxy):
    reader, writer = await asyncio.open_connection("127.0.0.1", await proxy())
    for _ in range(3):  # requests in quick succession keep it open
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 200 ")
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
        await reader.readexactly(length)
        await asyncio.sleep(0.1)
    assert await closed_by_the_proxy(reader) == b""  # then idle: closed after the keep-alive limit
    writer.close()


async def test_connections_over_the_cap_get_503_and_are_closed(proxy):
    port = await proxy(LLM_PROXY_MAX_CONNECTIONS="3", LLM_PROXY_HEADER_TIMEOUT="30")
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.2)  # all three accepted
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = await closed_by_the_proxy(reader)
    assert answer.startswith(b"HTTP/1.1 503 ")  # was: accepted, a file descriptor each, without limit
    writer.close()
    for _, held_writer in held:
        held_writer.close()
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # room again once they are gone
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await closed_by_the_proxy(reader)).startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_a_client_that_does_not_read_its_stream_is_dropped(make_proxy, aiohttp_server):
    # A guard more than a fix: this held before too (aiohttp let the error event through); every
    # write to the client is now bounded by `idle` itself, not by how aiohttp buffers.
    event = b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 2000}}]}).encode() + b"\n\n"

    async def endless(request: web.Request) -> web.StreamResponse:  # 40 MB of events, as fast as taken
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for _ in range(20_000):
                await response.write(event)
            await response.write(b"data: [DONE]\n\n")
        except ConnectionError:
            pass
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", endless)
    upstream = await aiohttp_server(app)
    routes = {
        "backends": {"up": {"base_url": str(upstream.make_url("/v1")), "timeouts": {"idle": 0.5}}},
        "models": [{"name": "m", "group": "openai", "backend": "up"}],
    }
    server = await make_proxy(routes)
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (server.host, server.port))
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    await loop.sock_sendall(
        sock,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    await asyncio.sleep(3)  # not reading: the proxy's writes back up
    received = 0
    async with asyncio.timeout(WAIT):  # the proxy gives up on a client that takes nothing for `idle`
        while chunk := await loop.sock_recv(sock, 65536):
            received += len(chunk)
    sock.close()
    assert 0 < received < 20_000 * len(event)  # what was buffered before the proxy gave up, not the whole answer

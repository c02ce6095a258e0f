"""The upstream HTTP/1.1 client against real servers on loopback: keep-alive reuse, stale
connections, every body framing, broken answers, TLS, and back-pressure."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme
from aiohttp import web

from llm_proxy.http_client import (
    READ_HIGH_WATER,
    UpstreamBodyError,
    UpstreamConnectError,
    UpstreamDisconnected,
    Upstreams,
)

HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
async def upstreams():
    pool = Upstreams()
    yield pool
    await pool.close()


@pytest.fixture
async def echo_server(aiohttp_server):
    """Answers with the body it got; counts the TCP connections it saw."""
    peers: set = set()

    async def echo(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername"))
        return web.Response(body=await request.read(), headers={"X-Path": request.path_qs, "X-Host": request.host})

    async def chunked(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse()
        out.enable_chunked_encoding()
        await out.prepare(request)
        for i in range(5):
            await out.write(b"part%d;" % i)
            await asyncio.sleep(0.01)
        await out.write_eof()
        return out

    app = web.Application()
    app.router.add_post("/v1/echo", echo)
    app.router.add_post("/v1/chunked", chunked)
    server = await aiohttp_server(app)
    server.peers = peers
    return server


async def post(upstreams: Upstreams, url: str, body: bytes = b"{}"):
    origin, path = upstreams.target(url)
    return await origin.request("POST", path, HEADERS, body, connect_timeout=2)


async def test_a_body_goes_up_and_comes_back_on_one_kept_alive_connection(upstreams, echo_server):
    url = str(echo_server.make_url("/v1/echo?x=1"))
    for i in range(5):
        response = await post(upstreams, url, b'{"n": %d}' % i)
        assert response.status == 200
        assert response.headers["X-Path"] == "/v1/echo?x=1"
        assert response.headers["X-Host"] == f"127.0.0.1:{echo_server.port}"
        assert await response.read() == b'{"n": %d}' % i
        response.release()
    assert len(echo_server.peers) == 1


async def test_a_closed_response_does_not_go_back_to_the_pool(upstreams, echo_server):
    url = str(echo_server.make_url("/v1/echo"))
    first = await post(upstreams, url)
    first.close()  # e.g. the client went away before the body was read
    second = await post(upstreams, url)
    assert await second.read() == b"{}"
    second.release()
    assert len(echo_server.peers) == 2


async def test_chunked_bodies_arrive_piece_by_piece(upstreams, echo_server):
    response = await post(upstreams, str(echo_server.make_url("/v1/chunked")))
    pieces = []
    while chunk := await response.readany():
        pieces.append(chunk)
    response.release()
    assert b"".join(pieces) == b"part0;part1;part2;part3;part4;"
    assert len(pieces) >= 2  # not buffered up to the end


async def raw_server(handler) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/x"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


def answers_then_closes(raw: bytes):
    """A server handler that reads one request, writes `raw` (any bytes at all), and hangs up."""

    async def handler(reader, writer):
        await read_request(reader)
        writer.write(raw)
        await writer.drain()
        writer.close()

    return handler


async def test_a_body_delimited_by_the_connection_closing_is_read_to_the_end(upstreams):
    server, url = await raw_server(
        answers_then_closes(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nall of it")
    )
    async with server:
        response = await post(upstreams, url)
        assert await response.read() == b"all of it"
        response.release()


async def test_a_body_cut_before_its_length_is_an_error_after_what_arrived(upstreams):
    server, url = await raw_server(answers_then_closes(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"))
    async with server:
        response = await post(upstreams, url)
        assert await response.readany() == b"only this"
        with pytest.raises(UpstreamBodyError):
            await response.readany()
        response.release()


async def test_invalid_http_is_an_error(upstreams):
    server, url = await raw_server(answers_then_closes(b"NOT HTTP AT ALL\r\n\r\n"))
    async with server:
        with pytest.raises(UpstreamBodyError):
            await post(upstreams, url)


async def test_a_connection_closed_before_the_answer_is_disconnected(upstreams):
    server, url = await raw_server(answers_then_closes(b""))
    async with server:
        with pytest.raises(UpstreamDisconnected):
            await post(upstreams, url)


async def test_an_idle_connection_the_server_closed_is_replaced_without_an_error(upstreams):
    connections = 0

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # keep-alive advertised (HTTP/1.1 default), then closed: a stale pooled connection

    server, url = await raw_server(handler)
    async with server:
        for _ in range(3):
            response = await post(upstreams, url)
            assert await response.read() == b"ok"
            response.release()
            await asyncio.sleep(0.05)
    assert connections == 3


async def test_a_refused_connection_is_a_connect_error_without_the_address(upstreams, unused_tcp_port):
    with pytest.raises(UpstreamConnectError) as err:
        await post(upstreams, f"http://127.0.0.1:{unused_tcp_port}/v1/x")
    assert "127.0.0.1" not in str(err.value) and "refused" in str(err.value).lower()


async def test_cancelling_the_wait_drops_the_connection(upstreams):
    closed = asyncio.Event()

    async def handler(reader, writer):
        await read_request(reader)
        await reader.read()  # returns when the client closes its side
        closed.set()

    server, url = await raw_server(handler)
    async with server:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await post(upstreams, url)
        await asyncio.wait_for(closed.wait(), 2)


async def test_https_with_sni_and_certificate_checks(aiohttp_server):
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)

    async def hello(request):
        return web.Response(text="secure")

    app = web.Application()
    app.router.add_post("/v1/x", hello)
    server = await aiohttp_server(app, ssl=server_ctx)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    pool = Upstreams(trusting)
    try:
        response = await post(pool, f"https://localhost:{server.port}/v1/x")
        assert await response.read() == b"secure"
        response.release()
    finally:
        await pool.close()
    strict = Upstreams()  # the system's CAs do not know this one
    try:
        with pytest.raises(UpstreamConnectError):
            await post(strict, f"https://localhost:{server.port}/v1/x")
    finally:
        await strict.close()


async def test_a_slow_reader_pauses_the_upstream(upstreams):
    sent = 0
    blob = b"x" * 65536
    total = 512 * len(blob)  # 32 MiB: far more than the kernel's socket buffers on both sides

    async def handler(reader, writer):
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(512):
            writer.write(blob)
            await writer.drain()
            sent += len(blob)
        writer.close()

    server, url = await raw_server(handler)
    async with server:
        response = await post(upstreams, url)
        await asyncio.sleep(0.3)  # nobody reads: the proxy must stop pulling from the upstream
        stalled_at = sent
        await asyncio.sleep(0.2)
        assert sent == stalled_at < total // 2
        assert response._buffered <= 2 * READ_HIGH_WATER  # the mark plus at most one socket read
        assert len(await response.read()) == total
        response.release()


async def test_connections_to_one_origin_are_bounded_and_waiters_get_freed_ones():
    open_now = peak = 0
    release = asyncio.Event()

    async def handler(reader, writer):
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        try:
            while True:
                await read_request(reader)
                await release.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_now -= 1
            writer.close()

    pool = Upstreams(limit_per_origin=2)
    server, url = await raw_server(handler)

    async def one():
        response = await post(pool, url)
        body = await response.read()
        response.release()
        return body

    try:
        async with server:
            tasks = [asyncio.create_task(one()) for _ in range(5)]
            await asyncio.sleep(0.2)
            assert peak == 2  # three requests are waiting for a connection
            release.set()
            assert await asyncio.wait_for(asyncio.gather(*tasks), 5) == [b"ok"] * 5
            assert peak == 2
    finally:
        await pool.close()


def test_only_http_urls_are_targets(upstreams):
    with pytest.raises(ValueError):
        upstreams.target("ftp://example.com/v1")

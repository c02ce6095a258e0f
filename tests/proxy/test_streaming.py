"""The SSE scanner that checks every event on its way through, and upstream connection reuse
for streams."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web
from fixtures.proxy_servers import one_model_routes

from llm_proxy.streaming import SseScanner, StreamBroken

CHUNK = b'data: {"choices": [{"delta": {"content": "hi"}}], "model": "m-1"}\n\n'


@pytest.mark.unit
def test_events_split_across_reads_are_forwarded_whole():
    scanner = SseScanner()
    assert scanner.feed(CHUNK[:20]) == b""
    assert scanner.feed(CHUNK[20:] + CHUNK[:5]) == CHUNK
    assert scanner.feed(CHUNK[5:] + b"data: [DONE]\n\n") == CHUNK + b"data: [DONE]\n\n"
    assert scanner.done and scanner.model == "m-1" and scanner.events == 3


@pytest.mark.unit
def test_crlf_framing_is_normalised():
    scanner = SseScanner()
    assert scanner.feed(CHUNK.replace(b"\n", b"\r\n")) == CHUNK


@pytest.mark.unit
def test_usage_is_kept_and_comments_pass():
    scanner = SseScanner()
    out = scanner.feed(b': keep-alive\n\ndata: {"choices": [], "usage": {"prompt_tokens": 3}}\n\n')
    assert out.startswith(b": keep-alive") and scanner.usage == {"prompt_tokens": 3}


@pytest.mark.unit
@pytest.mark.parametrize("payload", [b"{not json", b'{"a": 1', b"\xff\xfe"])
def test_a_malformed_event_breaks_the_stream(payload):
    with pytest.raises(StreamBroken) as broken:
        SseScanner().feed(b"data: " + payload + b"\n\n")
    assert broken.value.kind == "malformed"


@pytest.mark.unit
def test_json_the_fast_parser_refuses_is_still_good():
    scanner = SseScanner()  # integers past 64 bits and NaN are JSON that Python's own parser reads
    scanner.feed(b'data: {"seed": 123456789012345678901234567890, "x": NaN}\n\n')
    assert scanner.events == 1


@pytest.mark.unit
def test_an_error_event_and_data_after_done_break_the_stream():
    with pytest.raises(StreamBroken) as broken:
        SseScanner().feed(b'data: {"error": {"message": "overloaded"}}\n\n')
    assert broken.value.kind == "upstream_error" and "overloaded" in broken.value.message
    scanner = SseScanner()
    scanner.feed(b"data: [DONE]\n\n")
    with pytest.raises(StreamBroken):
        scanner.feed(CHUNK)


async def test_streams_reuse_the_upstream_connection(chat_upstream, make_proxy):
    peers: list = []

    async def completions(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername"))
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        for word in ("one", "two"):
            await out.write(b"data: " + json.dumps({"choices": [{"delta": {"content": word}}]}).encode() + b"\n\n")
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    proxy = await make_proxy(one_model_routes(await chat_upstream(completions), group="mock"))
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(
                proxy.make_url("/v1/chat/completions"),
                json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            ) as resp:
                assert (await resp.read()).endswith(b"data: [DONE]\n\n")
    assert len(peers) == 3 and len(set(peers)) == 1

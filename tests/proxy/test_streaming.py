"""The SSE scanners that check every event on its way through (chat-style and Responses streams),
the events that end a broken stream, and upstream connection reuse for streams."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from fixtures.openapi import ERROR, RESPONSE_EVENTS, assert_conforms, parse_sse
from fixtures.proxy_servers import one_model_routes

from llm_proxy.http_client import Upstreams
from llm_proxy.responses_stream import ResponsesScanner
from llm_proxy.streaming import SseScanner, StreamBroken, StreamOutcome, UpstreamStream

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


@pytest.mark.unit
def test_whole_events_before_a_bad_one_in_the_same_read_still_reach_the_client():
    scanner = SseScanner()
    with pytest.raises(StreamBroken) as broken:
        scanner.feed(CHUNK + CHUNK + b"data: {not json\n\n" + CHUNK)
    assert broken.value.kind == "malformed" and broken.value.passed == CHUNK + CHUNK


def responses_event(kind: str, number: int, **fields) -> bytes:
    data = {"type": kind, "sequence_number": number, **fields}
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


STARTED = {"id": "resp_9", "object": "response", "created_at": 1, "status": "in_progress", "model": "m-2"}
STARTED |= {"output": [], "tools": [], "tool_choice": "auto", "parallel_tool_calls": True, "instructions": None}
STARTED |= {"incomplete_details": None, "error": None, "metadata": {}, "temperature": 1, "top_p": 1, "usage": None}
DELTA = {"item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "hi", "logprobs": []}


@pytest.mark.unit
@pytest.mark.parametrize("terminal", ["response.completed", "response.incomplete", "response.failed"])
def test_a_responses_stream_ends_with_its_terminal_event(terminal):
    scanner = ResponsesScanner()
    usage = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    scanner.feed(responses_event("response.created", 0, response=STARTED))
    scanner.feed(responses_event("response.output_text.delta", 1, **DELTA))
    assert not scanner.done and scanner.model == "m-2"
    scanner.feed(responses_event(terminal, 2, response={**STARTED, "usage": usage}))
    assert scanner.done and scanner.usage == usage and scanner.failed == (terminal == "response.failed")
    scanner.feed(b"data: [DONE]\n\n")  # some OpenAI-compatible servers add one; OpenAI does not
    with pytest.raises(StreamBroken) as broken:
        scanner.feed(responses_event("response.output_text.delta", 3, **DELTA))
    assert broken.value.kind == "protocol"


@pytest.mark.unit
def test_a_responses_stream_breaks_on_an_error_event_and_on_done_before_its_end():
    scanner = ResponsesScanner()
    scanner.feed(responses_event("response.created", 0, response=STARTED))
    with pytest.raises(StreamBroken) as broken:
        scanner.feed(responses_event("error", 1, code="server_error", message="overloaded", param=None))
    assert broken.value.kind == "upstream_error" and broken.value.message == "overloaded"
    assert scanner.sequence == 0  # the error event is not passed on: the proxy's failure event takes its number
    with pytest.raises(StreamBroken) as broken:
        ResponsesScanner().feed(responses_event("response.created", 0, response=STARTED) + b"data: [DONE]\n\n")
    assert broken.value.kind == "no_done" and broken.value.passed.startswith(b"event: response.created")


@pytest.mark.unit
def test_the_failure_event_is_a_valid_response_failed_for_the_response_the_stream_began():
    scanner = ResponsesScanner()
    scanner.feed(responses_event("response.created", 0, response=STARTED))
    scanner.feed(responses_event("response.output_text.delta", 1, **DELTA))
    (event,) = parse_sse(scanner.failure_event("cut", "the upstream connection broke", "req-1"))
    data = json.loads(event.data)
    assert event.event == "response.failed" and data["sequence_number"] == 2
    assert data["response"]["id"] == "resp_9" and data["response"]["status"] == "failed"
    assert data["response"]["error"] == {
        "code": "server_error",
        "message": "the upstream connection broke (upstream_stream_cut, request id req-1)",
    }
    assert_conforms(RESPONSE_EVENTS["response.failed"], data)
    # A stream that never said which response it was still ends with a valid failed response.
    (event,) = parse_sse(ResponsesScanner().failure_event("malformed", "bad event", "req-2"))
    data = json.loads(event.data)
    assert data["sequence_number"] == 0 and data["response"]["id"] == "resp_req-2"
    assert_conforms(RESPONSE_EVENTS["response.failed"], data)


@pytest.mark.unit
def test_the_chat_failure_event_is_an_openai_error_chunk():
    (event,) = parse_sse(SseScanner().failure_event("stalled", "the upstream stopped sending", "req-3"))
    error = json.loads(event.data)
    assert error["error"]["code"] == "upstream_stream_stalled" and "req-3" in error["error"]["message"]
    assert_conforms(ERROR, error)


class ClosingAfterFirstWrite(web.StreamResponse):
    """aiohttp's StreamResponse once the client's transport is closing (its EOF seen, connection_lost
    not yet delivered, so the handler is not cancelled yet): every later write raises."""

    def __init__(self) -> None:
        super().__init__(headers={"Content-Type": "text/event-stream"})
        self.writes = 0

    async def write(self, data) -> None:
        self.writes += 1
        if self.writes > 1:
            raise ClientConnectionResetError("Cannot write to closing transport")
        await super().write(data)


async def test_a_client_whose_connection_is_closing_ends_the_relay_as_client_gone(aiohttp_server, http):
    """Seen in the bench as a 500 with a traceback: the client hung up between two writes. It is
    the client's doing, not the upstream's (no `cut`), and no error."""

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(50):
            await response.write(CHUNK)
            await asyncio.sleep(0.005)
        await response.write(b"data: [DONE]\n\n")
        return response

    upstream_app = web.Application()
    upstream_app.router.add_post("/v1/chat/completions", events)
    upstream = await aiohttp_server(upstream_app)
    outcomes: list[StreamOutcome] = []

    async def relay(request: web.Request) -> web.StreamResponse:
        pool = Upstreams()
        try:
            origin, path = pool.target(str(upstream.make_url("/v1/chat/completions")))
            stream = UpstreamStream(await origin.request("POST", path, {}, b"{}", 5.0), SseScanner())
            await stream.open(5.0)
            out = ClosingAfterFirstWrite()
            loop = asyncio.get_running_loop()
            outcomes.append(await stream.relay(request, out, idle=5.0, deadline=loop.time() + 30, request_id="r"))
            return out
        finally:
            await pool.close()

    app = web.Application()
    app.router.add_get("/relay", relay)
    server = await aiohttp_server(app)
    async with http.get(server.make_url("/relay")) as resp:
        await resp.read()
        assert resp.status == 200  # the handler ended normally: no 500
    assert outcomes[0].broken == "client_gone"
    assert outcomes[0].first_byte_at is not None

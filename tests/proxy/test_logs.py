"""Request logs: one line per request, text or JSON lines, the request id of the response header,
and never a key."""

from __future__ import annotations

import asyncio
import io
import json

import aiohttp
import pytest

from llm_proxy.logs import RequestLog
from llm_proxy.state import REQUEST_LOG

CLIENT_KEY = "client-key-never-logged-42"
QUESTION = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "hi"}]}


async def test_one_json_line_per_request_with_the_response_request_id(make_proxy, capsys):
    proxy = await make_proxy(log_requests=True, log_format="json", api_keys=CLIENT_KEY)
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(proxy.make_url("/v1/chat/completions"), json=QUESTION, headers=auth) as resp:
            assert resp.status == 200
            answered_id = resp.headers["X-Request-Id"]
        async with http.post(
            proxy.make_url("/v1/chat/completions"),
            json={**QUESTION, "model": "nope"},
            headers={**auth, "X-Request-Id": "caller-chosen-id"},
        ) as resp:
            assert resp.status == 404 and resp.headers["X-Request-Id"] == "caller-chosen-id"
        async with http.get(proxy.make_url("/v1/models"), headers={"Authorization": "Bearer wrong-key-123456"}) as resp:
            assert resp.status == 401
    proxy.app[REQUEST_LOG].flush()
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if '"llm_proxy.request"' in line]
    assert [(e["request_id"], e["status"], e["model"]) for e in lines[:2]] == [
        (answered_id, 200, "mock-gpt-model-0701"),
        ("caller-chosen-id", 404, "nope"),
    ]
    assert lines[0]["answered_by"] == "mock-gpt-model-0701" and lines[0]["duration_ms"] > 0
    assert lines[2]["status"] == 401 and lines[2]["path"] == "/v1/models"
    assert CLIENT_KEY not in out and "wrong-key-123456" not in out and "Bearer" not in out


@pytest.mark.unit
async def test_lines_are_batched_and_flushed_within_the_interval():
    stream = io.StringIO()
    log = RequestLog("text", stream, flush_interval=0.05)
    log.write({"request_id": "r1", "status": 200})
    log.write({"request_id": "r2", "status": 502})
    assert stream.getvalue() == ""  # not one write per request
    await asyncio.sleep(0.1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("INFO llm_proxy.request request request_id=r1 status=200")
    assert lines[1].endswith("request_id=r2 status=502")


@pytest.mark.unit
def test_a_client_cannot_forge_a_text_log_line():
    stream = io.StringIO()
    log = RequestLog("text", stream, max_lines=1)  # a full batch is written at once, no loop needed
    log.write({"path": "/v1/x\n2026-01-01 00:00:00,000 INFO llm_proxy.request request status=200", "status": 404})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "path=/v1/x\\n2026" in lines[0] and lines[0].endswith("status=404")


@pytest.mark.unit
@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_full_batch_is_written_at_once(log_format):
    stream = io.StringIO()
    log = RequestLog(log_format, stream, flush_interval=60, max_lines=3)
    for i in range(3):
        log.write({"request_id": f"r{i}"})
    assert len(stream.getvalue().splitlines()) == 3


async def test_request_lines_are_flushed_when_the_app_stops(make_proxy, capsys):
    proxy = await make_proxy(log_requests=True, log_format="json")
    async with aiohttp.ClientSession() as http:
        async with http.post(proxy.make_url("/v1/chat/completions"), json=QUESTION) as resp:
            rid = resp.headers["X-Request-Id"]
    await proxy.close()  # runs the app's cleanup, as a shutdown does
    assert rid in capsys.readouterr().out


async def test_log_level_above_info_turns_request_lines_off(make_proxy):
    proxy = await make_proxy(log_requests=True, log_level="WARNING")
    assert REQUEST_LOG not in proxy.app

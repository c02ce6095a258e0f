"""Every X-Mock-* knob is bounded, so no request can keep the mock busy or stop it from stopping."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from fixtures.clients import free_port

from mock_model import tokens
from mock_model.faults import MAX_FAULT_KEYS, FaultState
from mock_model.settings import MockSettings

BODY = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "When is his birthday ?"}]}
MOCK_MODEL = Path(sys.executable).parent / "mock-model"


@pytest.mark.parametrize(
    "header, value",
    [
        ("X-Mock-Response-Tokens", "16385"),
        ("X-Mock-Response-Tokens", "10000000"),
        ("X-Mock-Tokens-Per-Chunk", "0"),
        ("X-Mock-TTFT-Ms", "300001"),
        ("X-Mock-Stall-Ms", "1e12"),
        ("X-Mock-Token-Delay-Ms", "10001"),
        ("X-Mock-Jitter-Ms", "-1"),
        ("X-Mock-Retry-After", "3601"),
        ("X-Mock-Status", "200"),
        ("X-Mock-Status", "999"),
        ("X-Mock-Fault-After", "99999999"),
        ("X-Mock-Fail-Times", "1001"),
        ("X-Mock-TTFT-Ms", "1" * 40),
        ("X-Mock-Fault-Key", "k" * 129),
    ],
)
async def test_a_knob_out_of_its_bounds_is_a_400(http, mock_server, header, value):
    headers = {header: value}
    if header == "X-Mock-Fault-Key":
        headers["X-Mock-Fail-Times"] = "1"
    async with http.post(mock_server.make_url("/v1/chat/completions"), json=BODY, headers=headers) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["code"] == "invalid_header" and error["param"].lower() == header.lower()


@pytest.mark.parametrize("count", [500, 16384])
async def test_any_answer_length_within_bounds_is_made_at_once(http, mock_server, count):
    # 500 tokens used to send the mock into an endless loop that blocked everything else.
    body = {**BODY, "stream": True}
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"X-Mock-Response-Tokens": str(count)}
    async with http.post(
        mock_server.make_url("/v1/chat/completions"), json=body, headers=headers, timeout=timeout
    ) as resp:
        raw = await resp.read()
    pieces = [e for e in raw.decode().split("\n\n") if '"content"' in e and '"content":""' not in e]
    assert len(pieces) == count


@pytest.mark.unit
def test_filler_text_has_exactly_the_tokens_asked_for():
    assert [tokens.count(tokens.text_of_length(n)) for n in (1, 17, 18, 500, 501, 4096)] == [1, 17, 18, 500, 501, 4096]


@pytest.mark.unit
def test_attempts_are_kept_for_the_latest_fault_keys_only():
    state = FaultState(MockSettings())
    for i in range(MAX_FAULT_KEYS + 5):
        state.count_attempt(f"key-{i}")
    assert len(state.attempts) == MAX_FAULT_KEYS
    assert "key-0" not in state.attempts and state.count_attempt(f"key-{MAX_FAULT_KEYS + 4}") == 2


async def test_a_busy_mock_stays_responsive_and_stops_on_sigterm():
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(MOCK_MODEL),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            url = f"{base}/v1/chat/completions"
            busy = [
                {"X-Mock-Response-Tokens": "500"},  # the endless loop it used to be
                {"X-Mock-Fault": "stall_headers", "X-Mock-Stall-Ms": "300000"},
                {"X-Mock-Response-Tokens": "16384", "X-Mock-Token-Delay-Ms": "10000", "X-Mock-Fault": "no_done"},
            ]
            streams = [
                asyncio.create_task(http.post(url, json={**BODY, "stream": True}, headers=headers)) for headers in busy
            ]
            # A question of about 1 MB: matching it against the pack used to take minutes of CPU.
            long_question = {"role": "user", "content": "When is his birthday? " + "and his hobbies " * 60_000}
            streams.append(asyncio.create_task(http.post(url, json={**BODY, "messages": [long_question]})))
            await asyncio.sleep(0.5)
            async with http.get(f"{base}/healthz", timeout=aiohttp.ClientTimeout(total=10)) as resp:
                assert resp.status == 200
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
            for task in streams:
                task.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()

"""SIGTERM on a real proxy process with streams in flight: not ready at once, every stream
completes, new connections are refused once the listener closes, exit code 0."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from fixtures.clients import free_port

BIN = Path(sys.executable).parent


async def wait_ready(url: str, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture
async def processes(tmp_path):
    started = []

    async def start(*cmd, env=None):
        proc = await asyncio.create_subprocess_exec(
            *cmd, env={**os.environ, **(env or {})}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sigterm_drains_in_flight_streams(processes, tmp_path):
    mock_port, proxy_port = free_port(), free_port()
    await processes(str(BIN / "mock-model"), "--host", "127.0.0.1", "--port", str(mock_port))
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        yaml.safe_dump(
            {
                "backends": {"mock": {"base_url": f"http://127.0.0.1:{mock_port}/v1", "forward_test_headers": True}},
                "models": [{"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock"}],
            }
        )
    )
    proxy = await processes(
        str(BIN / "llm-proxy"),
        "--host",
        "127.0.0.1",
        "--port",
        str(proxy_port),
        "--routes",
        str(routes),
        "--allow-anonymous",
        env={"LLM_PROXY_DRAIN_DELAY": "1.0", "LLM_PROXY_DRAIN_GRACE": "15"},
    )
    base = f"http://127.0.0.1:{proxy_port}"
    await wait_ready(f"http://127.0.0.1:{mock_port}/healthz")
    await wait_ready(f"{base}/readyz")

    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"X-Mock-Token-Delay-Ms": "60", "X-Mock-Response-Tokens": "40"}  # ~2.4 s per stream
    async with aiohttp.ClientSession() as http:

        async def stream() -> bytes:
            async with http.post(f"{base}/v1/chat/completions", json=body, headers=headers) as resp:
                assert resp.status == 200
                return await resp.read()

        streams = [asyncio.create_task(stream()) for _ in range(6)]
        await asyncio.sleep(0.5)  # all six are mid-answer
        proxy.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with aiohttp.ClientSession() as fresh:  # a new connection, during the drain delay
            async with fresh.get(f"{base}/readyz") as resp:
                assert resp.status == 503 and (await resp.json())["status"] == "draining"
        results = await asyncio.gather(*streams)
    assert all(r.endswith(b"data: [DONE]\n\n") for r in results)
    assert await asyncio.wait_for(proxy.wait(), 20) == 0
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            await http.get(f"{base}/healthz")
    log = (await proxy.stdout.read()).decode()
    assert "draining" in log and "drained" in log

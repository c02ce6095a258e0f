"""Both images, built with podman from their Dockerfiles and run the way the chart runs them
(non-root, read-only root filesystem + tmpfs /tmp, no capabilities, secrets and routes as mounted
files): the proxy answers through the mock container, and `podman stop` (SIGTERM) with slow
streams in flight lets every one of them finish before the proxy exits 0."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import openai
import pytest
import yaml
from fixtures.clients import free_port

from .podman_env import wait_http

pytestmark = [pytest.mark.containers, pytest.mark.slow]

HARDENED = ("--read-only", "--tmpfs", "/tmp:rw,size=64m", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")
CLIENT_KEY = "ci-client-key-1"


def inspect(podman, image: str) -> dict:
    return json.loads(podman("image", "inspect", image).stdout)[0]


@pytest.mark.parametrize("which,command,port", [("proxy", "llm-proxy", 8000), ("mock", "mock-model", 5050)])
def test_image_runs_its_service_as_a_non_root_exec_entrypoint(podman, images, which, command, port):
    image = getattr(images, which)
    config = inspect(podman, image)["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][0] == command  # exec form: the service is PID 1 and gets SIGTERM
    assert f"{port}/tcp" in config["ExposedPorts"]
    env = dict(e.split("=", 1) for e in config.get("Env", []))
    assert not [k for k in env if "KEY" in k or "TOKEN" in k or "SECRET" in k], env  # nothing baked in
    out = podman(
        "run",
        "--rm",
        *HARDENED,
        "--entrypoint",
        "python",
        image,
        "-c",
        "import importlib.util as u, os; "
        "print(os.getuid(), [m for m in ('llm_proxy', 'mock_model', 'llm_tui', 'llm_finetune', 'pytest', "
        "'openai', 'helm_python') if u.find_spec(m)])",
    ).stdout.split(maxsplit=1)
    assert out[0] == "10001"
    own = "llm_proxy" if which == "proxy" else "mock_model"
    assert eval(out[1]) == [own]  # only its own package and runtime deps: no tests, no other service
    size_mb = inspect(podman, image)["Size"] / 1e6
    print(
        f"{image}: {size_mb:.0f} MB, built in {images.build_seconds['llm-proxy' if which == 'proxy' else 'mock-model']:.0f} s"
    )


@pytest.fixture
def stack(podman, images, network, containers, tmp_path):
    """The mock and a proxy on a private network; the proxy's routes and secrets are mounted dirs."""
    mock = containers("mock", images.mock, "--network", network, *HARDENED)
    routes_dir, secrets_dir = tmp_path / "routes", tmp_path / "secrets"
    for d in (routes_dir, secrets_dir):
        d.mkdir()
        d.chmod(0o755)  # the container user (10001) must traverse the mount
    (routes_dir / "routes.yaml").write_text(
        yaml.safe_dump(
            {
                "backends": {
                    # X-Mock-* latency knobs (the stop test's slow streams) reach only a backend that opts in.
                    "mock": {"base_url": f"http://{mock}:5050/v1", "forward_test_headers": True},
                    "openai": {"base_url": "https://api.openai.com/v1", "api_key": "${OPENAI_API_KEY:-}"},
                },
                "models": [
                    {"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock", "context": "none"},
                    {"name": "gpt-3.5-turbo", "group": "openai", "backend": "openai", "context": "knowledge"},
                ],
            }
        )
    )
    (secrets_dir / "client-keys").write_text(CLIENT_KEY + "\n")
    (secrets_dir / "openai-api-key").write_text("sk-never-printed\n")
    for f in (*routes_dir.iterdir(), *secrets_dir.iterdir()):
        f.chmod(0o644)
    port = free_port()
    proxy = containers(
        "proxy",
        images.proxy,
        "--network",
        network,
        *HARDENED,
        "-p",
        f"127.0.0.1:{port}:8000",
        "-v",
        f"{routes_dir}:/etc/llm-proxy/routes:ro",
        "-v",
        f"{secrets_dir}:/etc/llm-proxy/secrets:ro",
        "-e",
        "LLM_PROXY_ROUTES=/etc/llm-proxy/routes/routes.yaml",
        "-e",
        "LLM_PROXY_API_KEYS_FILE=/etc/llm-proxy/secrets/client-keys",
        "-e",
        "OPENAI_API_KEY_FILE=/etc/llm-proxy/secrets/openai-api-key",
        "-e",
        "LLM_PROXY_DRAIN_DELAY=1",
        "-e",
        "LLM_PROXY_DRAIN_GRACE=30",
    )
    return {"url": f"http://127.0.0.1:{port}", "proxy": proxy, "mock": mock}


async def test_the_proxy_container_answers_through_the_mock_container(podman, stack):
    url = stack["url"]
    ready = await wait_http(f"{url}/readyz", logs=lambda: podman.logs(stack["proxy"]) + podman.logs(stack["mock"]))
    assert ready["models"] == 2
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
    answer = await client.chat.completions.create(
        model="mock-gpt-model-0701", messages=[{"role": "user", "content": "What is the candidate name?"}]
    )
    assert answer.model == "mock-gpt-model-0701" and answer.choices[0].message.content
    chunks = [
        c
        async for c in await client.chat.completions.create(
            model="mock-gpt-model-0701", stream=True, messages=[{"role": "user", "content": "Hello"}]
        )
    ]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    with pytest.raises(openai.AuthenticationError):  # the key file mounted from the "Secret" is enforced
        await openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as resp:
            metrics = await resp.text()
    assert 'llm_proxy_requests_total{model="mock-gpt-model-0701",status="200"}' in metrics
    assert "sk-never-printed" not in metrics + podman.logs(stack["proxy"])


async def test_podman_stop_lets_in_flight_streams_finish(podman, stack):
    url, proxy = stack["url"], stack["proxy"]
    await wait_http(f"{url}/readyz", logs=lambda: podman.logs(proxy))
    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": [{"role": "user", "content": "Tell me more"}]}
    # ~4 s per stream: long enough to be mid-answer when SIGTERM arrives.
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "X-Mock-Token-Delay-Ms": "100", "X-Mock-Response-Tokens": "40"}

    async with aiohttp.ClientSession() as http:

        async def stream() -> bytes:
            async with http.post(
                f"{url}/v1/chat/completions", json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=60)
            ) as resp:
                assert resp.status == 200
                return await resp.read()

        streams = [asyncio.create_task(stream()) for _ in range(5)]
        await asyncio.sleep(1.0)
        assert not any(s.done() for s in streams), "streams ended before the stop: nothing was in flight"
        started = time.monotonic()
        # podman stop sends the image's stop signal (SIGTERM) and SIGKILLs only after --time seconds.
        stop = asyncio.create_task(asyncio.to_thread(podman, "stop", "--time", "60", proxy, timeout=90))
        results = await asyncio.gather(*streams, return_exceptions=True)
        await stop
    waited = time.monotonic() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"in-flight streams broken by the stop: {failures!r}\n{podman.logs(proxy)}"
    for raw in results:
        assert raw.rstrip().endswith(b"data: [DONE]"), raw[-200:]
        assert raw.count(b'"content"') >= 40  # the whole answer, not a cut-off one
    state = json.loads(podman("inspect", proxy).stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0, (state, podman.logs(proxy))
    assert waited < 60  # drained and exited by itself, not killed at the deadline
    logs = podman.logs(proxy)
    assert "draining" in logs and "drained" in logs

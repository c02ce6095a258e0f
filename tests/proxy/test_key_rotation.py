"""Rotating the OpenAI key in its Secret takes effect without a restart: the routing table reads
`${OPENAI_API_KEY}` through OPENAI_API_KEY_FILE, and a change to that file (the kubelet's `..data`
swap) reloads the table. The next upstream call carries the new key; both keys stay redacted."""

import json

import pytest
from aiohttp import web
from fixtures.kubelet import kubelet_write, wait_for

from llm_proxy.state import REDACTOR, ROUTES

OLD_KEY = "rotation-key-one-0123456789"  # not key-shaped (sk-...), so only the redactor's list hides it
NEW_KEY = "rotation-key-two-9876543210"


@pytest.fixture
async def key_echo_upstream(chat_upstream):
    """An OpenAI-shaped upstream that records the key of each call; model `echo-key` gets a 401
    whose body repeats the key, as a misbehaving upstream might."""
    seen: list[str] = []

    async def completions(request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        seen.append(key)
        body = await request.json()
        if body["model"] == "echo-key":
            error = {"error": {"message": f"key {key} is not valid", "type": "invalid_request_error"}}
            return web.json_response(error, status=400)
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            }
        )

    server = await chat_upstream(completions)
    server.seen = seen
    return server


async def test_a_rotated_key_file_is_used_by_the_next_call_and_redacted(
    make_proxy, key_echo_upstream, tmp_path, monkeypatch, http
):
    secret_mount = tmp_path / "secrets"
    kubelet_write(secret_mount, {"openai-api-key": OLD_KEY + "\n", "client-keys": ""})
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(secret_mount / "openai-api-key"))
    routes = {
        "backends": {"openai": {"base_url": str(key_echo_upstream.make_url("/v1")), "api_key": "${OPENAI_API_KEY}"}},
        "models": [
            {"name": "gpt-4", "group": "openai", "backend": "openai"},
            {"name": "echo-key", "group": "openai", "backend": "openai"},
        ],
    }
    proxy = await make_proxy(routes, reload_interval=0.05, retry_attempts=1)
    url = proxy.make_url("/v1/chat/completions")

    async def call(model: str) -> tuple[int, str]:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(url, json=body) as resp:
            return resp.status, await resp.text()

    assert (await call("gpt-4"))[0] == 200
    assert key_echo_upstream.seen[-1] == OLD_KEY

    kubelet_write(secret_mount, {"openai-api-key": NEW_KEY + "\n", "client-keys": ""})
    await wait_for(lambda: proxy.app[ROUTES].current.backends["openai"].api_key == NEW_KEY)
    assert (await call("gpt-4"))[0] == 200
    assert key_echo_upstream.seen[-1] == NEW_KEY

    # The upstream's error body is passed through with the new key redacted.
    status, text = await call("echo-key")
    assert key_echo_upstream.seen[-1] == NEW_KEY
    assert status == 400 and NEW_KEY not in text and "[REDACTED]" in json.loads(text)["error"]["message"]
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert 'llm_proxy_config_reloads_total{file="routes",result="success"} 1.0' in await resp.text()

    # The old key stays a secret to the redactor after rotation (it may still be valid upstream).
    assert proxy.app[REDACTOR].text(f"{OLD_KEY} {NEW_KEY}") == "[REDACTED] [REDACTED]"


async def test_a_key_file_that_cannot_be_read_keeps_the_last_good_key(
    make_proxy, key_echo_upstream, tmp_path, monkeypatch, http
):
    key_file = tmp_path / "openai-api-key"
    key_file.write_text(OLD_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    routes = {
        "backends": {"openai": {"base_url": str(key_echo_upstream.make_url("/v1")), "api_key": "${OPENAI_API_KEY}"}},
        "models": [{"name": "gpt-4", "group": "openai", "backend": "openai"}],
    }
    proxy = await make_proxy(routes, reload_interval=0.05)
    watched = proxy.app[ROUTES]
    key_file.unlink()
    await wait_for(lambda: watched.last_error is not None)
    assert "OPENAI_API_KEY_FILE: cannot read" in watched.last_error
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body) as resp:
        assert resp.status == 200
    assert key_echo_upstream.seen[-1] == OLD_KEY
    key_file.write_text(NEW_KEY)
    await wait_for(lambda: watched.last_error is None)
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body) as resp:
        assert resp.status == 200
    assert key_echo_upstream.seen[-1] == NEW_KEY

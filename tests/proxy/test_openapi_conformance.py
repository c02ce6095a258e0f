"""What the proxy answers, checked against OpenAI's published schemas (tests/openapi): chat bodies and
chunks (whole and broken streams), the model list, and every error the proxy makes itself, on each
API's path. The other APIs' bodies and events are checked in their own test files."""

from __future__ import annotations

import json

import pytest
from fixtures.mock_servers import mock_base_url
from fixtures.openapi import (
    CHAT_CHUNK,
    CHAT_COMPLETION,
    ERROR,
    MODEL_LIST,
    assert_chat_stream,
    assert_conforms,
    parse_sse,
)
from fixtures.proxy_servers import proxy_routes

MESSAGES = [{"role": "user", "content": "When is his birthday ?"}]
BODIES = {
    "/v1/chat/completions": {"model": "mock-gpt-model-0701", "messages": MESSAGES},
    "/v1/responses": {"model": "mock-gpt-model-0701", "input": "When is his birthday ?"},
    "/v1/embeddings": {"model": "mock-gpt-model-0701", "input": "his birthday"},
    "/v1/completions": {"model": "mock-gpt-model-0701", "prompt": "When is his birthday ?"},
}


async def test_chat_bodies_chunks_and_the_model_list(proxy_server, http):
    url = proxy_server.make_url("/v1/chat/completions")
    async with http.post(url, json=BODIES["/v1/chat/completions"]) as resp:
        assert_conforms(CHAT_COMPLETION, await resp.json())
    for options in ({}, {"stream_options": {"include_usage": True}}):
        async with http.post(url, json={**BODIES["/v1/chat/completions"], "stream": True, **options}) as resp:
            chunks = assert_chat_stream(await resp.read())
        assert chunks[-1].get("usage") if options else all(c["choices"] for c in chunks)
    async with http.get(proxy_server.make_url("/v1/models")) as resp:
        assert_conforms(MODEL_LIST, await resp.json())


async def test_a_broken_chat_stream_is_valid_chunks_then_an_error_object(proxy_server, http):
    body = {**BODIES["/v1/chat/completions"], "stream": True}
    headers = {"X-Mock-Fault": "cut", "X-Mock-Fault-After": "3"}
    async with http.post(proxy_server.make_url("/v1/chat/completions"), json=body, headers=headers) as resp:
        *chunks, last = parse_sse(await resp.read())
    for chunk in chunks:
        assert_conforms(CHAT_CHUNK, json.loads(chunk.data))
    assert_conforms(ERROR, json.loads(last.data))


def dead_backend_routes(port: int) -> dict:
    return {
        "backends": {"dead": {"base_url": f"http://127.0.0.1:{port}/v1"}},
        "models": [{"name": "mock-gpt-model-0701", "group": "mock", "backend": "dead"}],
    }


async def errors_of_every_kind(make_proxy, mock_server, http, path, unused_port, tmp_path):
    """(status, code, body) of each error the proxy answers with on `path`."""
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        "  - {key: only-mock, name: a, models: [mock-gpt-model-0701]}\n"
        "  - {key: slow-key, name: b, rate_limit: {requests_per_minute: 1, burst: 1}}\n"
    )
    routes = proxy_routes(mock_base_url(mock_server))
    routes["backends"]["mock"]["timeouts"] = {"first_byte": 0.3}
    keyed = await make_proxy(routes, api_keys_file=keys, max_body_bytes=2048, retry_attempts=1)
    dead = await make_proxy(dead_backend_routes(unused_port), retry_attempts=1, breaker_failures=1)
    body = BODIES[path]
    cases = [
        (keyed, b"{nope", {"Authorization": "Bearer only-mock"}),
        (keyed, json.dumps({**body, "model": 5}).encode(), {"Authorization": "Bearer only-mock"}),
        (keyed, json.dumps({**body, "x": "y" * 4000}).encode(), {"Authorization": "Bearer only-mock"}),
        (keyed, json.dumps(body).encode(), {}),
        (keyed, json.dumps(body).encode(), {"Authorization": "Bearer wrong"}),
        (keyed, json.dumps({**body, "model": "ft-mock"}).encode(), {"Authorization": "Bearer only-mock"}),
        (keyed, json.dumps({**body, "model": "gpt-7"}).encode(), {"Authorization": "Bearer only-mock"}),
        (keyed, json.dumps(body).encode(), {"Authorization": "Bearer slow-key"}),  # its second this minute
        (keyed, json.dumps(body).encode(), {"Authorization": "Bearer only-mock", "X-Mock-Fault": "stall_headers"}),
        (keyed, json.dumps(body).encode(), {"Authorization": "Bearer only-mock", "X-Mock-Fault": "context_length"}),
        (
            keyed,
            json.dumps(body).encode(),
            {"Authorization": "Bearer only-mock", "X-Mock-Fault": "status", "X-Mock-Status": "401"},
        ),
        (dead, json.dumps(body).encode(), {}),
        (dead, json.dumps(body).encode(), {}),
    ]
    async with http.post(keyed.make_url(path), json=body, headers={"Authorization": "Bearer slow-key"}) as resp:
        assert resp.status == 200  # the rate-limited key's one request of the minute
    seen = []
    for proxy, raw, headers in cases:
        async with http.post(
            proxy.make_url(path), data=raw, headers={"Content-Type": "application/json", **headers}
        ) as resp:
            seen.append((resp.status, await resp.json()))
    return seen


@pytest.mark.parametrize("path", list(BODIES))
async def test_every_error_the_proxy_makes_is_an_openai_error(
    make_proxy, mock_server, http, path, unused_tcp_port_factory, tmp_path
):
    seen = await errors_of_every_kind(make_proxy, mock_server, http, path, unused_tcp_port_factory(), tmp_path)
    for _, body in seen:
        assert_conforms(ERROR, body)
    codes = [(status, body["error"]["code"]) for status, body in seen]
    assert codes == [
        (400, "invalid_json"),
        (400, "invalid_type"),
        (413, "payload_too_large"),
        (401, "missing_api_key"),
        (401, "invalid_api_key"),
        (403, "model_not_allowed"),
        (404, "model_not_found"),
        (429, "rate_limit_exceeded"),
        (504, "upstream_timeout"),
        (400, "context_length_exceeded"),
        (502, "upstream_auth_failed"),
        (502, "upstream_unreachable"),
        (503, "circuit_open"),
    ]

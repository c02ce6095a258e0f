"""What a client's request can and cannot make the proxy do (security review, issue 15): bad header
bytes are a 400, grounding reads a bounded part of a question, `n` and output tokens are capped,
errors list only the models a key may use, and the proxy does not name its software versions."""

import asyncio
import json

import pytest
from fixtures.mock_servers import mock_base_url
from fixtures.proxy_servers import proxy_routes

import llm_proxy.grounding as grounding

QUESTION = [{"role": "user", "content": "When is his birthday?"}]


async def raw_request(server, head: bytes, body: bytes = b"") -> tuple[bytes, bytes]:
    """(status code, whole response) of one request written byte for byte."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    writer.write(head + length + b"Connection: close\r\n\r\n" + body)
    response = await reader.read()
    writer.close()
    return response.split(b" ", 2)[1], response


CHAT_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
CHAT_BODY = json.dumps({"model": "mock-gpt-model-0701", "messages": QUESTION}).encode()


@pytest.mark.parametrize(
    "header",
    [b"Authorization: Bearer caf\xff-key", b"api-key: \xff\xfe", b"X-Mock-TTFT-Ms: \xff", b"X-Request-Id: \xff"],
)
async def test_a_header_that_is_not_utf8_is_a_400_never_a_500(make_proxy, header):
    proxy = await make_proxy(api_keys="good-key-123")
    status, response = await raw_request(
        proxy, CHAT_HEAD + b"Authorization: Bearer good-key-123\r\n" + header + b"\r\n", CHAT_BODY
    )
    assert status == b"400", response[:400]  # was: 500 with a traceback
    assert b'"code": "invalid_header"' in response


async def test_grounding_reads_a_bounded_part_of_a_long_question(make_proxy, recording_upstream, http, monkeypatch):
    read: list[int] = []
    ranked = grounding.terms

    def counting(text: str):
        read.append(len(text))
        return ranked(text)

    routes = {
        "backends": {"rec": {"base_url": str(recording_upstream.make_url("/v1"))}},
        "models": [{"name": "grounded", "group": "openai", "backend": "rec", "context": "knowledge"}],
    }
    proxy = await make_proxy(routes)
    monkeypatch.setattr(grounding, "terms", counting)
    long_question = "When is his birthday? " + "and what about his hobbies " * 35_000  # about 950 KB
    body = {"model": "grounded", "messages": [{"role": "user", "content": long_question}]}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body) as resp:
        assert resp.status == 200
    assert read and max(read) <= 2048  # was: the whole question, about a second of CPU on the event loop
    sent = recording_upstream.requests[0][1]["messages"]
    assert sent[-1]["content"] == long_question and "football" in sent[0]["content"]  # grounded, nothing cut


async def test_the_not_found_error_lists_only_the_models_the_key_may_use(make_proxy, tmp_path, http):
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {key: narrow-key-123, name: narrow, models: [mock-gpt-model-0701]}\n")
    proxy = await make_proxy(api_keys_file=keys)
    headers = {"Authorization": "Bearer narrow-key-123"}
    body = {"model": "gpt-5", "messages": QUESTION}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body, headers=headers) as resp:
        assert resp.status == 404
        message = (await resp.json())["error"]["message"]
    assert "mock-gpt-model-0701" in message
    assert "ft-mock" not in message and "grounded-mock" not in message


async def test_no_response_names_the_software_versions(proxy_server, http):
    for method, path in (("GET", "/healthz"), ("GET", "/v1/models"), ("GET", "/nowhere"), ("POST", "/v1/models")):
        async with http.request(method, proxy_server.make_url(path)) as resp:
            assert resp.headers["Server"] == "llm-proxy", (method, path)  # was: Python/3.11 aiohttp/3.x


@pytest.mark.parametrize(
    "extra, param, code",
    [
        ({"n": 9}, "n", "over_limit"),
        ({"max_tokens": 40_000}, "max_tokens", "over_limit"),
        ({"max_completion_tokens": 40_000}, "max_completion_tokens", "over_limit"),
        ({"n": "2"}, "n", "invalid_type"),
        ({"max_tokens": 1.5}, "max_tokens", "invalid_type"),
    ],
)
async def test_n_and_output_tokens_are_capped(proxy_server, http, extra, param, code):
    body = {"model": "mock-gpt-model-0701", "messages": QUESTION, **extra}
    async with http.post(proxy_server.make_url("/v1/chat/completions"), json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert (error["param"], error["code"]) == (param, code)


async def test_a_model_can_set_its_own_caps_and_other_apis_are_capped_too(make_proxy, mock_server, http):
    routes = proxy_routes(mock_base_url(mock_server))
    routes["models"][0]["limits"] = {"max_n": 1, "max_output_tokens": 50}
    proxy = await make_proxy(routes)
    url = proxy.make_url
    chat = {"model": "mock-gpt-model-0701", "messages": QUESTION}
    async with http.post(url("/v1/chat/completions"), json={**chat, "n": 1, "max_tokens": 50}) as resp:
        assert resp.status == 200
    async with http.post(url("/v1/chat/completions"), json={**chat, "n": 2}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "n"
    answer = {"model": "mock-gpt-model-0701", "input": "hi", "max_output_tokens": 51}
    async with http.post(url("/v1/responses"), json=answer) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "max_output_tokens"
    legacy = {"model": "mock-gpt-model-0701", "prompt": "hi", "best_of": 2}
    async with http.post(url("/v1/completions"), json=legacy) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["param"] == "best_of"


async def test_a_fallback_whose_caps_the_request_exceeds_is_not_tried(
    make_proxy, mock_server, unused_tcp_port_factory, http
):
    routes = proxy_routes(
        mock_base_url(mock_server), dead={"base_url": f"http://127.0.0.1:{unused_tcp_port_factory()}/v1"}
    )
    routes["models"][2]["limits"] = {"max_output_tokens": 10}  # ft-mock
    routes["models"].append({"name": "big", "group": "openai", "backend": "dead", "fallbacks": ["ft-mock"]})
    proxy = await make_proxy(routes, retry_attempts=1)
    body = {"model": "big", "messages": QUESTION, "max_tokens": 20}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body) as resp:
        assert resp.status == 502 and (await resp.json())["error"]["code"] == "upstream_unreachable"
    async with http.post(proxy.make_url("/v1/chat/completions"), json={**body, "max_tokens": 10}) as resp:
        assert resp.status == 200 and resp.headers["X-LLM-Proxy-Model"] == "ft-mock"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions"])
async def test_a_repeated_key_is_refused_on_every_endpoint(proxy_server, path):
    # `m\u006fdel` is "model" once decoded: an allowlist check and the upstream could read different ones.
    body = b'{"model": "mock-gpt-model-0701", "m\\u006fdel": "gpt-4", "messages": [], "input": "hi", "prompt": "hi"}'
    status, response = await raw_request(proxy_server, b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n", body)
    assert status == b"400" and b"duplicate_key" in response

"""Every API goes through chat's pipeline: model rewrite and key swap, client keys and allowlists,
fallbacks before the first byte, usage in metrics, the request log, OpenAI's error shapes; a model
look-up on its backend; unknown paths under /v1/ as OpenAI answers them."""

from __future__ import annotations

import json
from uuid import uuid4

import openai
import pytest
from fixtures.clients import openai_client
from fixtures.mock_servers import mock_base_url
from fixtures.openapi import ERROR, MODEL, assert_conforms
from fixtures.proxy_servers import proxy_routes

from llm_proxy.state import REQUEST_LOG

QUESTION = "When is his birthday ?"
MESSAGES = [{"role": "user", "content": QUESTION}]
# (path, a body for `model`) of each API that takes a body
APIS = {
    "chat": ("/v1/chat/completions", lambda model: {"model": model, "messages": MESSAGES}),
    "responses": ("/v1/responses", lambda model: {"model": model, "input": QUESTION}),
    "embeddings": ("/v1/embeddings", lambda model: {"model": model, "input": QUESTION}),
    "completions": ("/v1/completions", lambda model: {"model": model, "prompt": QUESTION, "max_tokens": 60}),
}
STREAMING = ["chat", "responses", "completions"]


async def sdk_call(client: openai.AsyncOpenAI, api: str, model: str):
    """One call of `api` with the official SDK, as its users write it."""
    if api == "chat":
        return await client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    if api == "responses":
        return await client.responses.with_raw_response.create(model=model, input=QUESTION)
    if api == "embeddings":
        return await client.embeddings.with_raw_response.create(model=model, input=QUESTION)
    if api == "completions":
        return await client.completions.with_raw_response.create(model=model, prompt=QUESTION)
    return await client.models.with_raw_response.retrieve(model)


def rec_routes(recording_upstream, **model) -> dict:
    return {
        "backends": {"rec": {"base_url": str(recording_upstream.make_url("/v1")), "api_key": "sk-backend-1234"}},
        "models": [{"name": "alias", "group": "openai", "backend": "rec", "upstream_model": "real-model-id", **model}],
    }


@pytest.mark.parametrize(
    "api, upstream_path",
    [
        ("chat", "POST /v1/chat/completions"),
        ("responses", "POST /v1/responses"),
        ("embeddings", "POST /v1/embeddings"),
        ("completions", "POST /v1/completions"),
        ("model", "GET /v1/models/real-model-id"),
    ],
)
async def test_each_api_rewrites_the_model_and_swaps_the_key(make_proxy, recording_upstream, api, upstream_path):
    proxy = await make_proxy(rec_routes(recording_upstream))
    async with openai_client(proxy, "client-secret-key") as client:
        reply = await sdk_call(client, api, "alias")
    (headers, body), path = recording_upstream.requests[0], recording_upstream.paths[0]
    assert path == upstream_path and (body is None or body["model"] == "real-model-id")
    assert headers["Authorization"] == "Bearer sk-backend-1234" and "client-secret-key" not in str(dict(headers))
    assert reply.headers["X-LLM-Proxy-Model"] == "alias"
    assert reply.headers["X-LLM-Proxy-Upstream-Model"] == "real-model-id"
    assert reply.headers["X-Request-Id"] == headers["X-Request-Id"]


@pytest.mark.parametrize(
    "path, raw",
    [
        ("/v1/embeddings", b'{"input": ["When is his birthday?"],   "model": "alias", "dimensions": 8}'),
        ("/v1/completions", b'{"prompt": "When is his birthday?",   "model": "alias", "max_tokens": 5}'),
    ],
)
async def test_embeddings_and_completions_are_never_grounded(make_proxy, recording_upstream, http, path, raw):
    routes = rec_routes(recording_upstream, context="knowledge")
    routes["models"][0].pop("upstream_model")  # the same name upstream: nothing for the proxy to change
    proxy = await make_proxy(routes)
    async with http.post(proxy.make_url(path), data=raw) as resp:
        assert resp.status == 200
    assert recording_upstream.raw == [raw] and recording_upstream.paths == [f"POST {path}"]


async def test_a_model_look_up_answers_under_the_name_asked_for(make_proxy, recording_upstream, proxy_sdk, http):
    proxy = await make_proxy(rec_routes(recording_upstream, context="knowledge"))
    async with openai_client(proxy) as client:
        entry = await client.models.retrieve("alias")
    assert (entry.id, entry.owned_by, entry.created) == ("alias", "recorder", 1)  # the upstream's facts, our name
    assert (entry.group, entry.context, entry.source) == ("openai", "knowledge", "base")  # as GET /v1/models says
    mock = await proxy_sdk.models.retrieve("grounded-mock")  # the mock knows it as mock-gpt-model-0701
    assert mock.id == "grounded-mock" and mock.owned_by == "mock-model"
    async with http.get(proxy.make_url("/v1/models/alias")) as resp:
        assert_conforms(MODEL, await resp.json())


@pytest.mark.parametrize("api", ["chat", "responses", "embeddings", "completions", "model"])
async def test_each_api_knows_client_keys_allowlists_and_unknown_models(make_proxy, tmp_path, api):
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {key: team-a-secret, name: team-a, models: [mock-gpt-model-0701]}\n")
    proxy = await make_proxy(api_keys_file=keys)
    async with openai_client(proxy, "team-a-secret") as client:
        assert (await sdk_call(client, api, "mock-gpt-model-0701")).http_response.status_code == 200
        with pytest.raises(openai.NotFoundError) as missing:
            await sdk_call(client, api, "gpt-7")
        with pytest.raises(openai.PermissionDeniedError) as denied:
            await sdk_call(client, api, "ft-mock")
    async with openai_client(proxy, "wrong-key") as client:
        with pytest.raises(openai.AuthenticationError) as wrong:
            await sdk_call(client, api, "mock-gpt-model-0701")
    assert missing.value.code == "model_not_found" and "gpt-7" in missing.value.message
    assert denied.value.code == "model_not_allowed" and wrong.value.code == "invalid_api_key"
    for err in (missing, denied, wrong):
        assert_conforms(ERROR, err.value.response.json())


def fallback_routes(mock_server) -> dict:
    routes = proxy_routes(mock_base_url(mock_server))
    routes["models"][0]["fallbacks"] = ["ft-mock"]
    return routes


@pytest.mark.parametrize(
    "api, stream", [(api, False) for api in APIS] + [(api, True) for api in STREAMING], ids=lambda v: str(v)
)
async def test_each_api_falls_back_before_the_first_byte(make_proxy, mock_server, http, api, stream):
    proxy = await make_proxy(fallback_routes(mock_server), retry_attempts=1)
    path, body = APIS[api]
    # The first call (to the model asked for) fails; the fallback's, the second with this key, does not.
    fault = {
        "X-Mock-Fault": "status",
        "X-Mock-Status": "503",
        "X-Mock-Fail-Times": "1",
        "X-Mock-Fault-Key": uuid4().hex,
    }
    payload = {**body("mock-gpt-model-0701"), **({"stream": True} if stream else {})}
    async with http.post(proxy.make_url(path), json=payload, headers=fault) as resp:
        assert resp.status == 200 and resp.headers["X-LLM-Proxy-Model"] == "ft-mock"
        assert resp.headers["X-LLM-Proxy-Attempts"] == "2"
        raw = await resp.read()
    assert b"ft:mock:test::1" in raw  # the upstream model of the fallback answered
    async with http.get(proxy.make_url("/metrics")) as resp:
        text = await resp.text()
    assert 'llm_proxy_fallbacks_total{fallback="ft-mock",model="mock-gpt-model-0701"} 1.0' in text


async def test_a_model_look_up_never_falls_back_to_another_model(make_proxy, mock_server, http):
    proxy = await make_proxy(fallback_routes(mock_server), retry_attempts=1)
    key = uuid4().hex
    async with openai_client(proxy) as client:
        with pytest.raises(openai.InternalServerError) as err:
            fault = {"X-Mock-Fault": "status", "X-Mock-Fail-Times": "1", "X-Mock-Fault-Key": key}
            await client.models.retrieve("mock-gpt-model-0701", extra_headers=fault)
    assert err.value.status_code == 503  # the upstream's error, passed through
    async with http.get(mock_server.make_url("/mock/requests"), params={"key": key}) as resp:
        assert (await resp.json())["requests"] == 1  # ft-mock, its fallback for answers, was not asked


async def test_each_apis_usage_is_counted_from_its_own_usage_shape(make_proxy, recording_upstream, http):
    base = str(recording_upstream.make_url("/v1"))
    routes = {
        "backends": {"rec": {"base_url": base}},
        "models": [{"name": name, "group": "mock", "backend": "rec"} for name in [*APIS, "looked-up"]],
    }
    proxy = await make_proxy(routes)
    async with openai_client(proxy) as client:
        for api in APIS:
            await sdk_call(client, api, api)
        await sdk_call(client, "model", "looked-up")
    async with http.get(proxy.make_url("/metrics")) as resp:
        text = await resp.text()
    # The recording upstream reports 3 in / 1 out (embeddings: 2 prompt tokens and no output).
    counted = {"chat": (3, 1), "responses": (3, 1), "embeddings": (2, 0), "completions": (3, 1)}
    for model, (prompt, completion) in counted.items():
        assert f'llm_proxy_tokens_total{{kind="prompt",model="{model}"}} {prompt}.0' in text
        assert f'llm_proxy_tokens_total{{kind="completion",model="{model}"}} {completion}.0' in text
    assert 'model="looked-up"' in text and 'llm_proxy_tokens_total{kind="prompt",model="looked-up"}' not in text


@pytest.mark.parametrize("api", STREAMING)
async def test_a_streams_usage_is_counted_once_it_ended_whole(proxy_server, http, api):
    path, body = APIS[api]
    async with http.post(proxy_server.make_url(path), json={**body("mock-gpt-model-0701"), "stream": True}) as resp:
        raw = await resp.read()
    async with http.post(proxy_server.make_url(path), json=body("mock-gpt-model-0701")) as resp:
        usage = (await resp.json())["usage"]  # the same request, answered whole, reports the same usage
    prompt, completion = (
        (usage["input_tokens"], usage["output_tokens"])
        if api == "responses"
        else (usage["prompt_tokens"], usage["completion_tokens"])
    )
    assert raw and prompt and completion
    async with http.get(proxy_server.make_url("/metrics")) as resp:
        text = await resp.text()
    assert f'llm_proxy_tokens_total{{kind="prompt",model="mock-gpt-model-0701"}} {2 * prompt}.0' in text
    assert f'llm_proxy_tokens_total{{kind="completion",model="mock-gpt-model-0701"}} {2 * completion}.0' in text


async def test_each_api_has_its_request_line(make_proxy, http, capsys):
    proxy = await make_proxy(log_requests=True, log_format="json")
    for path, body in APIS.values():
        async with http.post(proxy.make_url(path), json=body("grounded-mock")) as resp:
            assert resp.status == 200
    async with http.get(proxy.make_url("/v1/models/grounded-mock")) as resp:
        assert resp.status == 200
    proxy.app[REQUEST_LOG].flush()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"llm_proxy.request"' in line]
    assert [(e["method"], e["path"], e["status"], e["model"], e["answered_by"]) for e in lines] == [
        *(("POST", path, 200, "grounded-mock", "grounded-mock") for path, _ in APIS.values()),
        ("GET", "/v1/models/grounded-mock", 200, "grounded-mock", "grounded-mock"),
    ]


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v1/nothing", 404),
        ("POST", "/v1/images/generations", 404),
        ("POST", "/v1/responses/resp_1/cancel", 404),
        ("GET", "/v1/responses", 405),
        ("GET", "/v1/embeddings", 405),
    ],
)
async def test_unknown_paths_under_v1_get_openais_error_shape(proxy_server, http, method, path, status):
    async with http.request(method, proxy_server.make_url(path)) as resp:
        assert resp.status == status and resp.headers["Content-Type"].startswith("application/json")
        error = await resp.json()
    assert_conforms(ERROR, error)
    assert error["error"]["type"] == "invalid_request_error"
    if status == 404:
        assert error["error"]["message"] == f"Invalid URL ({method} {path})"  # OpenAI's words for it


async def test_the_sdk_sees_an_unknown_path_as_not_found(proxy_server):
    async with openai_client(proxy_server) as client:
        with pytest.raises(openai.NotFoundError) as err:
            await client.post("/images/generations", body={"prompt": "a cat"}, cast_to=object)
    assert "Invalid URL (POST /v1/images/generations)" in err.value.message

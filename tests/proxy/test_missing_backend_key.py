"""A backend whose table entry names an `api_key` that comes out empty (OPENAI_API_KEY unset, as
with `make run` on a laptop) is never called: its models answer a clear 502 at once, and a model
with fallbacks is answered by one that can be reached."""

from __future__ import annotations

import openai
import pytest
from fixtures.clients import openai_client
from fixtures.mock_servers import mock_base_url
from fixtures.seed_api import seed_body

from llm_proxy.app import PACKAGED_ROUTES
from llm_proxy.routing import parse_routes

QUESTION = [{"role": "user", "content": "When is his birthday ?"}]


@pytest.mark.unit
def test_the_table_says_which_backends_want_a_key_and_where_it_comes_from():
    table = parse_routes(PACKAGED_ROUTES.read_text(), environ={})
    openai_backend, mock_backend = table.backends["openai"], table.backends["mock"]
    assert openai_backend.key_required and openai_backend.api_key == ""
    assert openai_backend.key_variables == ("OPENAI_API_KEY",)
    assert not mock_backend.key_required and mock_backend.key_variables == ()


@pytest.fixture
def packaged_routes(monkeypatch, recording_upstream, mock_server):
    """The packaged table, its "OpenAI" a recording upstream, and no OpenAI key."""
    monkeypatch.setenv("OPENAI_BASE_URL", str(recording_upstream.make_url("/v1")))
    monkeypatch.setenv("MOCK_MODEL_URL", mock_base_url(mock_server))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY_FILE", raising=False)
    return PACKAGED_ROUTES.read_text()


async def test_without_a_key_nothing_is_sent_and_the_error_says_what_to_set(
    make_proxy, packaged_routes, recording_upstream, http
):
    proxy = await make_proxy(packaged_routes)
    async with openai_client(proxy) as client:
        with pytest.raises(openai.InternalServerError) as err:
            await client.chat.completions.create(model="gpt-3.5-turbo", messages=QUESTION)
        with pytest.raises(openai.InternalServerError) as look_up:
            await client.models.retrieve("gpt-3.5-turbo")
        answer = await client.chat.completions.with_raw_response.create(model="gpt-4", messages=QUESTION)
    for error in (err.value, look_up.value):
        assert error.status_code == 502 and error.code == "upstream_auth_failed"
        assert "No API key is configured for the upstream backend 'openai'" in error.message
        assert "set OPENAI_API_KEY or OPENAI_API_KEY_FILE" in error.message
    assert answer.headers["X-LLM-Proxy-Model"] == "mock-gpt-model-0701"  # gpt-4's fallback that can answer
    assert "7 January 1998" in answer.parse().choices[0].message.content
    assert recording_upstream.requests == []
    # A missing key says nothing about the backend's health: its circuit never opens over it.
    for _ in range(6):
        async with http.post(
            proxy.make_url("/v1/chat/completions"), json={"model": "gpt-4-turbo", "messages": QUESTION}
        ) as resp:
            assert resp.status == 502 and (await resp.json())["error"]["code"] == "upstream_auth_failed"


async def test_with_the_key_the_backend_is_called_with_it(make_proxy, packaged_routes, recording_upstream, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-1234")
    proxy = await make_proxy(packaged_routes)
    async with openai_client(proxy) as client:
        await client.chat.completions.create(model="gpt-3.5-turbo", messages=QUESTION)
    ((headers, body),) = recording_upstream.requests
    assert headers["Authorization"] == "Bearer sk-test-key-1234" and body["model"] == "gpt-3.5-turbo"


async def test_the_seed_api_says_so_in_its_own_shape(make_proxy, packaged_routes, http):
    proxy = await make_proxy(packaged_routes)
    body = seed_body(model="gpt-3.5-turbo-16k", sample=False, custom=True)
    async with http.post(proxy.make_url("/send_inference"), json=body) as resp:
        status, reply = resp.status, await resp.json()
    assert status == 502 and reply["error"] == "Error when sending inference to gpt-3.5-turbo-16k"
    assert reply["reason"].startswith("No API key is configured for the upstream backend 'openai'")

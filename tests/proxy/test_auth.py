"""Client keys: env and mounted-file keys, allowlists, rate limits, open health endpoints."""

import openai
import pytest
from fixtures.clients import openai_client

QUESTION = [{"role": "user", "content": "hi"}]


async def test_keys_from_env_setting(make_proxy):
    proxy = await make_proxy(api_keys="alpha-key-1, beta-key-2")
    async with openai_client(proxy, "beta-key-2") as client:
        reply = await client.chat.completions.create(model="mock-gpt-model-0701", messages=QUESTION)
        assert reply.choices[0].message.content
    async with openai_client(proxy, "wrong-key") as client:
        with pytest.raises(openai.AuthenticationError) as err:
            await client.chat.completions.create(model="mock-gpt-model-0701", messages=QUESTION)
    assert err.value.code == "invalid_api_key"


async def test_a_missing_key_is_a_401_in_openai_shape(make_proxy, http):
    proxy = await make_proxy(api_keys="alpha-key-1")
    async with http.get(proxy.make_url("/v1/models")) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "missing_api_key"
    async with http.post(proxy.make_url("/send_inference"), json={}) as resp:
        assert resp.status == 401


async def test_health_is_open_and_metrics_can_be_protected(make_proxy, http):
    proxy = await make_proxy(api_keys="alpha-key-1", metrics_require_key=True)
    for path in ("/healthz", "/readyz"):
        async with http.get(proxy.make_url(path)) as resp:
            assert resp.status == 200
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert resp.status == 401
    async with http.get(proxy.make_url("/metrics"), headers={"Authorization": "Bearer alpha-key-1"}) as resp:
        assert resp.status == 200
    open_metrics = await make_proxy(api_keys="alpha-key-1")
    async with http.get(open_metrics.make_url("/metrics")) as resp:
        assert resp.status == 200


async def test_keys_file_with_allowlist_and_rate_limit(make_proxy, tmp_path, http):
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        "  - {key: team-a-secret, name: team-a, models: [mock-gpt-model-0701]}\n"
        "  - {key: team-b-secret, name: team-b, rate_limit: {requests_per_minute: 60, burst: 2}}\n"
    )
    proxy = await make_proxy(api_keys_file=keys)
    async with openai_client(proxy, "team-a-secret") as client:
        assert [m.id for m in (await client.models.list()).data] == ["mock-gpt-model-0701"]
        with pytest.raises(openai.PermissionDeniedError) as err:
            await client.chat.completions.create(model="ft-mock", messages=QUESTION)
        assert err.value.code == "model_not_allowed"
    async with openai_client(proxy, "team-b-secret") as client:
        for _ in range(2):
            await client.chat.completions.create(model="ft-mock", messages=QUESTION)
        with pytest.raises(openai.RateLimitError) as err:
            await client.chat.completions.create(model="ft-mock", messages=QUESTION)
        assert int(err.value.response.headers["Retry-After"]) >= 1
    async with http.get(proxy.make_url("/metrics")) as resp:
        text = await resp.text()
    assert 'llm_proxy_client_rate_limited_total{client="team-b"} 1.0' in text
    assert "team-b-secret" not in text and "team-a-secret" not in text


async def test_a_plain_keys_file_reloads_when_the_secret_changes(make_proxy, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# one key per line\nfirst-key-123\n")
    proxy = await make_proxy(api_keys_file=keys, reload_interval=0.05)
    async with openai_client(proxy, "first-key-123") as client:
        await client.models.list()
    keys.write_text("second-key-456\n")
    import asyncio

    for _ in range(40):
        await asyncio.sleep(0.05)
        async with openai_client(proxy, "second-key-456") as client:
            try:
                await client.models.list()
                break
            except openai.AuthenticationError:
                continue
    else:
        pytest.fail("the new key was never accepted")
    async with openai_client(proxy, "first-key-123") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()

"""Usage, cost, budgets and the limits of issue 15's finding 13, on one proxy with no Redis (the
default: everything in process). Real proxy, real mock, the official SDK where a client would."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from fixtures.clients import openai_client, sse_events
from fixtures.mock_servers import mock_base_url
from fixtures.seed_api import seed_body

QUESTION = [{"role": "user", "content": "When is his birthday?"}]
PRICED = "priced-mock"


def routes(mock_server) -> dict:
    return {
        "backends": {"mock": {"base_url": mock_base_url(mock_server), "forward_test_headers": True}},
        "models": [
            {"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock"},
            {
                "name": PRICED,
                "group": "openai",
                "backend": "mock",
                "upstream_model": "mock-gpt-model-0701",
                "price": {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0},  # 1 and 2 milli-USD a token
            },
        ],
    }


def keys(tmp_path, extra: str = "") -> object:
    path = tmp_path / "keys.yaml"
    path.write_text(
        "keys:\n  - {key: team-key-0001, name: team}\n  - {key: ops-key-0002, name: ops, admin: true}\n" + extra
    )
    return path


async def get_usage(http, proxy, key="ops-key-0002", query="") -> tuple[int, dict]:
    async with http.get(proxy.make_url("/v1/usage" + query), headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status, await resp.json()


async def test_usage_counts_chat_streams_and_the_seed_api_per_client_and_model(make_proxy, mock_server, tmp_path, http):
    proxy = await make_proxy(routes(mock_server), api_keys_file=keys(tmp_path))
    async with openai_client(proxy, "team-key-0001") as client:
        whole = await client.chat.completions.create(model=PRICED, messages=QUESTION)
        chunks = [c async for c in await client.chat.completions.create(model=PRICED, messages=QUESTION, stream=True)]
    assert all(c.usage is None for c in chunks)  # not asked for: not sent
    seed = seed_body(model=PRICED, sample=False, custom=True)
    async with http.post(
        proxy.make_url("/send_inference"), json=seed, headers={"Authorization": "Bearer team-key-0001"}
    ) as resp:
        assert resp.status == 200
    status, report = await get_usage(http, proxy)
    assert status == 200 and report["scope"] == "this_replica" and len(report["date"]) == 10
    (row,) = report["data"]
    assert row["client"] == "team" and row["model"] == PRICED and row["requests"] == 3
    assert row["input_tokens"] > 2 * whole.usage.prompt_tokens  # the seed's question is grounded: longer
    assert row["total_tokens"] == row["input_tokens"] + row["output_tokens"]
    assert row["cost_usd"] == pytest.approx(row["input_tokens"] * 0.001 + row["output_tokens"] * 0.002)
    assert report["total"]["requests"] == 3
    async with http.get(proxy.make_url("/metrics")) as resp:
        metrics = await resp.text()
    assert (
        f'llm_proxy_client_tokens_total{{client="team",kind="output",model="{PRICED}"}} {row["output_tokens"]}.0'
        in metrics
    )
    assert f'llm_proxy_client_cost_usd_total{{client="team",model="{PRICED}"}}' in metrics


async def test_a_stream_gets_its_usage_chunk_only_when_the_client_asks(make_proxy, mock_server, tmp_path, http):
    proxy = await make_proxy(routes(mock_server), api_keys_file=keys(tmp_path))
    auth = {"Authorization": "Bearer team-key-0001"}
    body = {"model": "mock-gpt-model-0701", "messages": QUESTION, "stream": True}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=body, headers=auth) as resp:
        plain = sse_events(await resp.read())
    assert plain[-1] == "data: [DONE]" and not any("usage" in event for event in plain)
    asked = {**body, "stream_options": {"include_usage": True}}
    async with http.post(proxy.make_url("/v1/chat/completions"), json=asked, headers=auth) as resp:
        events = sse_events(await resp.read())
    last = json.loads(events[-2][6:])
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
    _, report = await get_usage(http, proxy)
    assert report["data"][0]["requests"] == 2
    assert report["data"][0]["total_tokens"] == 2 * last["usage"]["total_tokens"]  # both counted


async def test_a_spent_usd_budget_refuses_until_midnight_but_never_cuts_a_running_stream(
    make_proxy, mock_server, tmp_path, http
):
    # One answer here costs well over one cent: the budget is spent by the first.
    budget = "  - {key: spender-key-0003, name: spender, budget: {usd_per_day: 0.01}}\n"
    proxy = await make_proxy(routes(mock_server), api_keys_file=keys(tmp_path, budget))
    slow = {"X-Mock-Token-Delay-Ms": "20"}
    async with openai_client(proxy, "spender-key-0003") as client:

        async def stream() -> list:
            response = await client.chat.completions.create(
                model=PRICED, messages=QUESTION, stream=True, extra_headers=slow
            )
            return [chunk async for chunk in response]

        # Both start under the budget; the first to end spends it while the other still streams.
        first, second = await asyncio.gather(stream(), stream())
        for chunks in (first, second):
            assert chunks[-1].choices[0].finish_reason == "stop"
        with pytest.raises(openai.RateLimitError) as err:
            await client.chat.completions.create(model=PRICED, messages=QUESTION)
    error = err.value
    assert error.code == "budget_exceeded" and "'spender'" in error.message and "midnight UTC" in error.message
    assert 0 < int(error.response.headers["Retry-After"]) <= 86400
    seed = seed_body(model=PRICED, sample=False, custom=True)
    async with http.post(
        proxy.make_url("/send_inference"), json=seed, headers={"Authorization": "Bearer spender-key-0003"}
    ) as resp:
        assert resp.status == 429 and (await resp.json())["error"]["code"] == "budget_exceeded"
    async with openai_client(proxy, "team-key-0001") as client:  # another key's budget is its own
        await client.chat.completions.create(model=PRICED, messages=QUESTION)
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert 'llm_proxy_budget_rejections_total{budget="usd",client="spender"} 2.0' in await resp.text()


async def test_usage_is_for_admin_keys_only(make_proxy, mock_server, tmp_path, http):
    proxy = await make_proxy(routes(mock_server), api_keys_file=keys(tmp_path))
    status, body = await get_usage(http, proxy, key="team-key-0001")
    assert status == 403 and body["error"]["code"] == "admin_required"
    status, body = await get_usage(http, proxy, query="?date=yesterday")
    assert status == 400 and body["error"]["param"] == "date"
    status, body = await get_usage(http, proxy, query="?date=2001-01-01")
    assert status == 200 and body["data"] == [] and body["total"]["requests"] == 0
    anonymous = await make_proxy(routes(mock_server))  # no keys at all: nobody is an admin
    async with http.get(anonymous.make_url("/v1/usage")) as resp:
        assert resp.status == 403


async def test_keys_from_the_environment_carry_the_environment_limit(make_proxy, mock_server, http):
    proxy = await make_proxy(
        routes(mock_server), api_keys="alpha-key-0001,beta-key-0002", api_keys_rate_limit=60, api_keys_burst=2
    )
    async with openai_client(proxy, "alpha-key-0001") as client:
        for _ in range(2):
            await client.models.list()
        with pytest.raises(openai.RateLimitError) as err:
            await client.models.list()
        assert err.value.code == "rate_limit_exceeded" and "'env-1'" in err.value.message
    async with openai_client(proxy, "beta-key-0002") as client:  # each key its own bucket
        await client.models.list()


async def test_failed_authentications_are_throttled_per_address_whatever_key_follows(make_proxy, mock_server, http):
    proxy = await make_proxy(routes(mock_server), api_keys="good-key-0001", auth_failures_per_minute=3)
    url = proxy.make_url("/v1/models")
    for _ in range(3):
        async with http.get(url, headers={"Authorization": "Bearer guess-0000"}) as resp:
            assert resp.status == 401
    for key in ("guess-0001", "good-key-0001"):  # the right key gets no answer that says so either
        async with http.get(url, headers={"Authorization": f"Bearer {key}"}) as resp:
            assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 20
            assert (await resp.json())["error"]["code"] == "too_many_auth_failures"
    async with http.get(proxy.make_url("/metrics")) as resp:
        assert "llm_proxy_auth_throttled_total 2.0" in await resp.text()


async def test_behind_an_ingress_the_address_is_the_one_it_recorded(make_proxy, mock_server, http):
    proxy = await make_proxy(
        routes(mock_server), api_keys="good-key-0001", auth_failures_per_minute=2, trusted_proxy_hops=1
    )
    url = proxy.make_url("/v1/models")

    async def status(key: str, client: str) -> int:
        # A client's own X-Forwarded-For comes first; the ingress appends the address it saw.
        headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": f"203.0.113.9, {client}"}
        async with http.get(url, headers=headers) as resp:
            return resp.status

    assert [await status("guess", "198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert await status("good-key-0001", "198.51.100.2") == 200  # another client behind the same ingress
    assert await status("guess", "198.51.100.2") == 401


async def test_every_api_is_counted_and_refused_once_the_budget_is_spent(make_proxy, mock_server, tmp_path, http):
    budget = "  - {key: tokens-key-0004, name: tokens, budget: {tokens_per_day: 100000}}\n"
    path = keys(tmp_path, budget)
    proxy = await make_proxy(routes(mock_server), api_keys_file=path, reload_interval=0.05)
    async with openai_client(proxy, "tokens-key-0004") as client:
        await client.responses.create(model=PRICED, input="When is his birthday?")
        events = [e async for e in await client.responses.create(model=PRICED, input="Hobbies?", stream=True)]
        assert events[-1].type == "response.completed"
        await client.embeddings.create(model=PRICED, input=["one", "two"])
        await client.completions.create(model=PRICED, prompt="Say hi")
        chunks = [c async for c in await client.completions.create(model=PRICED, prompt="Say hi", stream=True)]
        assert all(getattr(c, "usage", None) is None for c in chunks)  # the usage chunk the proxy asked for: stripped
        await client.models.retrieve(PRICED)  # a look-up: no request to count
    _, report = await get_usage(http, proxy)
    (row,) = report["data"]
    assert row["client"] == "tokens" and row["requests"] == 5
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
    # The budget lowered below what is spent (a keys-file reload): every API refuses, a look-up still answers.
    path.write_text(path.read_text().replace("tokens_per_day: 100000", "tokens_per_day: 10"))
    async with openai_client(proxy, "tokens-key-0004") as client:
        for _ in range(100):
            try:
                await client.embeddings.create(model=PRICED, input="x")
            except openai.RateLimitError:
                break
            await asyncio.sleep(0.05)
        calls = [
            client.responses.create(model=PRICED, input="hi"),
            client.embeddings.create(model=PRICED, input="hi"),
            client.completions.create(model=PRICED, prompt="hi"),
            client.chat.completions.create(model=PRICED, messages=QUESTION),
        ]
        for call in calls:
            with pytest.raises(openai.RateLimitError) as err:
                await call
            assert err.value.code == "budget_exceeded"
        assert (await client.models.retrieve(PRICED)).id == PRICED

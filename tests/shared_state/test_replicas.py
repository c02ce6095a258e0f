"""Replicas act as one: two real `llm-proxy` processes share a real redis-server, in front of the
mock, and a client sees one limit, one seed state, one budget and one usage ledger (issue 16)."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time

import aiohttp
import pytest
from fixtures.mock_servers import mock_base_url
from fixtures.seed_api import seed_body

pytestmark = pytest.mark.slow

LIMITED, BUDGETED, ADMIN, BUSY = "limited-key-0001", "budgeted-key-0002", "admin-key-0003", "busy-key-0004"
MODEL = "mock-gpt-model-0701"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "When is his birthday?"}]}


def write_setup(tmp_path, mock_server, redis_server, budget_tokens: int = 1_000_000) -> dict[str, str]:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"backends:\n  mock: {{base_url: '{mock_base_url(mock_server)}'}}\n"
        f"models:\n  - {{name: {MODEL}, group: mock, backend: mock}}\n"
    )
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n"
        f"  - {{key: {LIMITED}, name: limited, rate_limit: {{requests_per_minute: 10, burst: 10}}}}\n"
        f"  - {{key: {BUDGETED}, name: budgeted, budget: {{tokens_per_day: {budget_tokens}}}}}\n"
        f"  - {{key: {ADMIN}, name: ops, admin: true}}\n"
        f"  - {{key: {BUSY}, name: busy, rate_limit: {{requests_per_minute: 600000, burst: 10000}}}}\n"
    )
    return {
        "LLM_PROXY_ROUTES": str(routes),
        "LLM_PROXY_API_KEYS_FILE": str(keys),
        "LLM_PROXY_REDIS_URL": redis_server.url,
        "LLM_PROXY_REDIS_RETRY_INTERVAL": "0.2",
        # A busy test machine must not send a request to the fallback: the scenarios stop Redis outright.
        "LLM_PROXY_REDIS_TIMEOUT": "2",
    }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def chat(http, proxy, key: str, timeout: float = 10) -> tuple[int, dict, dict]:
    async with http.post(
        proxy.url + "/v1/chat/completions", json=CHAT, headers=auth(key), timeout=aiohttp.ClientTimeout(total=timeout)
    ) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def alternate(http, proxies, key: str, count: int) -> tuple[list[int], float]:
    started = time.monotonic()
    statuses = [(await chat(http, proxy, key))[0] for proxy, _ in zip(itertools.cycle(proxies), range(count))]
    return statuses, time.monotonic() - started


async def readyz(http, proxy) -> tuple[int, dict]:
    async with http.get(proxy.url + "/readyz") as resp:
        return resp.status, await resp.json()


async def usage(http, proxy) -> dict:
    async with http.get(proxy.url + "/v1/usage", headers=auth(ADMIN)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def eventually(check, what: str, timeout: float = 15) -> None:
    """Poll `check()` (plain or async) until it is true: a condition to reach, not a timing under test."""
    deadline = time.monotonic() + timeout
    while not (await result if inspect.isawaitable(result := check()) else result):
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:  # no cookies, ever
        yield session


def assert_limit_held(statuses: list[int], elapsed: float) -> None:
    # Burst 10 at 10/minute: 10 answers, plus one per 6 s the run took (none in a run of seconds).
    assert set(statuses) <= {200, 429}, statuses
    assert 10 <= statuses.count(200) <= 10 + int(elapsed / 6), (statuses, elapsed)


async def test_a_rate_limit_holds_across_two_replicas(tmp_path, mock_server, redis_server, proxy_processes, http):
    proxies = proxy_processes(2, write_setup(tmp_path, mock_server, redis_server))
    statuses, elapsed = await alternate(http, proxies, LIMITED, 30)
    assert_limit_held(statuses, elapsed)
    assert statuses[:10] == [200] * 10  # both replicas answered while tokens lasted: one bucket, not two
    status, body, headers = await chat(http, proxies[0], LIMITED)
    assert status == 429 and body["error"]["code"] == "rate_limit_exceeded" and int(headers["Retry-After"]) >= 1


async def test_sample_questions_listed_on_one_replica_count_on_the_other(
    tmp_path, mock_server, redis_server, proxy_processes, http
):
    first, second = proxy_processes(2, write_setup(tmp_path, mock_server, redis_server))
    async with http.post(second.url + "/send_inference", json=seed_body(), headers=auth(ADMIN)) as resp:
        assert resp.status == 409  # not listed anywhere yet
    async with http.get(first.url + "/get_sample_questions", headers=auth(ADMIN)) as resp:
        assert resp.status == 200
        questions = (await resp.json())["response"]
    async with http.post(second.url + "/send_inference", json=seed_body(), headers=auth(ADMIN)) as resp:
        assert resp.status == 200, await resp.text()
        reply = await resp.json()
    assert reply["response"]["your_question"] in questions[3]


async def test_a_token_budget_is_spent_across_both_replicas_and_usage_sums_them(
    tmp_path, mock_server, redis_server, proxy_processes, http
):
    async with http.post(mock_base_url(mock_server) + "/chat/completions", json=CHAT) as resp:
        one_answer = (await resp.json())["usage"]["total_tokens"]  # the mock is deterministic
    first, second = proxy_processes(2, write_setup(tmp_path, mock_server, redis_server, one_answer + 1))
    status, _, _ = await chat(http, first, BUDGETED)
    assert status == 200  # 0 spent before it
    status, _, _ = await chat(http, second, BUDGETED)
    assert status == 200  # one answer's worth spent: still under the budget

    async def both_counted() -> bool:
        return (await usage(http, first))["total"]["requests"] == 2

    await eventually(both_counted, "both replicas' requests in the shared usage")
    for proxy in (first, second):
        status, body, headers = await chat(http, proxy, BUDGETED)
        assert status == 429 and body["error"]["code"] == "budget_exceeded", body
        assert body["error"]["type"] == "rate_limit_error"
        reset = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 86400))
        assert (
            reset in body["error"]["message"]
            and f"{2 * one_answer} of {one_answer + 1} tokens" in body["error"]["message"]
        )
        assert 0 < int(headers["Retry-After"]) <= 86400
    for proxy in (first, second):
        report = await usage(http, proxy)
        assert report["scope"] == "all_replicas"
        assert report["data"] == [
            {
                "client": "budgeted",
                "model": MODEL,
                "requests": 2,
                "input_tokens": report["data"][0]["input_tokens"],
                "output_tokens": report["data"][0]["output_tokens"],
                "total_tokens": 2 * one_answer,
                "cost_usd": 0.0,
            }
        ]
    async with http.get(first.url + "/v1/usage", headers=auth(BUDGETED)) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "admin_required"
    async with http.get(first.url + "/metrics") as resp:
        metrics = await resp.text()
    assert 'llm_proxy_budget_rejections_total{budget="tokens",client="budgeted"} 1.0' in metrics


async def test_redis_stopped_under_load_fails_nothing_and_sharing_resumes(
    tmp_path, mock_server, redis_server, proxy_processes, http
):
    proxies = proxy_processes(2, write_setup(tmp_path, mock_server, redis_server))
    statuses: list[int] = []
    stop = asyncio.Event()

    async def worker(offset: int) -> None:
        for proxy in itertools.islice(itertools.cycle(proxies), offset, None):
            if stop.is_set():
                return
            status, body, _ = await chat(http, proxy, BUSY, timeout=10)  # a hang fails the test here
            assert status == 200, body
            statuses.append(status)

    workers = [asyncio.create_task(worker(i)) for i in range(8)]
    await eventually(lambda: len(statuses) >= 100, "load through both proxies")
    redis_server.stop()
    stopped_at = len(statuses)
    await eventually(lambda: len(statuses) >= stopped_at + 300, "load with Redis gone")
    for proxy in proxies:
        status, body = await readyz(http, proxy)
        assert status == 200 and body["status"] == "ready"
        assert body["shared_state"]["backend"] == "redis"
        assert body["shared_state"]["state"] == "in_process_fallback"
        assert body["shared_state"]["errors"] >= 1 and body["shared_state"]["last_error"]
    redis_server.start()  # back, empty: as after a restart or a flush

    async def shared_again() -> bool:
        states = [(await readyz(http, proxy))[1]["shared_state"]["state"] for proxy in proxies]
        return states == ["shared", "shared"]

    await eventually(shared_again, "both proxies back on Redis")
    stop.set()
    await asyncio.gather(*workers)
    assert statuses and set(statuses) == {200}
    for proxy in proxies:
        async with http.get(proxy.url + "/metrics") as resp:
            metrics = await resp.text()
        errors = [ln for ln in metrics.splitlines() if ln.startswith("llm_proxy_shared_state_errors_total{")]
        assert sum(float(ln.rsplit(" ", 1)[1]) for ln in errors) >= 1
        assert "llm_proxy_shared_state_up 1.0" in metrics
        # Logged once per interval, not once per request.
        assert proxy.log().count("shared state (Redis)") < 10, proxy.log()
    statuses, elapsed = await alternate(http, proxies, LIMITED, 30)
    assert_limit_held(statuses, elapsed)
    assert int(redis_server.command("DBSIZE")[1:]) > 0  # the state is in Redis again

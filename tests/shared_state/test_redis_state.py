"""Shared state against a real redis-server, with proxies in this process: the bucket script is
atomic, a reload refills no bucket, a slow or flushed Redis fails nothing, usage written behind
survives an outage."""

from __future__ import annotations

import asyncio
import time

import pytest
from fixtures.clients import openai_client

MODEL = "mock-gpt-model-0701"
# Where a test is not about timeouts, a generous one: the test machine's own load (a TLS handshake
# on a busy core, the loop that also runs the client and the mock) must not send it to the fallback.
PATIENT = 2.0
QUESTION = [{"role": "user", "content": "hi"}]


def keys_yaml(burst: int = 10, extra: str = "") -> str:
    return (
        "keys:\n"
        f"  - {{key: team-key-0001, name: team, rate_limit: {{requests_per_minute: 10, burst: {burst}}}}}\n"
        "  - {key: ops-key-0002, name: ops, admin: true}\n"
        "  - {key: busy-key-0003, name: busy, rate_limit: {requests_per_minute: 600000, burst: 10000}}\n" + extra
    )


async def status_of(proxy, http, key: str = "team-key-0001") -> int:
    body = {"model": MODEL, "messages": QUESTION}
    async with http.post(
        proxy.make_url("/v1/chat/completions"), json=body, headers={"Authorization": f"Bearer {key}"}
    ) as resp:
        await resp.read()
        return resp.status


async def shared_state(proxy, http) -> dict:
    async with http.get(proxy.make_url("/readyz")) as resp:
        assert resp.status == 200
        return (await resp.json())["shared_state"]


async def eventually(check, what: str, timeout: float = 15) -> None:
    """Poll an async condition until it holds (a state to reach, not a timing under test)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def keys_file(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text(keys_yaml())
    return path


async def test_the_bucket_script_admits_exactly_the_burst_under_concurrency(make_proxy, redis_server, keys_file, http):
    # Client, mock and both proxies share this test's event loop: under 40 concurrent requests its
    # delays, not Redis, would exceed the default timeout and send requests to the fallback.
    proxies = [
        await make_proxy(api_keys_file=keys_file, redis_url=redis_server.url, redis_timeout=PATIENT) for _ in range(2)
    ]
    started = time.monotonic()
    statuses = await asyncio.gather(*(status_of(proxies[i % 2], http) for i in range(40)))
    elapsed = time.monotonic() - started
    assert set(statuses) <= {200, 429}
    assert 10 <= statuses.count(200) <= 10 + int(elapsed / 6), (statuses, elapsed)


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
async def test_a_keys_file_reload_refills_no_bucket(make_proxy, redis_server, keys_file, http, shared):
    keys_file.write_text(keys_yaml(burst=3))
    redis = {"redis_url": redis_server.url, "redis_timeout": PATIENT} if shared else {}
    proxy = await make_proxy(api_keys_file=keys_file, reload_interval=0.05, **redis)
    assert [await status_of(proxy, http) for _ in range(4)] == [200, 200, 200, 429]
    # A reload: a new key, and the team's burst raised (its bucket keeps its level, empty).
    new = "  - {key: new-key-0004, name: newcomer}\n"
    keys_file.write_text(keys_yaml(burst=5, extra=new))

    async def reloaded() -> bool:
        return await status_of(proxy, http, "new-key-0004") == 200

    await eventually(reloaded, "the new keys file in force")
    assert await status_of(proxy, http) == 429


async def test_a_slow_redis_fails_nothing_and_is_used_again_once_it_answers(make_proxy, redis_server, keys_file, http):
    proxy = await make_proxy(api_keys_file=keys_file, redis_url=redis_server.url, redis_retry_interval=0.1)
    assert await status_of(proxy, http, "busy-key-0003") == 200
    redis_server.pause()  # accepts connections, answers nothing
    try:
        statuses = await asyncio.wait_for(
            asyncio.gather(*(status_of(proxy, http, "busy-key-0003") for _ in range(20))), timeout=10
        )
        assert statuses == [200] * 20

        # The key is far from its limit, so its scripts run in the background: they time out there.
        async def fallen_back() -> bool:
            return (await shared_state(proxy, http))["state"] == "in_process_fallback"

        await eventually(fallen_back, "the timeout noticed")
        # The script timed out; the probe's pings since fail to connect in time.
        assert (await shared_state(proxy, http))["last_error"] in {"TimeoutError", "ConnectionError"}
    finally:
        redis_server.resume()

    async def shared_again() -> bool:
        return (await shared_state(proxy, http))["state"] == "shared"

    await eventually(shared_again, "Redis in use again")
    assert await status_of(proxy, http, "busy-key-0003") == 200


async def test_a_flushed_redis_loads_its_script_again_and_limits_still_hold(make_proxy, redis_server, keys_file, http):
    keys_file.write_text(keys_yaml(burst=3))
    proxy = await make_proxy(api_keys_file=keys_file, redis_url=redis_server.url, redis_timeout=PATIENT)
    assert [await status_of(proxy, http) for _ in range(4)] == [200, 200, 200, 429]
    assert redis_server.command("FLUSHALL") == b"+OK\r\n"
    assert redis_server.command("SCRIPT", "FLUSH") == b"+OK\r\n"
    # Empty buckets are full ones: three more, then the limit again; no error on the way.
    assert [await status_of(proxy, http) for _ in range(4)] == [200, 200, 200, 429]
    state = await shared_state(proxy, http)
    assert state == {"backend": "redis", "state": "shared", "errors": 0}


async def test_usage_recorded_while_redis_is_down_is_written_when_it_is_back(make_proxy, redis_server, keys_file, http):
    proxy = await make_proxy(
        api_keys_file=keys_file, redis_url=redis_server.url, redis_retry_interval=0.1, redis_timeout=PATIENT
    )
    redis_server.stop()
    assert [await status_of(proxy, http, "busy-key-0003") for _ in range(3)] == [200, 200, 200]
    async with openai_client(proxy, "ops-key-0002") as client:
        report = await client.get("/usage", cast_to=dict)
    assert report["scope"] == "this_replica" and report["total"]["requests"] == 3
    redis_server.start()  # empty

    async def written() -> bool:
        async with http.get(proxy.make_url("/v1/usage"), headers={"Authorization": "Bearer ops-key-0002"}) as resp:
            body = await resp.json()
        return body["scope"] == "all_replicas" and body["total"]["requests"] == 3

    await eventually(written, "the pending usage in Redis")
    raw = redis_server.command("HGETALL", "llm-proxy:usage:" + time.strftime("%Y-%m-%d", time.gmtime()))
    assert b'["busy", "mock-gpt-model-0701", "requests"]' in raw


async def test_rediss_verifies_the_server_with_the_system_cas(
    make_proxy, tls_redis_server, keys_file, http, monkeypatch
):
    keys_file.write_text(keys_yaml(burst=3))
    # Not trusted (the system's CAs do not know the test CA): no request fails, none is shared.
    untrusted = await make_proxy(api_keys_file=keys_file, redis_url=tls_redis_server.url, redis_timeout=PATIENT)
    assert await status_of(untrusted, http) == 200
    state = await shared_state(untrusted, http)
    assert state["state"] == "in_process_fallback" and state["last_error"] == "ConnectionError"
    # Trusted through SSL_CERT_FILE, as upstream TLS is: limits are kept in the TLS Redis.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_redis_server.ca_path))
    proxy = await make_proxy(api_keys_file=keys_file, redis_url=tls_redis_server.url, redis_timeout=PATIENT)
    assert [await status_of(proxy, http) for _ in range(4)] == [200, 200, 200, 429]
    assert await shared_state(proxy, http) == {"backend": "redis", "state": "shared", "errors": 0}
    assert b"team" in tls_redis_server.command("KEYS", "llm-proxy:limit:*")


async def test_the_auto_pipeline_gives_each_caller_its_own_reply_and_survives_a_dropped_connection(redis_server):
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import NoScriptError

    from llm_proxy.redis_pipeline import AutoPipeline

    redis = Redis.from_url(redis_server.url)
    pipeline = AutoPipeline(redis)
    try:
        replies = await asyncio.gather(*(pipeline.execute("INCRBY", f"k{i % 3}", i) for i in range(30)))
        # Sent in batches in the order asked, answered in order: each caller gets its own command's reply.
        totals = {0: 0, 1: 0, 2: 0}
        for i, reply in enumerate(replies):
            totals[i % 3] += i
            assert reply == totals[i % 3]
        assert [int(redis_server.command("GET", f"k{k}").split(b"\r\n")[1]) for k in range(3)] == [135, 145, 155]
        # An error reply fails its own caller only.
        outcomes = await asyncio.gather(
            pipeline.execute("PING"),
            pipeline.execute("EVALSHA", "0" * 40, 0),
            pipeline.execute("PING"),
            return_exceptions=True,
        )
        assert outcomes[0] == outcomes[2] == b"PONG" and isinstance(outcomes[1], NoScriptError)
        redis_server.stop()  # the pipeline's connection dies with it
        with pytest.raises((RedisConnectionError, OSError)):
            await pipeline.execute("PING")
        redis_server.start()
        assert await pipeline.execute("PING") == b"PONG"  # the next batch connects again
    finally:
        await pipeline.close()
        await redis.aclose()


async def test_every_key_the_proxy_writes_has_its_prefix_and_expires(make_proxy, redis_server, keys_file, http):
    keys_file.write_text(keys_yaml(extra="  - {key: budget-key-0005, name: budgeted, budget: {usd_per_day: 1}}\n"))
    proxy = await make_proxy(
        api_keys_file=keys_file,
        redis_url=redis_server.url,
        redis_prefix="team-x:",
        usage_retention_days=3,
        redis_timeout=PATIENT,
    )
    for key in ("team-key-0001", "budget-key-0005", "busy-key-0003"):
        assert await status_of(proxy, http, key) == 200
    async with http.get(proxy.make_url("/get_sample_questions"), headers={"Authorization": "Bearer ops-key-0002"}):
        pass
    async with http.get(proxy.make_url("/v1/usage"), headers={"Authorization": "Bearer ops-key-0002"}) as resp:
        assert (await resp.json())["total"]["requests"] == 3  # written (a report writes at once)
    names = [n for n in redis_server.command("KEYS", "*").split(b"\r\n") if n and n[:1] not in b"*$"]
    kinds = {name.split(b":")[1] for name in names}
    assert kinds == {b"limit", b"spend", b"usage", b"seen"} and all(n.startswith(b"team-x:") for n in names)
    for name in names:
        ttl = int(redis_server.command("TTL", name.decode())[1:])
        assert 0 < ttl <= 3 * 86400, (name, ttl)
    usage_key = next(n for n in names if b":usage:" in n).decode()
    assert int(redis_server.command("TTL", usage_key)[1:]) > 2 * 86400  # usage_retention_days


async def test_a_client_far_from_its_limit_waits_for_no_round_trip_and_its_limit_still_holds(
    make_proxy, redis_server, keys_file, http
):
    keys_file.write_text(
        keys_yaml(extra="  - {key: far-key-0006, name: far, rate_limit: {requests_per_minute: 1, burst: 120}}\n")
    )
    proxies = [
        await make_proxy(api_keys_file=keys_file, redis_url=redis_server.url, redis_timeout=PATIENT) for _ in range(2)
    ]
    statuses = [await status_of(proxies[i % 2], http, "far-key-0006") for i in range(60)]
    assert statuses == [200] * 60
    # Admitted without waiting, yet every token is taken from the shared bucket (paid within
    # moments, several at once), by both replicas: 60 of 120 left, give or take the refill.

    async def paid() -> bool:
        level = float(redis_server.command("HGET", "llm-proxy:limit:far", "level").split(b"\r\n")[1])
        assert level >= 59.9, level  # never more taken than admitted
        return level <= 60.1

    await eventually(paid, "the tokens owed paid into Redis")
    # Near empty, every request waits for the script again: exactly the burst gets through.
    statuses += [await status_of(proxies[i % 2], http, "far-key-0006") for i in range(90)]
    assert statuses.count(200) == 120 and statuses[:120] == [200] * 120

"""The limiter and budget logic without servers: token buckets, the auth-failure throttle, budget
verdicts and their 429, the price table, per-key options, the usage ledger's view of a client's
spend, and the stream scanner stripping the usage the proxy asked for."""

from __future__ import annotations

import calendar
import json

import pytest
import yaml

from llm_proxy.apis import CHAT, SEED, with_stream_usage
from llm_proxy.client_keys import load_client_keys
from llm_proxy.key_options import parse_budget, parse_rate_limit
from llm_proxy.limits import budget_error
from llm_proxy.metrics import ProxyMetrics
from llm_proxy.prices import FREE, Price, PriceTable, parse_price
from llm_proxy.quotas import AuthFailures, Budget, LocalBuckets, RateLimit, next_utc_midnight, utc_day
from llm_proxy.routes_source import PACKAGED_ROUTES
from llm_proxy.routing import Route, parse_routes
from llm_proxy.shared_state import SharedState, redis_url
from llm_proxy.streaming import SseScanner
from llm_proxy.usage import UsageLedger

pytestmark = pytest.mark.unit

NOON = calendar.timegm((2026, 12, 1, 12, 0, 0))


def test_a_bucket_gives_its_burst_then_refills_at_its_rate():
    buckets, limit = LocalBuckets(), RateLimit.of(60, 3)  # one a second
    assert [buckets.take("a", limit, 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", limit, 100.0) == pytest.approx(1.0)
    assert buckets.take("a", limit, 100.5) == pytest.approx(0.5)  # refused: half a token so far
    assert buckets.take("a", limit, 101.0) == 0.0
    assert buckets.take("b", limit, 101.0) == 0.0  # every name has its own


def test_a_bucket_outlives_a_changed_limit_and_a_lowered_burst_applies_at_once():
    buckets = LocalBuckets()
    for _ in range(10):
        buckets.take("team", RateLimit.of(60, 10), 0.0)
    # The keys file reloads with the same name (a new key object): the bucket is still empty.
    assert buckets.take("team", RateLimit.of(60, 20), 0.0) > 0
    buckets.take("other", RateLimit.of(60, 10), 0.0)
    # 9 left, but the burst is 1 now: one more, not nine.
    assert buckets.take("other", RateLimit.of(60, 1), 0.0) == 0.0
    assert buckets.take("other", RateLimit.of(60, 1), 0.0) > 0


def test_buckets_are_bounded_least_recently_used_first():
    buckets, limit = LocalBuckets(size=2), RateLimit.of(60, 1)
    buckets.take("a", limit, 0.0)
    buckets.take("b", limit, 0.0)
    buckets.take("c", limit, 0.0)  # evicts "a"
    assert buckets.take("a", limit, 0.0) == 0.0 and buckets.take("c", limit, 0.0) > 0


def test_the_default_burst_is_ten_seconds_worth():
    assert RateLimit.of(60).burst == 10 and RateLimit.of(3).burst == 1 and RateLimit.of(60, 4).burst == 4


def test_auth_failures_block_an_address_after_its_allowance_and_peeking_costs_nothing():
    failures = AuthFailures(per_minute=3)
    assert failures.blocked("10.0.0.1", 0.0) == 0.0  # never seen: nothing kept for it
    for _ in range(3):
        failures.failed("10.0.0.1", 0.0)
    assert failures.blocked("10.0.0.1", 0.0) == pytest.approx(20.0)  # 3/minute: one every 20 s
    assert failures.blocked("10.0.0.1", 0.0) == pytest.approx(20.0)  # asking again takes nothing
    assert failures.blocked("10.0.0.2", 0.0) == 0.0
    assert failures.blocked("10.0.0.1", 20.0) == 0.0
    assert AuthFailures(per_minute=0).blocked("x", 0.0) == 0.0  # 0 turns it off


def test_budget_verdicts():
    both = Budget(usd_per_day=5.0, tokens_per_day=1000)
    assert both.exceeded(999, 4_999_999_999) is None
    assert both.exceeded(1000, 0) == "tokens"
    assert both.exceeded(0, 5_000_000_000) == "usd"
    assert Budget(usd_per_day=1.0).exceeded(10**9, 0) is None


def test_a_spent_budget_says_what_and_until_when_with_retry_after():
    error = budget_error("team-a", Budget(tokens_per_day=100), "tokens", 120, 0, NOON)
    assert error.status == 429 and error.code == "budget_exceeded" and error.type == "rate_limit_error"
    assert "'team-a'" in error.message and "120 of 100 tokens" in error.message
    assert "2026-12-02T00:00:00Z" in error.message
    assert error.headers["Retry-After"] == str(12 * 3600)
    usd = budget_error("team-b", Budget(usd_per_day=2.5), "usd", 0, 2_600_000_000, NOON)
    assert "$2.6000 of $2.5" in usd.message


def test_utc_days():
    assert utc_day(NOON) == "2026-12-01"
    assert next_utc_midnight(NOON) == calendar.timegm((2026, 12, 2, 0, 0, 0))
    assert next_utc_midnight(calendar.timegm((2026, 12, 2, 0, 0, 0))) == calendar.timegm((2026, 12, 3, 0, 0, 0))


def test_every_model_of_the_packaged_routes_has_a_price_and_ft_models_their_own():
    prices = PriceTable.packaged()
    for route in parse_routes(PACKAGED_ROUTES.read_text(), {}).routes.values():
        assert prices.price(route.upstream_model, route.price, route.group) is not None, route.name
    assert prices.price("gpt-4") == Price(30.0, 60.0)
    assert prices.price("gpt-4-0613") == Price(30.0, 60.0)  # a dated version: priced as its model
    assert prices.price("gpt-3.5-turbo-16k-0613") == Price(3.0, 4.0)  # the longest name wins
    assert prices.price("ft:gpt-3.5-turbo-0125:personal::9HFIKpx5") == Price(3.0, 6.0)
    assert prices.price("ft:gpt-4o-mini-2024-07-18:org::x") == Price(0.3, 1.2)
    assert prices.price("mock-gpt-model-0701", group="mock") == FREE
    assert prices.price("gpt-4", Price(1.0, 2.0)) == Price(1.0, 2.0)  # the route's own price wins
    assert prices.price("llama-3-70b") is None
    assert prices.cost("x", "llama-3-70b", None, "openai", (10, 10)) == 0


def test_costs_are_whole_nano_dollars():
    assert Price(30.0, 60.0).nano_usd(1000, 500) == 30_000 * 1000 + 30_000 * 1000  # $0.03 + $0.03
    assert Price(0.5, 1.5).nano_usd(1, 1) == 2000


def test_a_route_price_is_validated_with_its_path():
    assert parse_price({"input_per_mtok": 1, "output_per_mtok": 2.5}, "m") == Price(1.0, 2.5)
    for bad in (
        {"input_per_mtok": 1},
        {"input_per_mtok": -1, "output_per_mtok": 1},
        {"input_per_mtok": True, "output_per_mtok": 1},
    ):
        with pytest.raises(ValueError, match=r"^models\[0\]\.price"):
            parse_price(bad, "models[0].price")


def keys_file(tmp_path, doc) -> list:
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_client_keys("", path).keys


def test_key_options_are_validated_with_their_path_never_the_key(tmp_path):
    assert parse_rate_limit({"requests_per_minute": 60}, "k") == RateLimit(60.0, 10.0)
    assert parse_budget({"tokens_per_day": 5}, "k") == Budget(None, 5)
    cases = [
        ({"keys": [{"key": "sekrit-1", "budget": {"usd_per_day": -1}}]}, r"keys\[0\]\.budget\.usd_per_day"),
        ({"keys": [{"key": "sekrit-1", "budget": {"tokens_per_day": 1.5}}]}, r"keys\[0\]\.budget\.tokens_per_day"),
        ({"keys": [{"key": "sekrit-1", "budget": {"dollars": 1}}]}, r"keys\[0\]\.budget"),
        ({"keys": [{"key": "sekrit-1", "admin": "yes"}]}, r"keys\[0\]\.admin"),
        ({"keys": [{"key": "sekrit-1", "rate_limit": {"requests_per_minute": 0}}]}, r"keys\[0\]\.rate_limit"),
        ({"keys": [{"key": "sekrit-1", "rate_limit": {"requests_per_minute": 5, "burst": 0.5}}]}, r"burst"),
    ]
    for doc, where in cases:
        with pytest.raises(ValueError, match=where) as err:
            keys_file(tmp_path, doc)
        assert "sekrit-1" not in str(err.value)


def test_keys_carry_their_options_and_env_keys_share_the_env_limit(tmp_path):
    keys = keys_file(
        tmp_path,
        {"keys": [{"key": "a-key-1", "name": "a", "admin": True, "budget": {"usd_per_day": 5.0}}, {"key": "b-key-2"}]},
    )
    assert keys[0].admin and keys[0].budget == Budget(5.0, None) and keys[0].rate_limit is None
    assert not keys[1].admin and keys[1].budget is None
    env = load_client_keys("e-one-1,e-two-2", None, RateLimit.of(30, 5)).keys
    assert [(k.name, k.rate_limit) for k in env] == [("env-1", RateLimit(30.0, 5.0)), ("env-2", RateLimit(30.0, 5.0))]
    assert all(k.rate_limit is None for k in load_client_keys("e-one-1", None).keys)


def test_the_redis_url_setting_accepts_redis_and_rediss_only_and_never_quotes_it(tmp_path):
    assert redis_url("", None) == ""
    assert redis_url(" redis://:pw@cache:6379/2 ", None) == "redis://:pw@cache:6379/2"
    secret = tmp_path / "url"
    secret.write_text("rediss://user:s3cret@master.x.cache.amazonaws.com:6379\n")
    assert redis_url("redis://ignored:1", secret).startswith("rediss://user:s3cret@")
    for bad in ("http://cache:6379", "redis://", "cache:6379", "redis://:s3cret@cache:port"):
        with pytest.raises(ValueError, match="LLM_PROXY_REDIS_URL") as err:
            redis_url(bad, None)
        assert "s3cret" not in str(err.value)
    with pytest.raises(ValueError, match="LLM_PROXY_REDIS_URL_FILE"):
        redis_url("", tmp_path / "missing")


def test_streams_ask_for_usage_unless_the_client_did():
    asked = with_stream_usage(CHAT, {"model": "m", "stream": True, "stream_options": {"include_obfuscation": False}})
    assert asked is not None and asked["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert with_stream_usage(CHAT, {"model": "m", "stream_options": {"include_usage": True}}) is None
    assert with_stream_usage(SEED, {"model": "m"}) is None  # an API whose streams need no asking


def _event(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def test_the_scanner_strips_the_usage_it_asked_for_and_keeps_the_count():
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None}
    last = {"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    stream = _event(chunk) + _event(last) + b"data: [DONE]\n\n"
    scanner = SseScanner(strip_usage=True)
    out = scanner.feed(stream)
    assert out == _event({"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}]}) + b"data: [DONE]\n\n"
    assert scanner.usage == last["usage"] and scanner.done
    # `usage` first in the object, compact JSON:
    assert SseScanner(strip_usage=True).feed(b'data: {"usage":null,"id":"c","choices":[]}\n\n') == (
        b'data: {"id":"c","choices":[]}\n\n'
    )
    untouched = SseScanner()
    assert untouched.feed(stream) == stream and untouched.usage == last["usage"]


async def test_the_ledger_knows_a_clients_spend_with_and_without_redis():
    metrics = ProxyMetrics()
    route = Route("gpt-4", "openai", "openai", "gpt-4")
    local = UsageLedger(
        SharedState("", prefix="t:", timeout=0.1, retry_interval=1, log_interval=60, metrics=metrics),
        PriceTable.packaged(),
        metrics,
    )
    local.record("team", route, (1000, 500))
    assert local.spent("team", None) == (1500, 60_000_000)  # $0.03 in + $0.03 out
    assert local.spent("other", None) == (0, 0)
    assert not local.pending  # nothing to write without Redis

    shared = SharedState(
        "redis://127.0.0.1:1/0", prefix="t:", timeout=0.1, retry_interval=1, log_interval=60, metrics=metrics
    )
    shared.up = False  # as after an error: nothing is sent, records wait
    ledger = UsageLedger(shared, PriceTable.packaged(), metrics)
    ledger.record("team", route, (100, 0))
    assert ledger.pending and ledger.spent("team", (5000, 7)) == (5100, 7 + 3_000_000)  # shared + not yet written
    ledger.pending.clear()
    ledger.pending_spend.clear()
    ledger.record("team", route, (200, 0))
    # Redis gone: the last shared figure seen, plus what this replica spent since.
    assert ledger.spent("team", None) == (5000 + 200, 7 + 6_000_000)
    assert ledger.spent("never-seen", None) == (0, 0)
    await shared.close()

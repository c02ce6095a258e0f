"""Per-client rate limits and daily budgets: in Redis for all replicas, else in this process.

A client's rate limit is a token bucket (`requests_per_minute`, `burst`). With Redis, one Lua
script per request takes a token from the client's shared bucket and reads what the client spent
today, atomically and in one round trip; Redis's own clock times it, so replicas' clocks do not
matter. Without Redis, or while it does not answer, the bucket is this process's own. Buckets are
kept by client name, outside the keys: a keys-file reload (or a key rotated under the same name)
does not refill them, and a changed limit applies to the bucket as it stands.

A budget (`usd_per_day`, `tokens_per_day`) is checked before a request goes upstream, against the
day's spend (UTC): the shared total plus what this replica has not written yet, or without Redis
this replica's estimate (usage.py). A request that passes is never cut later, even a long stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.exceptions import NoScriptError

from .errors import RateLimited
from .quotas import Budget, LocalBuckets, next_utc_midnight

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .client_keys import ClientKey
    from .metrics import ProxyMetrics
    from .shared_state import SharedState
    from .usage import UsageLedger

# KEYS[1] the client's bucket (hash: level, at), KEYS[2] its spend today (hash: tokens, nano_usd).
# ARGV[1] tokens per millisecond (0: no rate limit), ARGV[2] burst, ARGV[3] the bucket's TTL in ms
# (the time it takes to fill up: a bucket gone after that is the same as a full one).
# Returns {milliseconds to wait (0: admitted), tokens spent today, nano-USD spent today, tokens left
# in the bucket x 1000 (-1000: no rate limit)}.
TOKEN_BUCKET_LUA = """
local wait = 0
local level = -1
local rate = tonumber(ARGV[1])
if rate > 0 then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local burst = tonumber(ARGV[2])
  local state = redis.call('HMGET', KEYS[1], 'level', 'at')
  level = tonumber(state[1])
  local at = tonumber(state[2])
  if level == nil or at == nil then
    level = burst
    at = now
  end
  if now > at then
    level = level + (now - at) * rate
    at = now
  end
  level = math.min(burst, level)
  if level >= 1 then
    level = level - 1
  else
    wait = math.ceil((1 - level) / rate)
  end
  redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', at)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local spent = redis.call('HMGET', KEYS[2], 'tokens', 'nano_usd')
return {wait, tonumber(spent[1]) or 0, tonumber(spent[2]) or 0, math.floor(level * 1000)}
"""


class BudgetExceeded(RateLimited):
    default_code = "budget_exceeded"


def budget_error(client: str, budget: Budget, which: str, tokens: int, nano_usd: int, now: float) -> BudgetExceeded:
    """429 `budget_exceeded`: what was spent of which budget, when it resets, and Retry-After."""
    reset = next_utc_midnight(now)
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset))
    if which == "tokens":
        spent = f"{tokens} of {budget.tokens_per_day} tokens"
    else:
        spent = f"${nano_usd / 1e9:.4f} of ${budget.usd_per_day:g}"
    return BudgetExceeded(
        f"The daily budget of '{client}' is spent ({spent} today); it resets at {at} (midnight UTC)",
        headers={"Retry-After": str(max(1, math.ceil(reset - now)))},
    )


SCRIPT_SHA = hashlib.sha1(TOKEN_BUCKET_LUA.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Admission:
    wait: float  # seconds until the rate limit admits a request; 0: admitted
    shared_spend: tuple[int, int] | None = None  # (tokens, nano-USD) today from Redis, all replicas


ADMITTED = Admission(0.0)


# A client with a rate limit and no budget that had at least HEADROOM tokens left when last seen,
# less than FRESH seconds ago, is admitted without waiting for Redis: its script still runs (the
# token is still taken from the shared bucket, and the reply refreshes the view) but off the
# request path. Only more than HEADROOM requests through other replicas within FRESH could then
# get one past the limit; near empty, every request waits for the script, which is exact. A
# client with a budget always waits: its spend is read as it stands.
HEADROOM = 50
FRESH = 0.5


@dataclass(slots=True)
class _View:
    at: float  # time.monotonic() of the reply
    level: float  # tokens left then, less the requests admitted since on this replica
    in_flight: int = 0  # scripts sent in the background whose replies have not come


class Limiter:
    def __init__(self, shared: SharedState, ledger: UsageLedger, metrics: ProxyMetrics) -> None:
        self.shared = shared
        self.ledger = ledger
        self.metrics = metrics
        self.local = LocalBuckets()
        self._views: dict[str, _View] = {}  # by client name: bounded by the keys configured
        self._background: set[asyncio.Task[Admission | None]] = set()

    async def admit(self, client: ClientKey) -> Admission:
        """Take a token from the client's bucket and learn its spend today: one Redis call at most,
        none for a client with neither a rate limit nor a budget, none waited for by a client far
        from its rate limit (HEADROOM)."""
        limit, budget = client.rate_limit, client.budget
        if limit is None and budget is None:
            return ADMITTED
        if self.shared.pipeline is not None and self.shared.available:
            view = self._views.get(client.name)
            fresh = view is not None and time.monotonic() - view.at < FRESH
            if view is not None and fresh and budget is None and view.level >= HEADROOM + 1:
                view.level -= 1
                view.in_flight += 1
                task = asyncio.get_running_loop().create_task(self._take_shared(client, background=True))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
                return ADMITTED
            admission = await self._take_shared(client)
            if admission is not None:
                return admission
        wait = self.local.take(client.name, limit, time.monotonic()) if limit is not None else 0.0
        return Admission(wait)

    async def _take_shared(self, client: ClientKey, background: bool = False) -> Admission | None:
        """Run the script for `client`; None when Redis did not answer."""
        pipeline, limit = self.shared.pipeline, client.rate_limit
        assert pipeline is not None
        keys = [self.shared.key("limit", client.name), self.shared.key("spend", self.ledger.today(), client.name)]
        args: list[float | int] = [0, 0, 0]
        if limit is not None:
            ttl_ms = math.ceil(limit.burst / limit.per_second * 1000) + 60_000
            args = [limit.per_second / 1000, limit.burst, ttl_ms]

        async def run(redis: Redis) -> list[int]:
            try:
                reply: list[int] = await pipeline.execute("EVALSHA", SCRIPT_SHA, 2, *keys, *args)
            except NoScriptError:  # a restarted or flushed Redis: load it again, once
                await pipeline.execute("SCRIPT", "LOAD", TOKEN_BUCKET_LUA)
                reply = await pipeline.execute("EVALSHA", SCRIPT_SHA, 2, *keys, *args)
            return reply

        reply = await self.shared.call("limit", run)
        view = self._views.get(client.name)
        if background and view is not None:
            view.in_flight -= 1
        if reply is None:
            return None
        wait_ms, tokens, nano_usd, level_milli = (int(x) for x in reply)
        in_flight = view.in_flight if view is not None else 0
        self._views[client.name] = _View(time.monotonic(), level_milli / 1000 - in_flight, in_flight)
        return Admission(wait_ms / 1000, (tokens, nano_usd) if client.budget is not None else None)

    def rate_limited(self, client: ClientKey, wait: float) -> RateLimited:
        self.metrics.of(self.metrics.rate_limited, client.name).inc()
        seconds = max(1, math.ceil(wait))
        return RateLimited(
            f"Rate limit for '{client.name}' reached; retry in {seconds} s", headers={"Retry-After": str(seconds)}
        )

    def check_budget(self, client: ClientKey | None, shared_spend: tuple[int, int] | None) -> None:
        """Raise 429 `budget_exceeded` when the client's daily budget is spent."""
        if client is None or client.budget is None:
            return
        now = time.time()
        tokens, nano_usd = self.ledger.spent(client.name, shared_spend)
        which = client.budget.exceeded(tokens, nano_usd)
        if which is not None:
            self.metrics.of(self.metrics.budget_rejections, client.name, which).inc()
            raise budget_error(client.name, client.budget, which, tokens, nano_usd, now)

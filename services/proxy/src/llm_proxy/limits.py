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
# (the time it takes to fill up: a bucket gone after that is the same as a full one), ARGV[4] tokens
# owed for requests already admitted (taken as they are, the level may go below 0), or 0: take one
# if there is one.
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
  local owed = tonumber(ARGV[4])
  if owed > 0 then
    level = level - owed
  elseif level >= 1 then
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
    code = "budget_exceeded"


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
# less than FRESH seconds ago, is admitted without waiting for Redis: the tokens it takes are owed
# and paid into the shared bucket within PAY_DELAY, one script for all of them, whose reply
# refreshes the view. Only more than HEADROOM requests through other replicas within FRESH could
# then let one past the limit, and what was taken is taken all the same (the level may go below 0
# and the client waits longer). Near empty, and for a client with a budget (its spend is read as
# it stands), every request waits for the script, which is exact.
HEADROOM = 50
FRESH = 0.5
PAY_DELAY = 0.02


@dataclass(slots=True)
class _View:
    """What this replica knows of a client's shared bucket."""

    at: float = 0.0  # time.monotonic() of the last reply
    level: float = 0.0  # tokens left then, less what was admitted here since
    owed: int = 0  # tokens admitted here and not sent yet
    paying: int = 0  # tokens sent in a payment whose reply has not come


class Limiter:
    def __init__(self, shared: SharedState, ledger: UsageLedger, metrics: ProxyMetrics) -> None:
        self.shared = shared
        self.ledger = ledger
        self.metrics = metrics
        self.local = LocalBuckets()
        self._views: dict[str, _View] = {}  # by client name: bounded by the keys configured
        self._payments: set[asyncio.Task[None]] = set()
        self._timers: dict[str, tuple[asyncio.TimerHandle, ClientKey]] = {}  # payments due, by client name

    async def admit(self, client: ClientKey) -> Admission:
        """Take a token from the client's bucket and learn its spend today: one Redis call at most,
        none for a client with neither a rate limit nor a budget, none waited for by a client far
        from its rate limit (HEADROOM)."""
        limit, budget = client.rate_limit, client.budget
        if limit is None and budget is None:
            return ADMITTED
        if self.shared.pipeline is not None and self.shared.available:
            view = self._views.get(client.name)
            if (
                view is not None
                and budget is None
                and view.level >= HEADROOM + 1
                and time.monotonic() - view.at < FRESH
            ):
                view.level -= 1
                view.owed += 1
                if view.owed == 1:  # the first debt since the last payment: pay shortly
                    timer = asyncio.get_running_loop().call_later(PAY_DELAY, self._pay, client)
                    self._timers[client.name] = (timer, client)
                return ADMITTED
            reply = await self._script(client, 0)
            if reply is not None:
                wait_ms, tokens, nano_usd = self._observe(client, reply)
                return Admission(wait_ms / 1000, (tokens, nano_usd) if budget is not None else None)
        wait = self.local.take(client.name, limit, time.monotonic()) if limit is not None else 0.0
        return Admission(wait)

    def _pay(self, client: ClientKey) -> None:
        self._timers.pop(client.name, None)
        task = asyncio.get_running_loop().create_task(self._send_owed(client))
        self._payments.add(task)
        task.add_done_callback(self._payments.discard)

    async def _send_owed(self, client: ClientKey) -> None:
        view = self._views[client.name]
        owed, view.owed = view.owed, 0
        if owed <= 0:
            return
        view.paying += owed
        reply = await self._script(client, owed)
        view.paying -= owed
        if reply is not None:
            self._observe(client, reply)

    def _observe(self, client: ClientKey, reply: list[int]) -> tuple[int, int, int]:
        """Refresh the view from a script's reply; (wait ms, tokens spent, nano-USD spent)."""
        wait_ms, tokens, nano_usd, level_milli = (int(x) for x in reply)
        view = self._views.setdefault(client.name, _View())
        view.at = time.monotonic()
        view.level = level_milli / 1000 - view.owed - view.paying
        return wait_ms, tokens, nano_usd

    async def _script(self, client: ClientKey, owed: int) -> list[int] | None:
        """The script's reply for `client` (taking one token, or paying `owed`); None when Redis did not answer."""
        pipeline, limit = self.shared.pipeline, client.rate_limit
        assert pipeline is not None
        keys = [self.shared.key("limit", client.name), self.shared.key("spend", self.ledger.today(), client.name)]
        args: list[float | int] = [0, 0, 0, 0]
        if limit is not None:
            ttl_ms = math.ceil(limit.burst / limit.per_second * 1000) + 60_000
            args = [limit.per_second / 1000, limit.burst, ttl_ms, owed]

        async def run(redis: Redis) -> list[int]:
            try:
                reply: list[int] = await pipeline.execute("EVALSHA", SCRIPT_SHA, 2, *keys, *args)
            except NoScriptError:  # a restarted or flushed Redis: load it again, once
                await pipeline.execute("SCRIPT", "LOAD", TOKEN_BUCKET_LUA)
                reply = await pipeline.execute("EVALSHA", SCRIPT_SHA, 2, *keys, *args)
            return reply

        return await self.shared.call("limit", run)

    async def close(self) -> None:
        """At shutdown: pay what is owed now (if Redis takes it) and wait for the payments."""
        due, self._timers = self._timers, {}
        for timer, client in due.values():
            timer.cancel()
            self._pay(client)
        if self._payments:
            await asyncio.gather(*self._payments, return_exceptions=True)

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

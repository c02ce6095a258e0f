"""Usage accounting: requests, tokens and cost per client and model, per UTC day.

Every answered request is recorded here (tokens from the upstream's `usage`, cost from the price
table). This replica always keeps today's counts in process: that is all there is without Redis.
With Redis the counts are also written behind, off the request path: records accumulate in
`pending`, and every WRITE_DELAY (0.1 s) one write (a MULTI pipeline of HINCRBYs) sends everything
pending, so requests share writes at any rate (a report writes at once).
A failed write keeps its counts pending (bounded: one entry per day, client and model) until Redis
answers again. Redis keys, under the configured prefix:

    usage:<day>            hash  ["client", "model", "field"] (JSON) -> count    kept usage_retention_days
    spend:<day>:<client>   hash  tokens, nano_usd  (what budgets read)           kept 2 days

Budgets read the shared spend (limits.py gets it in the same round trip as the rate limit) plus
this replica's pending counts. While Redis does not answer, a budget is checked against the last
shared spend seen plus what this replica has spent since.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from .metrics import ProxyMetrics
from .prices import NANO_PER_USD, PriceTable
from .quotas import next_utc_midnight, utc_day
from .shared_state import SharedState

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .routing import Route

SPEND_TTL = 2 * 86400
WRITE_DELAY = 0.1  # seconds a record may wait to be written with the others


@dataclass(slots=True)
class Counts:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    nano_usd: int = 0

    def add(self, other: Counts) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.nano_usd += other.nano_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "cost_usd": round(self.nano_usd / NANO_PER_USD, 9),
        }


FIELDS = tuple(f.name for f in fields(Counts))
Key = tuple[str, str, str]  # (day, client, model)


class UsageLedger:
    def __init__(self, shared: SharedState, prices: PriceTable, metrics: ProxyMetrics, retention_days: int = 8) -> None:
        self.shared = shared
        self.prices = prices
        self.metrics = metrics
        self.retention = retention_days * 86400
        self.day = utc_day(time.time())
        self._day_ends = next_utc_midnight(time.time())  # checked per request: cheaper than formatting a date
        self.local: dict[tuple[str, str], Counts] = {}  # this replica, today: (client, model)
        self.local_spend: dict[str, Counts] = {}  # this replica, today, by client
        self.pending: dict[Key, Counts] = {}  # not yet written to Redis
        self.pending_spend: dict[tuple[str, str], Counts] = {}  # the same by (day, client)
        # client -> (shared tokens, shared nano-USD, this replica's tokens and nano-USD then)
        self.shared_seen: dict[str, tuple[int, int, int, int]] = {}
        self._writer: asyncio.Task[None] | None = None
        shared.on_up(self._write_soon)

    def today(self) -> str:
        now = time.time()
        if now >= self._day_ends:  # a new UTC day: today's counts start at zero (pending ones keep their day)
            self.day = utc_day(now)
            self._day_ends = next_utc_midnight(now)
            self.local.clear()
            self.local_spend.clear()
            self.shared_seen.clear()
        return self.day

    def record(self, client: str, route: Route, tokens: tuple[int, int] | None) -> None:
        """One answered request of `client` by `route`, with its (input, output) tokens if known."""
        day = self.today()
        input_tokens, output_tokens = tokens or (0, 0)
        nano_usd = 0
        if tokens is not None:
            nano_usd = self.prices.cost(route.name, route.upstream_model, route.price, route.group, tokens)
            m = self.metrics
            m.of(m.client_tokens, client, route.name, "input").inc(input_tokens)
            m.of(m.client_tokens, client, route.name, "output").inc(output_tokens)
            m.of(m.client_cost, client, route.name).inc(nano_usd / NANO_PER_USD)
        counts = Counts(1, input_tokens, output_tokens, nano_usd)
        self.local.setdefault((client, route.name), Counts()).add(counts)
        self.local_spend.setdefault(client, Counts()).add(counts)
        if self.shared.enabled:
            self.pending.setdefault((day, client, route.name), Counts()).add(counts)
            self.pending_spend.setdefault((day, client), Counts()).add(counts)
            self._write_soon()

    def spent(self, client: str, shared: tuple[int, int] | None) -> tuple[int, int]:
        """(tokens, nano-USD) `client` spent today, as well as this replica can tell."""
        day = self.today()
        mine = self.local_spend.get(client) or Counts()
        my_tokens, my_nano = mine.input_tokens + mine.output_tokens, mine.nano_usd
        if shared is not None:
            self.shared_seen[client] = (shared[0], shared[1], my_tokens, my_nano)
            pending = self.pending_spend.get((day, client)) or Counts()
            return shared[0] + pending.input_tokens + pending.output_tokens, shared[1] + pending.nano_usd
        seen = self.shared_seen.get(client)
        if seen is not None:  # Redis is not answering: the last shared total plus ours since
            return seen[0] + my_tokens - seen[2], seen[1] + my_nano - seen[3]
        return my_tokens, my_nano

    def _write_soon(self) -> None:
        if self.pending and self.shared.available and (self._writer is None or self._writer.done()):
            self._writer = asyncio.get_running_loop().create_task(self._write_behind())

    async def _write_behind(self) -> None:
        # One write per WRITE_DELAY at most, whatever the request rate: a write costs a round trip
        # and a few hundred µs of CPU, a record nothing.
        while self.pending and self.shared.available:
            await asyncio.sleep(WRITE_DELAY)
            if self.pending and not await self._write_pending():
                return

    async def _write_pending(self) -> bool:
        """Write what is pending now; on failure keep it for when Redis answers again."""
        batch, self.pending = self.pending, {}
        spend, self.pending_spend = self.pending_spend, {}

        async def write(redis: Redis) -> bool:
            return await self._write(redis, batch)

        if await self.shared.call("usage", write) is not None:
            return True
        for key, counts in batch.items():
            self.pending.setdefault(key, Counts()).add(counts)
        for spend_key, counts in spend.items():
            self.pending_spend.setdefault(spend_key, Counts()).add(counts)
        return False

    async def _write(self, redis: Redis, batch: dict[Key, Counts]) -> bool:
        async with redis.pipeline(transaction=True) as pipe:
            days = set()
            for (day, client, model), counts in batch.items():
                days.add(day)
                usage_key = self.shared.key("usage", day)
                for name in FIELDS:
                    value = getattr(counts, name)
                    if value:
                        pipe.hincrby(usage_key, json.dumps([client, model, name]), value)
                spend_key = self.shared.key("spend", day, client)
                pipe.hincrby(spend_key, "tokens", counts.input_tokens + counts.output_tokens)
                pipe.hincrby(spend_key, "nano_usd", counts.nano_usd)
                pipe.expire(spend_key, SPEND_TTL)
            for day in days:
                pipe.expire(self.shared.key("usage", day), self.retention)
            await pipe.execute()
        return True

    async def flush(self) -> None:
        """Write what is pending now (before a report, so this replica's latest requests count)."""
        if self.pending and self.shared.available:
            await self._write_pending()

    async def close(self) -> None:
        """At shutdown: stop the writer, write what is left if Redis takes it."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.flush()

    async def report(self, day: str) -> tuple[str, dict[tuple[str, str], Counts]]:
        """("all_replicas" | "this_replica", counts by (client, model)) for `day`."""
        if self.shared.enabled:
            await self.flush()

            async def read(redis: Redis) -> dict[bytes | str, bytes | str]:
                data: dict[bytes | str, bytes | str] = await redis.hgetall(self.shared.key("usage", day))
                return data

            data = await self.shared.call("usage_report", read)
            if data is not None:
                out: dict[tuple[str, str], Counts] = {}
                for field, value in data.items():
                    client, model, name = json.loads(field)
                    if name in FIELDS:
                        counts = out.setdefault((client, model), Counts())
                        setattr(counts, name, getattr(counts, name) + int(value))
                return "all_replicas", out
        if day != self.today():
            return "this_replica", {}
        return "this_replica", {key: Counts(**{n: getattr(c, n) for n in FIELDS}) for key, c in self.local.items()}

"""Rate limits, budgets and token buckets as plain data (no I/O): what client keys carry and
what limits.py and the auth throttle count with."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_minute: float
    burst: float

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    @classmethod
    def of(cls, per_minute: float, burst: float | None = None) -> RateLimit:
        """The default burst is a sixth of the per-minute rate (ten seconds' worth), at least 1."""
        return cls(float(per_minute), float(burst) if burst else max(1.0, per_minute / 6))


@dataclass(frozen=True, slots=True)
class Budget:
    usd_per_day: float | None = None
    tokens_per_day: int | None = None

    def exceeded(self, tokens: int, nano_usd: int) -> str | None:
        """Which budget today's spend has used up ("tokens" or "usd"), or None."""
        if self.tokens_per_day is not None and tokens >= self.tokens_per_day:
            return "tokens"
        if self.usd_per_day is not None and nano_usd >= round(self.usd_per_day * 1e9):
            return "usd"
        return None


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def next_utc_midnight(now: float) -> float:
    return (math.floor(now / 86400) + 1) * 86400.0


@dataclass(slots=True)
class Bucket:
    level: float
    at: float


class LocalBuckets:
    """This process's token buckets by client name (bounded: least recently used names go first)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, name: str, limit: RateLimit, now: float) -> float:
        """0 if a request may pass now (a token is taken), else the seconds until one may."""
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = Bucket(limit.burst, now)
            while len(self._buckets) > self.size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(name)
        if now > bucket.at:
            bucket.level += (now - bucket.at) * limit.per_second
            bucket.at = now
        bucket.level = min(limit.burst, bucket.level)  # a lowered burst applies at once
        if bucket.level >= 1:
            bucket.level -= 1
            return 0.0
        return (1 - bucket.level) / limit.per_second

    def peek(self, name: str, limit: RateLimit, now: float) -> float:
        """What `take` would answer, without taking a token (or making a bucket)."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0.0
        level = min(limit.burst, bucket.level + max(0.0, now - bucket.at) * limit.per_second)
        return 0.0 if level >= 1 else (1 - level) / limit.per_second


class AuthFailures:
    """Failed authentications per source address, in bounded memory (least recently seen go first)."""

    def __init__(self, per_minute: int, size: int = 10_000) -> None:
        self.limit = RateLimit.of(per_minute, per_minute) if per_minute > 0 else None
        self._buckets = LocalBuckets(size)

    def blocked(self, address: str, now: float) -> float:
        """Seconds until `address` may try a key again; 0 if it may now."""
        return 0.0 if self.limit is None else self._buckets.peek(address, self.limit, now)

    def failed(self, address: str, now: float) -> None:
        if self.limit is not None:
            self._buckets.take(address, self.limit, now)

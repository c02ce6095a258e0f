"""Retry policy with backoff and a time budget, and a circuit breaker per backend."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .settings import ProxySettings

_JITTER = random.Random()  # backoff jitter needs no secrecy, only spread


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.2
    backoff_max: float = 2.0
    retry_after_max: float = 5.0
    budget: float = 60.0
    max_calls: int = 5  # upstream calls per request, across retries and fallbacks

    @classmethod
    def from_settings(cls, s: ProxySettings) -> RetryPolicy:
        return cls(
            s.retry_attempts,
            s.retry_backoff,
            s.retry_backoff_max,
            s.retry_after_max,
            s.request_budget,
            s.request_attempts,
        )

    def delay(self, retry: int, retry_after: str | None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based): Retry-After if given (capped),
        else exponential backoff with full jitter."""
        if retry_after:
            try:
                seconds = float(retry_after)
            except ValueError:
                seconds = math.nan  # an HTTP-date Retry-After: fall back to our own backoff
            if math.isfinite(seconds):  # `nan` would reach the event loop's timer and fail there
                return min(max(seconds, 0.0), self.retry_after_max)
        return (rng or _JITTER).uniform(0, min(self.backoff_max, self.backoff * 2 ** (retry - 1)))


CLOSED, HALF_OPEN, OPEN = 0, 1, 2


class Breaker:
    """Opens after `threshold` consecutive failures; after `cooldown` one probe is let through;
    a success closes it, a failure opens it again.

    The probe always settles: besides success and failure, a probe that ends without saying
    anything about the backend's health (the client went away, the upstream refused the proxy's
    key, a 429, an error of the proxy's own) is handed back with `release()`, so the next request
    becomes the probe. A probe that has not settled after `probe_timeout` seconds (a stuck
    request) no longer holds the breaker either.
    """

    def __init__(
        self,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        probe_timeout: float = 60.0,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.probe_timeout = probe_timeout
        self.failures = 0
        self.opened_at = 0.0
        self.state = CLOSED
        self._probe_since: float | None = None  # when the probe in flight was let through

    def allow(self) -> bool:
        if self.state == CLOSED:
            return True
        now = self.clock()
        if self.state == OPEN and now - self.opened_at >= self.cooldown:
            self.state = HALF_OPEN
            self._probe_since = None
        if self.state == HALF_OPEN and (self._probe_since is None or now - self._probe_since >= self.probe_timeout):
            self._probe_since = now
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.state = CLOSED
        self._probe_since = None

    def failure(self) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self.opened_at = self.clock()
            self._probe_since = None

    def release(self) -> None:
        """An attempt ended with no verdict on the backend: if it was the probe, the next request probes."""
        if self.state == HALF_OPEN:
            self._probe_since = None


class Breakers:
    def __init__(
        self,
        threshold: int,
        cooldown: float,
        on_change: Callable[[str, int], None] = lambda backend, state: None,
        probe_timeout: float = 60.0,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.probe_timeout = probe_timeout
        self._by_backend: dict[str, Breaker] = {}
        self._on_change = on_change

    def get(self, backend: str) -> Breaker:
        breaker = self._by_backend.get(backend)
        if breaker is None:
            breaker = self._by_backend[backend] = Breaker(
                self.threshold, self.cooldown, probe_timeout=self.probe_timeout
            )
        return breaker

    def allow(self, backend: str) -> bool:
        breaker = self.get(backend)
        before = breaker.state
        allowed = breaker.allow()
        if breaker.state != before:
            self._on_change(backend, breaker.state)
        return allowed

    def record(self, backend: str, ok: bool) -> None:
        breaker = self.get(backend)
        before = breaker.state
        if ok:
            breaker.success()
        else:
            breaker.failure()
        if breaker.state != before:
            self._on_change(backend, breaker.state)

    def release(self, backend: str) -> None:
        self.get(backend).release()

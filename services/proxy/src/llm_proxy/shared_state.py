"""State shared by every replica, in Redis (`LLM_PROXY_REDIS_URL`), or nowhere.

Every Redis call goes through `SharedState.call()`: it gives up after a short timeout, and any
failure (refused, slow, reset, a flushed script cache the client could not recover from) makes the
caller fall back to its in-process state for that request instead of failing it. After an error the
proxy stops asking Redis (requests go straight to the fallback, so a dead Redis adds no latency)
and a background probe pings it every `retry_interval`; the first answer puts shared state back in
force. Errors are counted per operation, logged at most once per `log_interval`, and shown in
`/readyz` (which stays ready: the proxy still serves).

Without a URL there is no SharedState to speak of: `enabled` is False and every caller keeps to its
in-process state, exactly as the proxy did before Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .metrics import ProxyMetrics
from .redis_pipeline import AutoPipeline

log = logging.getLogger("llm_proxy.shared_state")
T = TypeVar("T")
SCHEMES = ("redis", "rediss")


def redis_url(url: str, url_file: Path | None) -> str:
    """The Redis URL from the settings: the file's contents (a mounted Secret) win over the value.
    Raises ValueError naming the setting, never quoting the URL (it may hold a password)."""
    where = "LLM_PROXY_REDIS_URL"
    if url_file is not None:
        where += "_FILE"
        try:
            url = Path(url_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{where}: cannot read {url_file}: {exc.strerror}") from None
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{where}: not a valid URL") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"{where}: must be redis://HOST[:PORT][/DB] or rediss://... (TLS)")
    return url


def url_password(url: str) -> str | None:
    """The password in a Redis URL, so that logs can redact it."""
    return urlsplit(url).password if url else None


class SharedState:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout: float,
        retry_interval: float,
        log_interval: float,
        metrics: ProxyMetrics,
    ) -> None:
        self.prefix = prefix
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.log_interval = log_interval
        self.metrics = metrics
        self.redis: Redis | None = None
        if url:
            # No retries inside the client: a failed call falls back at once, the probe retries.
            self.redis = Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                health_check_interval=0,
                socket_keepalive=True,  # long-idle connections through NATs and load balancers stay open
                max_connections=512,
            )
        # The per-request commands (the rate-limit script) share round trips: redis_pipeline.py.
        self.pipeline = AutoPipeline(self.redis) if self.redis is not None else None
        self.up = self.redis is not None
        self.errors = 0
        self.down_since: float | None = None  # time.time() of the first error of this outage
        self.last_error: str | None = None  # the exception's type: the message may name hosts
        self._last_logged = 0.0
        self._suppressed = 0
        self._probe: asyncio.Task[None] | None = None
        self._on_up: list[Callable[[], None]] = []
        metrics.shared_state_up.set(1 if self.up else 0)

    @property
    def enabled(self) -> bool:
        """Redis is configured (it may be down right now)."""
        return self.redis is not None

    @property
    def available(self) -> bool:
        """Redis is configured and was answering at last contact: worth a call."""
        return self.up

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def on_up(self, callback: Callable[[], None]) -> None:
        """Run `callback` whenever Redis answers again after an outage."""
        self._on_up.append(callback)

    async def call(self, operation: str, make: Callable[[Redis], Awaitable[T]]) -> T | None:
        """`make(redis)` awaited within the timeout, or None when Redis is off, down or failed
        (the caller then uses its in-process state)."""
        if self.redis is None or not self.up:
            return None
        try:
            async with asyncio.timeout(self.timeout):
                return await make(self.redis)
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed(operation, exc)
            return None

    def failed(self, operation: str, exc: BaseException) -> None:
        """Count and (at most once per interval) log a Redis error, and fall back until it answers."""
        self.errors += 1
        self.metrics.of(self.metrics.shared_state_errors, operation).inc()
        self.last_error = type(exc).__name__
        now = time.monotonic()
        if now - self._last_logged >= self.log_interval:
            more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
            log.warning(
                "shared state (Redis) %s failed: %s: %s; using in-process state until it answers%s",
                operation,
                type(exc).__name__,
                exc,
                more,
            )
            self._last_logged, self._suppressed = now, 0
        else:
            self._suppressed += 1
        if self.up:
            self.up = False
            self.down_since = time.time()
            self.metrics.shared_state_up.set(0)
            if self._probe is None or self._probe.done():
                self._probe = asyncio.get_running_loop().create_task(self._wait_for_redis())

    async def _wait_for_redis(self) -> None:
        assert self.redis is not None
        while True:
            # Pooled connections from before the outage may be dead (a restarted Redis): drop them
            # all, so the first commands after it answers do not fail one stale connection at a time.
            with contextlib.suppress(RedisError, OSError):
                await self.redis.connection_pool.disconnect()
            await asyncio.sleep(self.retry_interval)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.redis.ping()
            except (RedisError, OSError, TimeoutError) as exc:
                self.failed("ping", exc)
                continue
            self.up = True
            log.warning(
                "shared state (Redis) answers again after %.1f s; shared limits, budgets and usage are back",
                time.time() - (self.down_since or time.time()),
            )
            self.down_since = None
            self.metrics.shared_state_up.set(1)
            for callback in self._on_up:
                callback()
            return

    def status(self) -> dict[str, Any]:
        """What `/readyz` shows: never the URL, never an error message (they may name hosts)."""
        if self.redis is None:
            return {"backend": "process"}
        out: dict[str, Any] = {"backend": "redis", "state": "shared" if self.up else "in_process_fallback"}
        out["errors"] = self.errors
        if not self.up and self.down_since is not None:
            out["unavailable_since"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.down_since))
            out["last_error"] = self.last_error
        return out

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self.pipeline is not None:
            await self.pipeline.close()
        if self.redis is not None:
            await self.redis.aclose()

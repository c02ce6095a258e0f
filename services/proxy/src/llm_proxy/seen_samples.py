"""Which clients have listed the sample questions: the original API refuses a sample number
from a client that has not. Kept in process (bounded, expiring) and, with Redis, shared by every
replica (`seen:<client>` keys that expire with the same TTL), so a client that lists the questions
on one replica may use a number on another without a cookie."""

from __future__ import annotations

import time
from collections import OrderedDict

from .shared_state import SharedState

SEEN_TTL = 24 * 3600.0


class SeenSamples:
    """Which clients have listed the sample questions (bounded, expiring)."""

    def __init__(self, shared: SharedState | None = None, size: int = 10_000, ttl: float = SEEN_TTL) -> None:
        self.shared = shared
        self.size, self.ttl = size, ttl
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def mark(self, client: str) -> None:
        self._seen[client] = time.monotonic()
        self._seen.move_to_end(client)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        if self.shared is not None and self.shared.available:
            key = self.shared.key("seen", client[:256])
            await self.shared.call("seen_samples", lambda redis: redis.set(key, 1, ex=int(self.ttl)))

    async def has(self, client: str) -> bool:
        seen = self._seen.get(client)
        if seen is not None and time.monotonic() - seen < self.ttl:
            return True
        if self.shared is not None and self.shared.available:
            key = self.shared.key("seen", client[:256])
            return bool(await self.shared.call("seen_samples", lambda redis: redis.exists(key)))
        return False

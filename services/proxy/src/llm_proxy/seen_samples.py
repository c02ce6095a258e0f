"""Which clients have listed the sample questions: the original API refuses a sample number
from a client that has not. Kept in process, bounded and expiring."""

from __future__ import annotations

import time
from collections import OrderedDict

SEEN_TTL = 24 * 3600.0


class SeenSamples:
    """Which clients have listed the sample questions (bounded, expiring)."""

    def __init__(self, size: int = 10_000, ttl: float = SEEN_TTL) -> None:
        self.size, self.ttl = size, ttl
        self._seen: OrderedDict[str, float] = OrderedDict()

    def mark(self, client: str) -> None:
        self._seen[client] = time.monotonic()
        self._seen.move_to_end(client)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def has(self, client: str) -> bool:
        seen = self._seen.get(client)
        return seen is not None and time.monotonic() - seen < self.ttl

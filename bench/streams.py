"""N concurrent long streams, paced by the mock: how many stall, and the gap added between chunks.

The load generator shares a core with the mock, so it must cost little: each stream is a bare
asyncio protocol that writes one request and timestamps the arrival of each SSE event (no HTTP
client library, no line splitting). Gaps are measured between consecutive events of one
stream; the same run measures direct-to-mock and through the proxy.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from urllib.parse import urlsplit

STALL_FACTOR = 5  # a gap over 5x the pace counts as a stall


class _Stream(asyncio.Protocol):
    def __init__(self, request: bytes, pace: float) -> None:
        self.request = request
        self.pace = pace
        self.gaps: list[float] = []
        self.stalled = False
        self.ok = False
        self.last: float | None = None
        self.tail = b""
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        text = self.tail + data
        events = text.count(b"\n\n")
        self.tail = text[-1:]  # an event boundary may straddle two reads
        if events:
            if self.last is not None:
                gap = now - self.last
                self.gaps.append(gap)
                self.stalled |= gap > STALL_FACTOR * self.pace
            self.last = now
        if b"data: [DONE]" in text:
            self.ok = True
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _run(base: str, n: int, chunks: int, pace_ms: int, key: str) -> dict:
    url = urlsplit(base)
    body = b'{"model": "mock-gpt-model-0701", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"X-Mock-Response-Tokens: {chunks}\r\nX-Mock-Token-Delay-Ms: {pace_ms}\r\n"
        f"Authorization: Bearer {key}\r\n"  # the proxy requires a client key; the mock ignores it
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    pace = pace_ms / 1000

    async def one(i: int) -> _Stream:
        await asyncio.sleep(i * pace / n)  # streams start spread over one pace period, as real ones would
        _, stream = await loop.create_connection(lambda: _Stream(request, pace), url.hostname, url.port)
        await asyncio.wait_for(stream.done, timeout=chunks * pace * 10 + 30)
        return stream

    streams = await asyncio.gather(*(one(i) for i in range(n)))
    gaps = sorted(g for s in streams for g in s.gaps)
    pick = (lambda q: gaps[min(len(gaps) - 1, int(len(gaps) * q))] * 1000) if gaps else (lambda q: float("nan"))
    return {
        "stalled": sum(s.stalled for s in streams),
        "completed": sum(s.ok for s in streams),
        "gap_p50_ms": pick(0.5),
        "gap_p99_ms": pick(0.99),
        "gap_max_ms": pick(1.0),
    }


def _go(base: str, n: int, chunks: int, pace_ms: int, key: str) -> dict:
    try:
        import uvloop

        return uvloop.run(_run(base, n, chunks, pace_ms, key))
    except ImportError:
        return asyncio.run(_run(base, n, chunks, pace_ms, key))


def run_streams(
    direct: str,
    proxy: str,
    n: int,
    proxy_service,
    key: str,
    chunks: int = 40,
    pace_ms: int = 100,
    repeats: int = 3,
) -> dict:
    """Direct and proxied rounds alternate after a discarded warm-up; each figure is the median round."""
    result: dict = {"streams": n, "chunks": chunks, "pace_ms": pace_ms, "repeats": repeats}
    _go(proxy, n, 5, pace_ms, key)  # warm-up: every stream's upstream connection opened, first collections
    rounds: dict[str, list[dict]] = {"direct": [], "proxy": []}
    for _ in range(repeats):
        for target, base in (("direct", direct), ("proxy", proxy)):
            rounds[target].append(_go(base, n, chunks, pace_ms, key))
    for target, runs in rounds.items():
        result[target] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        result[target]["stalled"] = max(r["stalled"] for r in runs)
        result[target]["completed"] = min(r["completed"] for r in runs)
    result["proxy_rss_mib"] = proxy_service.rss()
    result["added_gap_p99_ms"] = result["proxy"]["gap_p99_ms"] - result["direct"]["gap_p99_ms"]
    return result

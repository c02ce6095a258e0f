"""N concurrent long streams, paced by the mock: how many stall, and the gap added between chunks."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

STALL_FACTOR = 5  # a gap over 5x the pace counts as a stall


async def _one(session, url, body, headers, gaps, stalls, pace, delay):
    await asyncio.sleep(delay)  # streams start spread over one pace period, as real ones would
    async with session.post(url, json=body, headers=headers) as resp:
        last = None
        stalled = False
        async for _ in resp.content:  # one line at a time; data lines are the chunks
            now = time.perf_counter()
            if last is not None:
                gap = now - last
                gaps.append(gap)
                if gap > STALL_FACTOR * pace:
                    stalled = True
            last = now
        stalls.append(stalled)


async def _run(base: str, n: int, chunks: int, pace_ms: int) -> dict:
    url = base + "/v1/chat/completions"
    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"X-Mock-Response-Tokens": str(chunks), "X-Mock-Token-Delay-Ms": str(pace_ms)}
    gaps: list[float] = []
    stalls: list[bool] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:
        await asyncio.gather(*(_one(session, url, body, headers, gaps, stalls, pace_ms / 1000, i * pace_ms / 1000 / n)
                               for i in range(n)))
    # Lines come in pairs (event line, blank line): keep the gaps between events only.
    event_gaps = sorted(g for g in gaps if g > 0.0005)
    p99 = event_gaps[int(len(event_gaps) * 0.99) - 1] * 1000 if event_gaps else float("nan")
    return {"stalled": sum(stalls), "completed": len(stalls), "gap_p99_ms": p99,
            "gap_p50_ms": event_gaps[len(event_gaps) // 2] * 1000 if event_gaps else float("nan")}


def run_streams(direct: str, proxy: str, n: int, proxy_service, chunks: int = 40, pace_ms: int = 100) -> dict:
    result = {"streams": n, "chunks": chunks, "pace_ms": pace_ms}
    result["direct"] = asyncio.run(_run(direct, n, chunks, pace_ms))
    result["proxy"] = asyncio.run(_run(proxy, n, chunks, pace_ms))
    result["proxy_rss_mib"] = proxy_service.rss()
    result["added_gap_p99_ms"] = result["proxy"]["gap_p99_ms"] - result["direct"]["gap_p99_ms"]
    return result

"""A steady load for a long time, sampling the proxy's RSS: memory must stay flat."""

from __future__ import annotations

import asyncio
import time

import aiohttp


async def _load(base: str, seconds: int, service, key: str, concurrency: int = 8) -> dict:
    url = base + "/v1/chat/completions"
    body = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "When is his birthday ?"}]}
    samples: list[tuple[float, float]] = []
    done = errors = 0
    start = time.monotonic()
    end = start + seconds

    async def worker(session):
        nonlocal done, errors
        while time.monotonic() < end:
            async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1
                else:  # an answer that is not one is not load: counted apart, never as throughput
                    errors += 1

    async def sampler():
        while time.monotonic() < end:
            samples.append((time.monotonic() - start, service.rss()))
            await asyncio.sleep(5)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(sampler(), *(worker(session) for _ in range(concurrency)))
    warm = [s for s in samples if s[0] >= min(60, seconds / 5)]
    slope = 0.0
    if len(warm) >= 2:
        n = len(warm)
        mx = sum(t for t, _ in warm) / n
        my = sum(r for _, r in warm) / n
        slope = sum((t - mx) * (r - my) for t, r in warm) / max(sum((t - mx) ** 2 for t, _ in warm), 1e-9)
    return {
        "seconds": seconds,
        "rps": done / seconds,
        "errors": errors,
        "rss_start_mib": samples[0][1] if samples else 0,
        "rss_end_mib": samples[-1][1] if samples else 0,
        "slope_mib_per_10min": slope * 600,
        "samples": samples,
    }


def soak(base: str, seconds: int, service, key: str) -> dict:
    return asyncio.run(_load(base, seconds, service, key))

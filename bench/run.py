"""Benchmark the proxy against the mock, side by side with calling the mock directly.

Layout (2 cores): the proxy alone on core 0; the mock and the load generators (wrk, and the
Python stream and soak clients) on core 1. Every
scenario runs direct-to-mock (the ceiling) and through the proxy in the same run, each point
after a discarded warm-up, repeated, best of N taken for throughput and median for latency.
Optionally LiteLLM's proxy is measured the same way (installed into bench/.venv-litellm).

    .venv/bin/python bench/run.py                 # the standard scenarios (about 3 minutes)
    .venv/bin/python bench/run.py --streams 512   # + 512 concurrent long streams
    .venv/bin/python bench/run.py --soak 600      # + a 10-minute soak with RSS over time
    .venv/bin/python bench/run.py --litellm       # + LiteLLM's proxy side by side

Both proxies under test ("proxy", in-process limits, and "redis", the same with
LLM_PROXY_REDIS_URL: limits and usage in a redis-server on core 1) get one client key with a rate
limit too large to refuse anything, so every request takes a token from its bucket and is counted. `--no-redis` leaves the "redis" target out.

Needs `wrk` (Debian package), `taskset` and, for the "redis" target, `redis-server` (Debian package). Writes bench/results/latest.md (+ .json, + .png when
matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from report import markdown, plot, redis_summary

from services import (
    BENCH_KEY,
    BIN,
    HERE,
    Service,
    cpu_seconds,
    free_port,
    keys_file,
    litellm_proxy,
    proxy_service,
    routes_file,
    wait_redis,
)

RESULTS = HERE / "results"
LUA = HERE / "post.lua"
BODY = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "When is his birthday ?"}]}


def wrk(url: str, connections: int, seconds: int, stream: bool, tokens: int) -> dict:
    body = dict(BODY, stream=stream)
    env = {**os.environ, "BODY": json.dumps(body), "RESPONSE_TOKENS": str(tokens), "AUTH": BENCH_KEY}
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(LUA),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("JSON "))
    stats = json.loads(line[5:])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def measure(
    base: str, connections: int, stream: bool, seconds: int, repeats: int, tokens: int, service: Service
) -> dict:
    url = base + "/v1/chat/completions"
    wrk(url, connections, 2, stream, tokens)  # warm-up, discarded
    cpu = cpu_seconds(service.proc.pid)
    runs = [wrk(url, connections, seconds, stream, tokens) for _ in range(repeats)]
    cpu = cpu_seconds(service.proc.pid) - cpu
    return {
        "rps": max(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50"] for r in runs) / 1000,
        "p99_ms": statistics.median(r["p99"] for r in runs) / 1000,
        "errors": sum(r["errors"] for r in runs),
        "cpu_us_per_request": cpu * 1e6 / max(1, sum(r["requests"] for r in runs)),
    }


# (name, connections, stream, one core). The one-core row puts the proxy on the mock's and wrk's
# core: with a single connection every hop to the other core waits for that core to wake up,
# which on these VMs costs more than the proxy's own work; on one core only the work remains.
SCENARIOS = [
    ("non-stream", 1, False, False),
    ("non-stream, all on one core", 1, False, True),
    ("non-stream", 16, False, False),
    ("non-stream", 64, False, False),
    ("stream", 16, True, False),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=8, help="seconds per measured run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tokens", type=int, default=20, help="answer length = stream chunks")
    p.add_argument("--streams", type=int, default=0, help="also run N concurrent long streams (e.g. 512)")
    p.add_argument("--soak", type=int, default=0, help="also soak for N seconds, sampling RSS")
    p.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy (installs it)")
    p.add_argument("--no-redis", action="store_true", help="leave out the proxy with Redis-backed limits")
    p.add_argument("--output", default="latest", help="results file name in bench/results (default: latest)")
    args = p.parse_args(argv)
    for tool in ("wrk", "taskset", *(() if args.no_redis else ("redis-server",))):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} is not installed (apt-get install wrk util-linux redis-server)")
    RESULTS.mkdir(exist_ok=True)
    mock_port, proxy_port = free_port(), free_port()
    mock = Service(
        "mock",
        [str(BIN / "mock-model"), "--host", "127.0.0.1", "--port", str(mock_port)],
        1,
        f"http://127.0.0.1:{mock_port}/healthz",
    )
    mock_url = f"http://127.0.0.1:{mock_port}/v1"
    routes, keys = routes_file(mock_url), keys_file()
    proxy = proxy_service("proxy", proxy_port, routes, keys)
    bases = {"direct": f"http://127.0.0.1:{mock_port}", "proxy": f"http://127.0.0.1:{proxy_port}"}
    services = {"direct": mock, "proxy": proxy}  # whose CPU each target's row counts
    redis_server = redis_proxy = None
    if not args.no_redis:
        # Redis with the mock and the load generators on core 1, as a separate host would be.
        redis_port, port = free_port(), free_port()
        redis_server = Service(
            "redis-server",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            1,
            None,
        )
        wait_redis(redis_port)
        redis_proxy = services["redis"] = proxy_service(
            "redis", port, routes, keys, redis_url=f"redis://127.0.0.1:{redis_port}/0"
        )
        bases["redis"] = f"http://127.0.0.1:{port}"
    extra = None
    if args.litellm:
        port = free_port()
        extra = services["litellm"] = litellm_proxy(mock_url, port)
        bases["litellm"] = f"http://127.0.0.1:{port}"
    result: dict = {"when": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(), "rows": []}
    try:
        rss_before = proxy.rss()
        proxies = [service for service in (proxy, redis_proxy, extra) if service is not None]
        for name, conns, stream, one_core in SCENARIOS:
            row = {"scenario": f"{name} ({args.tokens} chunks)" if stream else name, "conns": conns}
            for service in proxies:
                service.pin({1} if one_core else {0})
            for target, base in bases.items():
                # Only the proxy being measured runs: an idle LiteLLM still takes CPU on core 0.
                for service in proxies:
                    service.resume() if service is services[target] else service.pause()
                row[target] = measure(base, conns, stream, args.seconds, args.repeats, args.tokens, services[target])
                if services[target] in proxies:
                    services[target].settle()  # nothing in flight when it is paused for the next target
            row["proxy_rss_mib"] = proxy.rss()
            result["rows"].append(row)
            print(json.dumps(row), flush=True)
        result["proxy_rss_mib"] = {"idle": rss_before, "after_load": proxy.rss()}
        for service in proxies:
            service.resume()
        if redis_proxy is not None:
            result["redis"] = redis_summary(result["rows"])
            redis_proxy.stop()  # the stream and soak phases measure the in-process proxy alone
            redis_proxy = None
        if extra is not None:
            result["litellm_rss_mib"] = extra.rss()
            extra.stop()  # the stream and soak phases measure our proxy alone
            extra = None
        # The Python load generators below share core 1 with the mock, as wrk does.
        os.sched_setaffinity(0, {1})
        if args.streams:
            from streams import run_streams

            result["streams"] = run_streams(bases["direct"], bases["proxy"], args.streams, proxy, BENCH_KEY)
            print(json.dumps(result["streams"]), flush=True)
        if args.soak:
            from soak import soak

            result["soak"] = soak(bases["proxy"], args.soak, proxy, BENCH_KEY)
            print(json.dumps({k: v for k, v in result["soak"].items() if k != "samples"}), flush=True)
    finally:
        for service in (proxy, redis_proxy, redis_server, mock, extra):
            if service is not None:
                service.stop()
    targets = list(bases)
    text = markdown(result, targets, args.repeats, args.seconds)
    (RESULTS / f"{args.output}.md").write_text(text)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, targets, RESULTS / f"{args.output}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())

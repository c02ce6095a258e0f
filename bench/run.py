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
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RESULTS = HERE / "results"
LUA = HERE / "post.lua"
BENCH_KEY = "sk-bench-master-key"  # LiteLLM refuses to start without a master key
BODY = {"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "When is his birthday ?"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_redis(port: int, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"redis-server on port {port}")


class Service:
    def __init__(
        self, name: str, cmd: list[str], core: int, health: str | None, env: dict | None = None, startup: float = 30
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(core), *cmd],
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if health is not None:
            wait_http(health, startup)

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def pin(self, cores: set[int]) -> None:
        """Move every thread of the service (affinity is per thread) to `cores`."""
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cores)
            except ProcessLookupError:  # a thread that just ended
                pass

    def stop(self) -> None:
        self.resume()  # a stopped process would not see SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def routes_file(mock_url: str) -> Path:
    path = Path(tempfile.mkdtemp()) / "routes.yaml"
    # forward_test_headers: the mock takes the answer length from wrk's X-Mock-Response-Tokens.
    path.write_text(
        f"backends:\n  mock: {{base_url: '{mock_url}', forward_test_headers: true}}\nmodels:\n"
        "  - {name: mock-gpt-model-0701, group: mock, backend: mock}\n"
    )
    return path


def keys_file() -> Path:
    """The bench's client key, with a rate limit that never refuses: every request takes a token."""
    path = Path(tempfile.mkdtemp()) / "keys.yaml"
    path.write_text(
        f"keys:\n  - {{key: {BENCH_KEY}, name: bench, rate_limit: {{requests_per_minute: 600000000, burst: 100000000}}}}\n"
    )
    return path


def proxy_service(name: str, port: int, routes: Path, keys: Path, redis_url: str = "") -> Service:
    return Service(
        name,
        [str(BIN / "llm-proxy"), "--host", "127.0.0.1", "--port", str(port), "--routes", str(routes)],
        0,
        f"http://127.0.0.1:{port}/readyz",
        env={
            "LLM_PROXY_LOG_REQUESTS": os.environ.get("LLM_PROXY_LOG_REQUESTS", "true"),
            "LLM_PROXY_API_KEYS_FILE": str(keys),
            "LLM_PROXY_REDIS_URL": redis_url,
        },
    )


def litellm_proxy(mock_url: str, port: int):
    venv = HERE / ".venv-litellm"
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]>=1.50,<2"], check=True)
    config = Path(tempfile.mkdtemp()) / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: mock-gpt-model-0701\n    litellm_params:\n"
        f"      model: openai/mock-gpt-model-0701\n      api_base: {mock_url}\n      api_key: none\n"
        "litellm_settings:\n  drop_params: true\n"
    )
    return Service(
        "litellm",
        [str(venv / "bin" / "litellm"), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        0,
        f"http://127.0.0.1:{port}/health/liveliness",
        env={
            "LITELLM_LOG": "ERROR",
            "LITELLM_MASTER_KEY": BENCH_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        },  # no download of the cost map at start
        startup=180,
    )


def table(rows: list[dict], targets: list[str]) -> str:
    head = (
        "| scenario | conns | "
        + " | ".join(f"{t} req/s | {t} p50 ms | {t} p99 ms | {t} CPU µs/req" for t in targets)
        + " | added p50 ms (proxy − direct) |"
    )
    sep = "|" + "---|" * (2 + 4 * len(targets) + 1)
    lines = [head, sep]
    for row in rows:
        cells = []
        for t in targets:
            r = row[t]
            cells.append(f"{r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_us_per_request']:,.0f}")
        added = row["proxy"]["p50_ms"] - row["direct"]["p50_ms"]
        lines.append(f"| {row['scenario']} | {row['conns']} | " + " | ".join(cells) + f" | {added:+.2f} |")
    return "\n".join(lines)


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

            result["streams"] = run_streams(bases["direct"], bases["proxy"], args.streams, proxy)
            print(json.dumps(result["streams"]), flush=True)
        if args.soak:
            from soak import soak

            result["soak"] = soak(bases["proxy"], args.soak, proxy)
            print(json.dumps({k: v for k, v in result["soak"].items() if k != "samples"}), flush=True)
    finally:
        for service in (proxy, redis_proxy, redis_server, mock, extra):
            if service is not None:
                service.stop()
    targets = list(bases)
    md = [
        f"Run {result['when']} on {result['cores']} cores; proxy pinned to core 0, mock + wrk to core 1; "
        f"best of {args.repeats} x {args.seconds}s after a warm-up.",
        "",
        table(result["rows"], targets),
        "",
        f"Proxy RSS: {result['proxy_rss_mib']['idle']:.1f} MiB idle, "
        f"{result['proxy_rss_mib']['after_load']:.1f} MiB after the load.",
    ]
    if "redis" in result:
        r = result["redis"]
        md.append(
            f'Redis-backed limits ("redis" vs "proxy", both with the same key and limit): '
            f"{r['rps_ratio_64']:.1%} of the in-process throughput at 64 connections; "
            f"added median {r['added_p50_ms_1']:+.3f} ms at 1 connection ({r['one_connection_row']})."
        )
    if "litellm_rss_mib" in result:
        md.append(f"LiteLLM proxy RSS after the load: {result['litellm_rss_mib']:.1f} MiB.")
    if "streams" in result:
        s = result["streams"]
        md.append(
            f"{s['streams']} concurrent streams of {s['chunks']} chunks at {s['pace_ms']} ms "
            f"(median of {s['repeats']} alternating rounds): {s['proxy']['completed']} completed, "
            f"{s['proxy']['stalled']} stalled through the proxy ({s['direct']['stalled']} direct); "
            f"inter-chunk gap p99 {s['proxy']['gap_p99_ms']:.2f} ms vs {s['direct']['gap_p99_ms']:.2f} ms "
            f"direct (added {s['added_gap_p99_ms']:+.2f} ms); proxy RSS {s['proxy_rss_mib']:.1f} MiB."
        )
    if "soak" in result:
        s = result["soak"]
        md.append(
            f"Soak {s['seconds']} s at {s['rps']:.0f} req/s: RSS {s['rss_start_mib']:.1f} -> "
            f"{s['rss_end_mib']:.1f} MiB, slope after warm-up {s['slope_mib_per_10min']:+.2f} MiB / 10 min."
        )
    text = "\n".join(md) + "\n"
    (RESULTS / f"{args.output}.md").write_text(text)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, targets, RESULTS / f"{args.output}.png")
    print(text)
    return 0


def redis_summary(rows: list[dict]) -> dict:
    """The Redis row's figures against the in-process proxy: throughput at 64 connections and the
    median added at 1 connection (the one-core row: the proxy's own cost, no cross-core hops)."""
    at_64 = next(r for r in rows if r["conns"] == 64)
    ones = [r for r in rows if r["conns"] == 1]
    one = next((r for r in ones if "one core" in r["scenario"]), ones[0])
    return {
        "rps_ratio_64": at_64["redis"]["rps"] / at_64["proxy"]["rps"],
        "added_p50_ms_1": one["redis"]["p50_ms"] - one["proxy"]["p50_ms"],
        "one_connection_row": one["scenario"],
    }


def plot(result: dict, targets: list[str], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = result["rows"]
    labels = [f"{r['scenario'].replace(', ', chr(10))}\nc={r['conns']}" for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(targets)
    for i, t in enumerate(targets):
        xs = [x + i * width for x in range(len(rows))]
        ax1.bar(xs, [r[t]["rps"] for r in rows], width, label=t)
        ax2.bar(xs, [r[t]["p50_ms"] for r in rows], width, label=t)
    ax2.set_yscale("log")  # LiteLLM's latencies would flatten ours to nothing on a linear scale
    for ax, title in ((ax1, "requests / s"), (ax2, "median latency, ms (log scale)")):
        ax.set_xticks([x + width * (len(targets) - 1) / 2 for x in range(len(rows))], labels, fontsize=8)
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())

"""The processes a bench run starts (mock, proxies, redis-server, LiteLLM), pinned to a core, with
their output in bench/results/logs/<name>.log, and what is read from them (RSS, CPU time)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LOGS = HERE / "results" / "logs"
BENCH_KEY = "sk-bench-master-key"  # LiteLLM refuses to start without a master key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
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
        self,
        name: str,
        cmd: list[str],
        core: int,
        health: str | None,
        env: dict | None = None,
        startup: float = 30,
        metrics: str | None = None,
    ) -> None:
        self.name = name
        self.metrics = metrics  # our proxies' /metrics, to know when nothing is in flight
        # What a service prints goes to bench/results/logs/<name>.log (not committed): a target that
        # answers errors must be explainable after the run.
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                ["taskset", "-c", str(core), *cmd],
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if health is not None:
            wait_http(health, startup)

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def settle(self, timeout: float = 10) -> None:
        """Wait until no request is in flight (wrk hangs up with requests still on their way).

        A process stopped with requests in flight would, once continued, find their timers past due
        before their answers are read: upstream timeouts that never happened, enough to open the
        circuit breaker for the next scenario."""
        if self.metrics is None:
            time.sleep(1)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.metrics, timeout=2) as resp:
                if b"\nllm_proxy_in_flight_requests 0.0\n" in resp.read():
                    return
            time.sleep(0.05)

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        metrics=f"http://127.0.0.1:{port}/metrics",
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

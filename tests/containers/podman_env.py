"""Podman for the container and compose suites: find and configure it, build the images once,
run containers with unique names, and clean up.

Where podman is missing or broken the suites skip with the reason, unless
LLM_PROXY_REQUIRE_CONTAINERS=1 (set by .ci/run), where that is a failure. The podman settings come
from the environment, or from $LLM_PROXY_CI_DIR/podman.env (default /var/lib/llm-proxy-ci), which
scripts/ci/setup-podman.sh writes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CI_DIR = Path(os.environ.get("LLM_PROXY_CI_DIR", "/var/lib/llm-proxy-ci"))
BUILD_TIMEOUT = 1200  # seconds per image: a cold build on 2 cores downloads and installs wheels
SETUP_HINT = "run scripts/ci/setup-podman.sh as root (.ci/run does) to enable"


def required() -> bool:
    return os.environ.get("LLM_PROXY_REQUIRE_CONTAINERS") == "1"


def unavailable(reason: str):
    if required():
        pytest.fail(f"LLM_PROXY_REQUIRE_CONTAINERS=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason}; {SETUP_HINT}")


def podman_environ() -> dict[str, str]:
    env = dict(os.environ)
    env_file = CI_DIR / "podman.env"
    if "CONTAINERS_CONF" not in env and env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.startswith("#"):
                env.setdefault(key.strip(), value.strip())
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Podman:
    env: dict[str, str]
    base_image: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args[:3])} ... exit {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def build(self, context: str, tag: str) -> float:
        """Build one service image from its Dockerfile; returns seconds taken."""
        started = time.monotonic()
        args = ["build", "--layers", "--build-arg", f"BASE_IMAGE={self.base_image}", "-t", tag]
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
        if ca.is_file():  # pip inside the build trusts what the host trusts (e.g. an intercepting proxy)
            args += ["-v", f"{ca}:{ca}:ro"]
        self(*args, str(ROOT / context), timeout=BUILD_TIMEOUT)
        return time.monotonic() - started

    def name(self, what: str) -> str:
        return f"llmproxy-test-{self.run_id}-{what}"

    def logs(self, container: str) -> str:
        proc = self("logs", container, check=False)
        return (proc.stdout + proc.stderr)[-4000:]


def detect_podman() -> Podman:
    if shutil.which("podman") is None:
        unavailable("podman is not installed")
    env = podman_environ()
    proc = subprocess.run(
        ["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], env=env, capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        unavailable(f"`podman info` fails: {proc.stderr.strip()[-500:]}")
    base = env.get("LLM_PROXY_BASE_IMAGE", "python:3.11-slim")
    if base.startswith("localhost/") and subprocess.run(["podman", "image", "exists", base], env=env).returncode:
        unavailable(f"the local base image {base} does not exist")
    return Podman(env=env, base_image=base)


@dataclass
class Images:
    proxy: str
    mock: str
    build_seconds: dict[str, float]


def build_images(podman: Podman) -> Images:
    images = Images(
        proxy=f"localhost/llm-proxy:test-{podman.run_id}",
        mock=f"localhost/mock-model:test-{podman.run_id}",
        build_seconds={},
    )
    images.build_seconds["llm-proxy"] = podman.build("services/proxy", images.proxy)
    images.build_seconds["mock-model"] = podman.build("services/mock-model", images.mock)
    return images


async def wait_http(url: str, timeout: float = 90, status: int = 200, logs=None) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer"
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    if resp.status == status:
                        return await resp.json(content_type=None)
                    last = f"HTTP {resp.status}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                last = repr(exc)
            await asyncio.sleep(0.25)
    raise AssertionError(f"{url} did not answer {status} within {timeout} s ({last})\n{logs() if logs else ''}")

"""Podman for the container and compose suites: find and configure it, build the images once,
run containers with unique names, and clean up.

Both suites call `detect_podman()`: where podman is missing or broken, or no base image to build
from is here or can be pulled, they skip with the reason, unless LLM_PROXY_REQUIRE_CONTAINERS=1
(set by .ci/run), where that is a failure. The podman settings come from the environment, or from
$LLM_PROXY_CI_DIR/podman.env (default /var/lib/llm-proxy-ci), which scripts/ci/setup-podman.sh
writes. The base image is LLM_PROXY_BASE_IMAGE when set; else the one setup-podman.sh builds
locally (no registry needed) when it exists; else the Dockerfiles' own python:3.11-slim.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CI_DIR = Path(os.environ.get("LLM_PROXY_CI_DIR", "/var/lib/llm-proxy-ci"))
BUILD_TIMEOUT = 1200  # seconds per image: a cold build on 2 cores downloads and installs wheels
PULL_TIMEOUT = 300  # seconds to pull the base image where none is here
SETUP_HINT = "run scripts/ci/setup-podman.sh as root (.ci/run does) to enable"
DOCKERFILE_BASE_IMAGE = "python:3.11-slim"  # the Dockerfiles' default BASE_IMAGE
LOCAL_BASE_IMAGE = "localhost/pybase:bookworm"  # what setup-podman.sh builds without a registry


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

    def build(self, service: str, tag: str) -> float:
        """Build one service image from its Dockerfile (context: services/); returns seconds taken."""
        started = time.monotonic()
        args = ["build", "--layers", "--build-arg", f"BASE_IMAGE={self.base_image}", "-t", tag]
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
        if ca.is_file():  # pip inside the build trusts what the host trusts (e.g. an intercepting proxy)
            args += ["-v", f"{ca}:{ca}:ro"]
        self(
            *args, "-f", str(ROOT / "services" / service / "Dockerfile"), str(ROOT / "services"), timeout=BUILD_TIMEOUT
        )
        return time.monotonic() - started

    def name(self, what: str) -> str:
        return f"llmproxy-test-{self.run_id}-{what}"

    def logs(self, container: str) -> str:
        proc = self("logs", container, check=False)
        return (proc.stdout + proc.stderr)[-4000:]


RunPodman = Callable[[list[str], float], subprocess.CompletedProcess]


def run_podman(env: Mapping[str, str]) -> RunPodman:
    def run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", f"podman {args[0]}: no answer within {timeout:g} s")

    return run


def find_base_image(env: Mapping[str, str], run: RunPodman, installed: bool) -> tuple[str | None, str]:
    """The base image both suites build from, or None and the reason there is none."""
    if not installed:
        return None, "podman is not installed"
    info = run(["info", "--format", "{{.Host.OCIRuntime.Name}}"], 60)
    if info.returncode != 0:
        return None, f"`podman info` fails: {info.stderr.strip()[-500:]}"
    explicit = env.get("LLM_PROXY_BASE_IMAGE")
    candidates = [explicit] if explicit else [LOCAL_BASE_IMAGE, DOCKERFILE_BASE_IMAGE]
    for image in candidates:
        if run(["image", "exists", image], 60).returncode == 0:
            return image, ""
    wanted = candidates[-1]
    if wanted.startswith("localhost/"):
        return None, f"the local base image {wanted} does not exist"
    pull = run(["pull", "--quiet", wanted], PULL_TIMEOUT)
    if pull.returncode != 0:
        missing = f"{wanted} is not here" if len(candidates) == 1 else f"neither {' nor '.join(candidates)} is here"
        return None, f"no base image to build from: {missing}, and pulling {wanted} fails: {pull.stderr.strip()[-500:]}"
    return wanted, ""


def detect_podman() -> Podman:
    env = podman_environ()
    base, reason = find_base_image(env, run_podman(env), installed=shutil.which("podman") is not None)
    if base is None:
        unavailable(reason)
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
    images.build_seconds["llm-proxy"] = podman.build("proxy", images.proxy)
    images.build_seconds["mock-model"] = podman.build("mock-model", images.mock)
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

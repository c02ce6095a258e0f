"""Fixtures: podman (configured, or skip/fail per LLM_PROXY_REQUIRE_CONTAINERS), both images built
once per session from their Dockerfiles, a private podman network, and containers removed at the end."""

from __future__ import annotations

import os

import pytest

from .podman_env import build_images, detect_podman


@pytest.fixture(scope="session")
def podman():
    return detect_podman()


@pytest.fixture(scope="session")
def images(podman):
    built = build_images(podman)
    yield built
    podman("rmi", "--force", built.proxy, built.mock, check=False)


@pytest.fixture
def network(podman):
    name = podman.name(f"net-{os.urandom(3).hex()}")
    podman("network", "create", name)
    yield name
    podman("network", "rm", "--force", name, check=False, timeout=60)


@pytest.fixture
def containers(podman):
    """`start(name, image, *podman_run_args, command=[])` runs a detached container; all are removed afterwards."""
    started: list[str] = []

    def start(name: str, image: str, *args: str, command: tuple[str, ...] = ()) -> str:
        full = podman.name(name)
        podman("run", "--detach", "--name", full, *args, image, *command, timeout=120)
        started.append(full)
        return full

    yield start
    if started:
        podman("rm", "--force", "--time", "0", *started, check=False, timeout=120)

"""The one detection both container suites use (tests/containers, tests/compose), against a fake
podman: which base image they build from, and the reason they skip (or fail, when required)."""

from __future__ import annotations

import subprocess

import pytest

from . import podman_env
from .podman_env import DOCKERFILE_BASE_IMAGE, LOCAL_BASE_IMAGE, find_base_image

pytestmark = pytest.mark.unit


class FakePodman:
    """Answers `podman info`, `image exists` and `pull` as a machine would; records every call."""

    def __init__(self, info_error: str = "", images: tuple[str, ...] = (), pull_error: str | None = None) -> None:
        self.info_error = info_error
        self.images = set(images)
        self.pull_error = pull_error  # None: pulls work
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        self.calls.append(args)
        if args[0] == "info":
            return self.answer(1 if self.info_error else 0, self.info_error)
        if args[:2] == ["image", "exists"]:
            return self.answer(0 if args[2] in self.images else 1)
        if args[0] == "pull":
            if self.pull_error is not None:
                return self.answer(125, self.pull_error)
            self.images.add(args[-1])
            return self.answer(0)
        raise AssertionError(f"unexpected podman call {args}")

    @staticmethod
    def answer(code: int, stderr: str = "") -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess([], code, "", stderr)


def test_without_podman_there_is_nothing_to_run():
    podman = FakePodman()
    assert find_base_image({}, podman, installed=False) == (None, "podman is not installed")
    assert podman.calls == []


def test_a_podman_that_cannot_run_is_named_with_its_error():
    podman = FakePodman(info_error="cannot set up namespace: operation not permitted")
    base, reason = find_base_image({}, podman, installed=True)
    assert base is None and reason == "`podman info` fails: cannot set up namespace: operation not permitted"


def test_the_locally_built_base_image_is_used_when_it_exists():
    podman = FakePodman(images=(LOCAL_BASE_IMAGE, DOCKERFILE_BASE_IMAGE))
    assert find_base_image({}, podman, installed=True) == (LOCAL_BASE_IMAGE, "")
    assert not any(call[0] == "pull" for call in podman.calls)


def test_else_the_dockerfiles_base_image_when_it_is_here_or_can_be_pulled():
    assert find_base_image({}, FakePodman(images=(DOCKERFILE_BASE_IMAGE,)), installed=True) == (
        DOCKERFILE_BASE_IMAGE,
        "",
    )
    podman = FakePodman()
    assert find_base_image({}, podman, installed=True) == (DOCKERFILE_BASE_IMAGE, "")
    assert ["pull", "--quiet", DOCKERFILE_BASE_IMAGE] in podman.calls


def test_no_registry_and_no_local_base_image_is_a_reason_not_a_build_error():
    podman = FakePodman(pull_error="Error: initializing source docker://python:3.11-slim: dial tcp: i/o timeout")
    base, reason = find_base_image({}, podman, installed=True)
    assert base is None
    assert reason.startswith(
        f"no base image to build from: neither {LOCAL_BASE_IMAGE} nor {DOCKERFILE_BASE_IMAGE} is here, "
        f"and pulling {DOCKERFILE_BASE_IMAGE} fails: Error: initializing source"
    )
    assert "dial tcp: i/o timeout" in reason
    only = find_base_image({"LLM_PROXY_BASE_IMAGE": "python:3.12-slim"}, podman, installed=True)[1]
    assert only.startswith("no base image to build from: python:3.12-slim is not here, and pulling python:3.12-slim")


def test_an_image_named_in_the_environment_is_the_only_candidate():
    env = {"LLM_PROXY_BASE_IMAGE": "localhost/pybase:trixie"}
    podman = FakePodman(images=(LOCAL_BASE_IMAGE, DOCKERFILE_BASE_IMAGE))
    assert find_base_image(env, podman, installed=True) == (
        None,
        "the local base image localhost/pybase:trixie does not exist",
    )
    podman.images.add("localhost/pybase:trixie")
    assert find_base_image(env, podman, installed=True) == ("localhost/pybase:trixie", "")
    registry = {"LLM_PROXY_BASE_IMAGE": "docker.io/library/python:3.11-slim-bookworm"}
    assert find_base_image(registry, FakePodman(), installed=True)[0] == "docker.io/library/python:3.11-slim-bookworm"


def test_a_pull_that_hangs_is_cut_off_and_reported(monkeypatch):
    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", hang)
    proc = podman_env.run_podman({})(["pull", "--quiet", DOCKERFILE_BASE_IMAGE], 300)
    assert proc.returncode != 0 and proc.stderr == "podman pull: no answer within 300 s"


@pytest.mark.parametrize("required, outcome", [("", pytest.skip.Exception), ("1", pytest.fail.Exception)])
def test_the_suites_skip_with_the_reason_or_fail_when_containers_are_required(monkeypatch, required, outcome):
    monkeypatch.setenv("LLM_PROXY_REQUIRE_CONTAINERS", required)
    monkeypatch.setattr(podman_env.shutil, "which", lambda name: None)
    with pytest.raises(outcome, match="podman is not installed"):
        podman_env.detect_podman()

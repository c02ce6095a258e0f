"""compose.yaml with podman-compose: the stack builds from the Dockerfiles and comes up, a chat
completion and the seed's /send_inference go through the published port with a client key from an
env file, a routing-file edit shows up without a restart, and `down` leaves nothing behind.

The published port is 6000 by default (asserted on the resolved config); the running stack uses a
free port through LLM_PROXY_HOST_PORT so a busy 6000 cannot break the run."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import openai
import pytest
import yaml
from containers.podman_env import BUILD_TIMEOUT, ROOT, detect_podman, wait_http
from fixtures.clients import free_port

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COMPOSE = ROOT / "compose.yaml"
PODMAN_COMPOSE = Path(sys.executable).parent / "podman-compose"
CLIENT_KEY = "compose-client-key"
OPENAI_KEY = "sk-compose-never-shown"
CA = Path("/etc/ssl/certs/ca-certificates.crt")


class Stack:
    def __init__(self, podman, tmp: Path):
        self.podman = podman
        self.project = f"llmproxy-test-{podman.run_id}-{os.urandom(3).hex()}"
        self.port = free_port()
        self.routes_dir = tmp / "routes"
        self.routes_dir.mkdir()
        self.routes_dir.chmod(0o755)  # the container user (10001) must read the mounted directory
        self.routes = self.routes_dir / "routes.yaml"
        shutil.copy(ROOT / "deploy" / "compose" / "routes" / "routes.yaml", self.routes)
        self.routes.chmod(0o644)
        self.env_file = tmp / "test.env"  # stands in for the git-ignored .env
        self.env_file.write_text(f"OPENAI_API_KEY={OPENAI_KEY}\nLLM_PROXY_API_KEYS={CLIENT_KEY}\n")
        self.env = {
            **podman.env,
            "BASE_IMAGE": podman.base_image,
            "LLM_PROXY_HOST_PORT": str(self.port),
            "LLM_PROXY_ROUTES_DIR": str(self.routes_dir),
            "LLM_PROXY_IMAGE": f"localhost/llm-proxy:compose-{podman.run_id}",
            "MOCK_MODEL_IMAGE": f"localhost/mock-model:compose-{podman.run_id}",
        }
        self.url = f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 180, env: dict | None = None) -> subprocess.CompletedProcess:
        cmd = [str(PODMAN_COMPOSE), "-p", self.project, "-f", str(COMPOSE), "--env-file", str(self.env_file)]
        if CA.is_file():  # pip inside the builds trusts what the host trusts
            cmd.append(f"--podman-build-args=-v {CA}:{CA}:ro")
        proc = subprocess.run(
            [*cmd, *args], env=env or self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        assert proc.returncode == 0, f"podman-compose {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        return proc

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=io.podman.compose.project={self.project}"
        containers = self.podman("ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split()
        networks = [
            n
            for n in self.podman("network", "ls", "--format", "{{.Name}}").stdout.split()
            if n.startswith(self.project)
        ]
        pods = [p for p in self.podman("pod", "ps", "--format", "{{.Name}}").stdout.split() if self.project in p]
        return {"containers": containers, "networks": networks, "pods": pods}

    def container(self, service: str) -> str:
        names = self.podman(
            "ps",
            "--filter",
            f"label=io.podman.compose.project={self.project}",
            "--filter",
            f"label=io.podman.compose.service={service}",
            "--format",
            "{{.Names}}",
        ).stdout.split()
        assert len(names) == 1, names
        return names[0]

    def logs(self) -> str:
        return "\n".join(self.podman.logs(n) for n in self.leftovers()["containers"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    podman = detect_podman()
    if not PODMAN_COMPOSE.exists():
        pytest.fail(f"{PODMAN_COMPOSE} is missing: podman-compose is in tests/requirements.txt (make install)")
    stack = Stack(podman, tmp_path_factory.mktemp("compose"))
    try:
        stack.compose("up", "-d", "--build", timeout=2 * BUILD_TIMEOUT)
        yield stack
    finally:
        subprocess.run(
            [str(PODMAN_COMPOSE), "-p", stack.project, "-f", str(COMPOSE), "down", "-t", "5"],
            env=stack.env,
            cwd=ROOT,
            capture_output=True,
            timeout=180,
        )
        podman("rmi", "--force", stack.env["LLM_PROXY_IMAGE"], stack.env["MOCK_MODEL_IMAGE"], check=False)


def test_the_compose_file_publishes_6000_and_runs_services_hardened(stack):
    env = {k: v for k, v in stack.env.items() if k not in ("LLM_PROXY_HOST_PORT", "LLM_PROXY_ROUTES_DIR")}
    config = yaml.safe_load(stack.compose("config", env=env).stdout)
    proxy = config["services"]["proxy"]
    assert any(
        str(p) in ("127.0.0.1:6000:8000", "127.0.0.1:6000:8000/tcp")
        or (isinstance(p, dict) and p.get("published") in (6000, "6000") and p.get("host_ip") == "127.0.0.1")
        for p in proxy["ports"]
    ), proxy["ports"]
    for name, service in config["services"].items():
        assert service["read_only"] is True and service["user"] == "10001:10001", name
        assert service["cap_drop"] == ["ALL"] and service["restart"] == "unless-stopped", name
        assert any(str(t).startswith("/tmp") for t in service["tmpfs"]), name
        assert service["healthcheck"]["test"][0] == "CMD", name
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            assert Path(ROOT, source).is_dir(), f"{name}: mount {source} must be a directory (hot reload)"
    assert "routes.yaml" in os.listdir(ROOT / "deploy" / "compose" / "routes")
    assert proxy["environment"]["LLM_PROXY_ROUTES"] == "/etc/llm-proxy/routes/routes.yaml"


async def test_chat_and_the_seed_api_answer_through_the_published_port(stack):
    await wait_http(f"{stack.url}/readyz", logs=stack.logs)
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
    answer = await client.chat.completions.create(
        model="mock-gpt-model-0701", messages=[{"role": "user", "content": "Where did he study?"}]
    )
    assert answer.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):  # LLM_PROXY_API_KEYS from the env file is enforced
        await openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key="nope", max_retries=0).models.list()
    seed_body = {
        "model": {"model_name": "mock-gpt-model-0701"},
        "inference": {
            "sample_question": {"status": False, "selected_question": 4},
            "custom_question": {"status": True, "your_question": "Tell me more about his hobbies ?"},
        },
    }
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as http:
        async with http.post(f"{stack.url}/send_inference", json=seed_body) as resp:
            assert resp.status == 200, await resp.text()
            seed = await resp.json()
    assert seed["model_name"] == "mock-gpt-model-0701"
    assert seed["response"]["your_question"] == "Tell me more about his hobbies ?"
    assert seed["response"]["response"]
    assert OPENAI_KEY not in stack.logs()


async def test_a_routing_file_edit_is_served_without_a_restart(stack):
    await wait_http(f"{stack.url}/readyz", logs=stack.logs)
    proxy = stack.container("proxy")
    started_at = json.loads(stack.podman("inspect", proxy).stdout)[0]["State"]["StartedAt"]
    table = yaml.safe_load(stack.routes.read_text())
    table["models"].append(
        {
            "name": "compose-alias",
            "group": "mock",
            "backend": "mock",
            "upstream_model": "mock-gpt-model-0701",
            "context": "none",
        }
    )
    # Save the way editors do (new file, then rename over the old one): a single-file bind mount
    # would keep showing the old inode; the directory mount shows the new file.
    staged = stack.routes.with_suffix(".tmp")
    staged.write_text(yaml.safe_dump(table, sort_keys=False))
    staged.chmod(0o644)
    os.replace(staged, stack.routes)
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
    for _ in range(120):
        if "compose-alias" in {m.id for m in (await client.models.list()).data}:
            break
        await asyncio.sleep(0.25)
    else:
        pytest.fail(f"the new alias never appeared\n{stack.logs()}")
    answer = await client.chat.completions.create(model="compose-alias", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
    assert json.loads(stack.podman("inspect", proxy).stdout)[0]["State"]["StartedAt"] == started_at  # no restart


def test_the_health_checks_pass(stack):
    for service in ("proxy", "mock-model"):
        proc = stack.podman("healthcheck", "run", stack.container(service), check=False)
        assert proc.returncode == 0, f"{service}: {proc.stdout} {proc.stderr}"


def test_down_leaves_nothing_running(stack):
    assert stack.leftovers()["containers"]  # it was up
    stack.compose("down", "-t", "30")
    assert stack.leftovers() == {"containers": [], "networks": [], "pods": []}

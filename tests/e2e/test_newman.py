"""The Postman collection, run by newman (Postman's own runner, `make newman`), against the stack
`make run` starts (scripts/run_local.py: the mock and the proxy, here on free ports) with no OpenAI
key: every assertion passes, the requests to OpenAI models getting the documented 502 that says
which key to set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fixtures.clients import free_port

ROOT = Path(__file__).resolve().parents[2]
NEWMAN = ROOT / ".newman" / "node_modules" / ".bin" / "newman"
COLLECTION = ROOT / "postman" / "llm-proxy.postman_collection.json"
NEEDS_OPENAI = {
    "Sample question 4 to gpt-3.5-turbo-16k",
    "Custom question to the fine-tuned model",
    "Chat completion to OpenAI (gpt-3.5-turbo)",
}
# Settings a developer's shell may hold that `make run` on a fresh machine would not see.
NOT_INHERITED = (
    "OPENAI_API_KEY",
    "OPENAI_API_KEY_FILE",
    "OPENAI_BASE_URL",
    "MOCK_MODEL_URL",
    "LLM_PROXY_API_KEYS",
    "LLM_PROXY_API_KEYS_FILE",
    "LLM_PROXY_ROUTES",
    "LLM_PROXY_ROUTES_OVERLAY",
    "LLM_PROXY_CONFIG",
    "LLM_PROXY_REDIS_URL",
)


def wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"make run's supervisor exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the stack never became ready:\n{log.read_text()[-3000:]}")


@pytest.fixture
def local_stack(tmp_path):
    """`make run`'s supervisor on free ports, with no OpenAI key and no client keys (its defaults)."""
    mock_port, proxy_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env |= {"MOCK_MODEL_PORT": str(mock_port), "LLM_PROXY_PORT": str(proxy_port)}
    env["LLM_PROXY_ALLOW_ANONYMOUS"] = "true"  # what `make run` allows: no client keys on a laptop
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run_local.py")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{proxy_port}"
    try:
        wait_ready(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the supervisor stops both services
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_the_collection_passes_against_make_run_without_an_openai_key(local_stack, tmp_path):
    if not NEWMAN.exists():
        pytest.fail(f"{NEWMAN} is missing: run `make newman` (make test does it)")
    report = tmp_path / "newman.json"
    proc = subprocess.run(
        [
            str(NEWMAN),
            "run",
            str(COLLECTION),
            "--environment",
            str(ROOT / "postman" / "local.postman_environment.json"),
            "--env-var",
            f"baseUrl={local_stack}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--timeout-request",
            "30000",
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"newman failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    run = json.loads(report.read_text())["run"]
    items = [item for folder in json.loads(COLLECTION.read_text())["item"] for item in folder["item"]]
    assert [e["item"]["name"] for e in run["executions"]] == [item["name"] for item in items]  # all, in order
    tests = sum("\n".join(e["script"]["exec"]).count("pm.test(") for item in items for e in item["event"])
    assert run["stats"]["assertions"] == {"total": tests, "pending": 0, "failed": 0} and run["failures"] == []
    no_key = {e["item"]["name"] for e in run["executions"] if e["response"]["code"] == 502}
    assert no_key == NEEDS_OPENAI  # they took the documented no-key branch of their tests

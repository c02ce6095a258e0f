"""`make run`'s supervisor: both services up with prefixed logs, Ctrl-C stops both, no orphans."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fixtures.clients import free_port

ROOT = Path(__file__).resolve().parent.parent


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_local_starts_both_and_ctrl_c_stops_both():
    mock_port, proxy_port = free_port(), free_port()
    env = {**os.environ, "MOCK_MODEL_PORT": str(mock_port), "LLM_PROXY_PORT": str(proxy_port)}
    env.pop("MOCK_MODEL_URL", None)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run_local.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = b'{"model": "mock-gpt-model-0701", "messages": [{"role": "user", "content": "When is his birthday?"}]}'
        deadline = time.time() + 30
        while True:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert b"1998" in resp.read()
                break
            except OSError:
                assert time.time() < deadline, "the stack never answered"
                time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 2
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert " mock | " in out and "proxy | " in out and "drained" in out
    time.sleep(0.5)
    assert not [pid for pid in children if alive(int(pid))], "a service outlived make run"

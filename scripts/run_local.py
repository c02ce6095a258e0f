"""`make run`: start mock-model and the proxy in the foreground, prefix their logs, stop both on Ctrl-C.

Each child runs in its own process group so a Ctrl-C reaches only this supervisor, which then
sends SIGTERM to both and waits for them (the proxy drains in-flight requests), so nothing is
left running.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
COLOURS = {"mock": "\033[35m", "proxy": "\033[36m"}
RESET = "\033[0m"


def _command(name: str) -> list[str] | None:
    exe = BIN / name
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    return [found] if found else None


async def _pump(name: str, stream: asyncio.StreamReader) -> None:
    colour = COLOURS.get(name, "") if sys.stdout.isatty() else ""
    reset = RESET if colour else ""
    prefix = f"{colour}{name:>5} |{reset} "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def main() -> int:
    env = dict(os.environ)
    mock_port = env.get("MOCK_MODEL_PORT", "5050")
    proxy_port = env.get("LLM_PROXY_PORT", "8000")
    env.setdefault("MOCK_MODEL_URL", f"http://127.0.0.1:{mock_port}/v1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("LLM_PROXY_DRAIN_DELAY", "0")  # no load balancer to wait for on a laptop
    services = [
        ("mock", "mock-model", ["--host", "127.0.0.1", "--port", mock_port]),
        # On a laptop, on 127.0.0.1: no client keys unless LLM_PROXY_API_KEYS(_FILE) sets some.
        ("proxy", "llm-proxy", ["--host", "127.0.0.1", "--port", proxy_port, "--allow-anonymous"]),
    ]
    procs: list[tuple[str, asyncio.subprocess.Process]] = []
    pumps = []
    for name, exe, args in services:
        cmd = _command(exe)
        if cmd is None:
            print(f"run: {exe} is not installed; run `make install`", file=sys.stderr)
            continue
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((name, proc))
        assert proc.stdout is not None
        pumps.append(asyncio.create_task(_pump(name, proc.stdout)))
    if not procs:
        return 1

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    waiters = [asyncio.create_task(p.wait()) for _, p in procs]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *waiters], return_when=asyncio.FIRST_COMPLETED)
    exited_early = stopper not in done
    if exited_early:
        for name, p in procs:
            if p.returncode is not None:
                print(f"run: {name} exited with {p.returncode}; stopping the rest", file=sys.stderr)
    for _, p in procs:
        if p.returncode is None:
            os.killpg(p.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*waiters), timeout=30)
    except TimeoutError:
        for _, p in procs:
            if p.returncode is None:
                os.killpg(p.pid, signal.SIGKILL)
        await asyncio.gather(*waiters)
    await asyncio.gather(*pumps)
    stopper.cancel()
    return 1 if exited_early else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""A real mock + proxy running in a background thread (so snapshot tests, which run the app in
their own event loop, can use them too), and an isolated config/data dir per test."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from fixtures.clients import free_port

from llm_proxy.app import create_app as create_proxy
from llm_proxy.settings import ProxySettings
from mock_model.app import create_app as create_mock
from mock_model.settings import MockSettings


class Stack:
    """mock-model and llm-proxy on loopback ports, served by a thread's own event loop."""

    def __init__(self, tmp: Path, routes: dict | None = None, api_keys: str = "") -> None:
        self.mock_port, self.proxy_port = free_port(), free_port()
        mock_url = f"http://127.0.0.1:{self.mock_port}/v1"
        routes = routes or {
            "backends": {
                "mock": {"base_url": mock_url},
                "dead": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "timeouts": {"connect": 1}},
            },
            "models": [
                {"name": "gpt-4", "group": "openai", "backend": "dead"},
                {"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock"},
                {"name": "louis-ft", "group": "fine-tuned", "backend": "mock", "upstream_model": "ft:mock::1"},
            ],
        }
        self.routes = tmp / "routes.yaml"
        self.routes.write_text(yaml.safe_dump(routes))
        self.settings = ProxySettings(
            routes=self.routes, log_requests=False, retry_attempts=1, api_keys=api_keys, allow_anonymous=True
        )
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(20), "the stack did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runners = []

        async def start() -> None:
            for app, port in (
                (create_mock(MockSettings()), self.mock_port),
                (create_proxy(self.settings), self.proxy_port),
            ):
                runner = web.AppRunner(app, handler_cancellation=True)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", port).start()
                self.runners.append(runner)
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def stop(self) -> None:
        async def cleanup() -> None:
            for runner in reversed(self.runners):
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LLM_TUI_DATA_DIR", str(tmp_path / "data"))
    for var in ("LLM_PROXY_URL", "LLM_PROXY_API_KEY", "LLM_TUI_EXTRA_HEADERS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def stack(tmp_path, isolated_dirs):
    s = Stack(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def keyed_stack(tmp_path, isolated_dirs):
    s = Stack(tmp_path, api_keys="tui-key-123")
    yield s
    s.stop()

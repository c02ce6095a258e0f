"""Save docs/tui.svg: llm-tui against a local mock + proxy, after asking one sample question.

Usage: .venv/bin/python tui/scripts/generate_docs_screenshot.py [OUT.svg]
"""

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from llm_proxy.app import create_app as create_proxy
from llm_proxy.settings import ProxySettings
from llm_tui.app import LlmTui
from llm_tui.config import TuiConfig
from llm_tui.store import ConversationStore
from llm_tui.widgets.answer import Exchange
from mock_model.app import create_app as create_mock
from mock_model.settings import MockSettings

ROOT = Path(__file__).resolve().parents[2]


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve `app` on a free loopback port; returns its runner and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def main(out: Path) -> None:
    tmp = Path(tempfile.mkdtemp())
    mock, mock_port = await serve(create_mock(MockSettings()))
    routes = tmp / "routes.yaml"
    routes.write_text(ROOT.joinpath("services/proxy/src/llm_proxy/data/routes.yaml").read_text())
    os.environ["MOCK_MODEL_URL"] = f"http://127.0.0.1:{mock_port}/v1"  # the packaged table's mock backend
    proxy, port = await serve(create_proxy(ProxySettings(routes=routes, log_requests=False, allow_anonymous=True)))
    app = LlmTui(
        TuiConfig(url=f"http://127.0.0.1:{port}"),
        store=ConversationStore(tmp / "c"),
        display_url="http://127.0.0.1:8000",
        show_timing=False,
        poll_seconds=600,
    )
    async with app.run_test(size=(130, 36)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.chat.query_one("#samples").option_count:
                break
        await pilot.press("alt+4")
        for _ in range(200):
            await pilot.pause(0.05)
            exchanges = list(app.chat.query(Exchange))
            if exchanges and "tokens" in str(exchanges[0].query_one(".figures").render()):
                break
        await pilot.pause(0.3)
        app.save_screenshot(filename=out.name, path=str(out.parent))
    await proxy.cleanup()
    await mock.cleanup()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "tui.svg")
    asyncio.run(main(target))
    print(f"saved {target}")

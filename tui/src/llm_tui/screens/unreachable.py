"""Shown when the proxy cannot be reached (or refuses our key): what is wrong and what to try."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.widgets import Footer, Markdown

from .base import TuiScreen

ADVICE = {
    "unreachable": """\
# Cannot reach the proxy

Nothing answered at **{url}**.

- Running it locally? Start it with `make run` (proxy on port 8000).
- In a cluster? Forward a port: `kubectl -n llm-proxy port-forward svc/llm-llm-proxy 8000:8000`
- Through the ingress? Start `llm-tui --url http://llm-proxy.test` (the host from the chart's values).
- Another address? `llm-tui --url URL`, or set `LLM_PROXY_URL`.

Press **r** to retry; llm-tui also retries by itself every few seconds.
""",
    "unauthorized": """\
# The proxy wants an API key

**{url}** is up, but it refused our key.

Start `llm-tui --api-key KEY`, or set `LLM_PROXY_API_KEY`, with a key the proxy accepts.
""",
}


class UnreachableScreen(TuiScreen[None]):
    DEFAULT_CSS = """
    UnreachableScreen #advice {
        width: 90;
        height: auto;
        margin: 2 0;
        border: round $warning;
        padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "retry", "Retry"), Binding("q", "app.quit", "Quit")]

    def __init__(self, state: str, url: str) -> None:
        super().__init__()
        self.state = state
        self.url = url

    def compose(self) -> ComposeResult:
        with Center():
            with Vertical(id="advice"):
                yield Markdown(ADVICE.get(self.state, ADVICE["unreachable"]).format(url=self.url))
        yield Footer()

    async def action_retry(self) -> None:
        await self.tui.check_connection()

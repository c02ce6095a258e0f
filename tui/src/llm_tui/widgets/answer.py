"""One exchange in the transcript: the question, the answer streaming in as Markdown, its figures."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from ..client import Stats


def figures(stats: Stats, show_timing: bool = True) -> str:
    parts = [f"answered by {stats.model}"]
    if show_timing:
        parts += [f"latency {stats.latency * 1000:,.0f} ms", f"first token {stats.ttft * 1000:,.0f} ms"]
    if stats.completion_tokens:
        parts.append(f"{stats.prompt_tokens} + {stats.completion_tokens} tokens")
    return " · ".join(parts)


class Exchange(Vertical):
    DEFAULT_CSS = """
    Exchange {
        height: auto;
        margin: 1 0 0 0;
        border-left: thick $primary;
        padding: 0 1;
        &.failed {
            border-left: thick $error;
        }
        .question {
            color: $text-muted;
        }
        .answer {
            margin: 0;
            padding: 0;
        }
        .figures {
            color: $text-muted;
            text-style: italic;
        }
        &.failed .figures {
            color: $error;
            text-style: bold;
        }
    }
    """

    def __init__(self, question: str, model: str) -> None:
        super().__init__(classes="exchange")
        self.question = question
        self.model = model
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"[b]You[/b] → {self.model}: {self.question}", classes="question", markup=True)
        yield Markdown("", classes="answer")
        yield Static("…", classes="figures")

    @property
    def markdown(self) -> Markdown:
        return self.query_one(Markdown)

    async def append(self, text: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        await self._stream.write(text)

    async def _stop(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    async def finish(self, stats: Stats, show_timing: bool) -> None:
        await self._stop()
        self.query_one(".figures", Static).update(figures(stats, show_timing))

    async def fail(self, message: str) -> None:
        await self._stop()
        self.add_class("failed")
        self.query_one(".figures", Static).update(f"⚠ {message}")

    async def cancelled(self) -> None:
        await self._stop()
        self.add_class("failed")
        self.query_one(".figures", Static).update("⏹ cancelled")

    async def show(self, text: str, note: str) -> None:
        """A saved answer, reopened."""
        await self.markdown.update(text)
        self.query_one(".figures", Static).update(note)

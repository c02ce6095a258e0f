"""The main screen: models and sample questions on the left, the conversation on the right."""

from __future__ import annotations

from typing import ClassVar

from openai.types.chat import ChatCompletionMessageParam
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Input, Label, Static
from textual.worker import Worker, WorkerState

from ..client import Delta, Failed, Finished, Stats
from ..store import Conversation, Turn
from ..widgets.answer import Exchange, figures
from ..widgets.model_picker import ModelPicker
from ..widgets.samples import SampleQuestions
from .base import TuiScreen
from .conversations import ConversationsScreen


class ChatScreen(TuiScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel answer"),
        Binding("ctrl+n", "new", "New"),
        Binding("ctrl+o", "open", "Open"),
        Binding("ctrl+e", "export", "Export", priority=True),  # over the input's end-of-line
        Binding("ctrl+s", "focus_samples", "Samples"),
        Binding("ctrl+l", "focus_models", "Models"),
        Binding("ctrl+t", "app.toggle_dark", "Theme"),
        *[Binding(f"alt+{n % 10}", f"sample({n})", show=False) for n in range(1, 11)],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.conversation = Conversation()
        self.model = ""
        self.worker: Worker | None = None
        self.totals = {"answers": 0, "tokens": 0, "latency": 0.0}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="sidebar"):
                yield Label("Model", classes="heading")
                yield ModelPicker(id="models")
                yield Label("Sample questions  (alt+1…0)", classes="heading")
                yield SampleQuestions(id="samples")
            with Vertical(id="main"):
                yield VerticalScroll(id="transcript")
                yield Input(placeholder="Ask about the candidate…  (Enter sends)", id="question")
        yield Static("", id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#question", Input).focus()
        self.sub_title = self.tui.display_url
        await self.refresh_lists()

    async def refresh_lists(self) -> None:
        client = self.tui.client
        try:
            models = await client.models()
        except Exception:  # shown by the connection status; the lists stay as they were
            models = []
        if models:
            names = [m.id for m in models]
            remembered = self.tui.config.last_model
            mock = next((m.id for m in models if m.group == "mock"), None)
            self.model = self.model if self.model in names else remembered if remembered in names else mock or names[0]
            self.query_one(ModelPicker).set_models(models, self.model)
        try:
            questions = await client.sample_questions()
        except Exception:
            questions = []
        samples = self.query_one(SampleQuestions)
        if questions:
            samples.set_questions(questions)
        elif not samples.questions:
            samples.set_questions([])
        self.update_status()

    def update_status(self) -> None:
        state = self.tui.connection
        marks = {
            "connected": "● connected",
            "draining": "◐ draining",
            "unauthorized": "✖ key needed",
            "unreachable": "✖ unreachable",
            "unknown": "○ connecting",
        }
        t = self.totals
        mean = (t["latency"] / t["answers"] * 1000) if t["answers"] else 0
        timing = f" · mean latency {mean:,.0f} ms" if self.tui.show_timing and t["answers"] else ""
        self.query_one("#status", Static).update(
            f"{marks.get(state, state)} {self.tui.display_url} · model {self.model or '—'} · "
            f"{t['answers']} answers · {t['tokens']} tokens{timing}"
        )

    # -- asking ---------------------------------------------------------------------------
    def on_model_picker_picked(self, event: ModelPicker.Picked) -> None:
        self.use_model(event.model)

    def use_model(self, model: str) -> None:
        """Ask `model` from the next question on (and remember it for the next start)."""
        self.model = model
        self.tui.remember_model(model)
        self.update_status()
        self.query_one("#question", Input).focus()

    def on_sample_questions_asked(self, event: SampleQuestions.Asked) -> None:
        self.ask(event.question)

    def action_sample(self, number: int) -> None:
        self.query_one(SampleQuestions).action_ask(number)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if question:
            event.input.value = ""
            self.ask(question)

    def ask(self, question: str) -> None:
        if self.worker is not None and self.worker.state == WorkerState.RUNNING:
            self.notify("Wait for the answer, or press Escape to cancel it.", severity="warning")
            return
        if not self.model:
            self.notify("No model to ask: the proxy listed none.", severity="error")
            return
        if self.conversation.title == "New conversation":
            self.conversation.title = question[:60]
        self.conversation.turns.append(Turn("user", question))
        exchange = Exchange(question, self.model)
        self.query_one("#transcript").mount(exchange)
        self.worker = self.stream_answer(exchange, self.model, self.conversation.messages())

    @work(exclusive=True, group="answer")
    async def stream_answer(self, exchange: Exchange, model: str, messages: list[ChatCompletionMessageParam]) -> None:
        transcript = self.query_one("#transcript", VerticalScroll)
        text: list[str] = []
        stats = Stats(model=model)
        try:
            async for event in self.tui.client.ask(model, messages):
                if isinstance(event, Delta):
                    text.append(event.text)
                    await exchange.append(event.text)
                    transcript.scroll_end(animate=False)
                elif isinstance(event, Finished):
                    stats = event.stats
                    await exchange.finish(stats, self.tui.show_timing)
                    self._record(model, "".join(text), stats)
                elif isinstance(event, Failed):
                    await exchange.fail(event.message)
                    self.conversation.turns.append(Turn("error", event.message, model))
        except BaseException:
            await exchange.cancelled()
            if text:  # keep what arrived, marked as cut short
                self.conversation.turns.append(Turn("assistant", "".join(text) + "\n\n_(cancelled)_", model))
            self.tui.store.save(self.conversation)
            raise
        self.tui.store.save(self.conversation)
        transcript.scroll_end(animate=False)

    def _record(self, asked: str, text: str, stats: Stats) -> None:
        self.conversation.turns.append(
            Turn(
                "assistant",
                text,
                stats.model,
                {
                    "latency": stats.latency,
                    "ttft": stats.ttft,
                    "prompt_tokens": stats.prompt_tokens,
                    "completion_tokens": stats.completion_tokens,
                },
            )
        )
        self.totals["answers"] += 1
        self.totals["tokens"] += stats.prompt_tokens + stats.completion_tokens
        self.totals["latency"] += stats.latency
        self.update_status()

    def action_cancel(self) -> None:
        if self.worker is not None and self.worker.state == WorkerState.RUNNING:
            self.worker.cancel()

    # -- conversations ----------------------------------------------------------------------
    async def action_new(self) -> None:
        self.action_cancel()
        self.conversation = Conversation()
        await self.query_one("#transcript").remove_children()
        self.query_one("#question", Input).focus()

    def action_open(self) -> None:
        self.tui.push_screen(ConversationsScreen(self.tui.store.list()), self._opened)

    async def _opened(self, conversation_id: str | None) -> None:
        if conversation_id:
            await self.open_conversation(self.tui.store.load(conversation_id))

    async def open_conversation(self, conversation: Conversation) -> None:
        self.action_cancel()
        self.conversation = conversation
        transcript = self.query_one("#transcript")
        await transcript.remove_children()
        pending = None
        for turn in conversation.turns:
            if turn.role == "user":
                pending = turn.content
                continue
            exchange = Exchange(pending or "", turn.model or self.model)
            await transcript.mount(exchange)
            if turn.role == "assistant":
                s = turn.stats
                await exchange.show(
                    turn.content,
                    figures(
                        Stats(
                            turn.model,
                            s.get("latency", 0),
                            s.get("ttft", 0),
                            s.get("prompt_tokens", 0),
                            s.get("completion_tokens", 0),
                        ),
                        self.tui.show_timing,
                    ),
                )
            else:
                await exchange.fail(turn.content)
            pending = None
        self.notify(f"Reopened “{conversation.title}”")

    def action_export(self) -> None:
        if not self.conversation.turns:
            self.notify("Nothing to export yet.", severity="warning")
            return
        path = self.tui.store.export(self.conversation)
        self.notify(f"Exported to {path}")

    def action_focus_samples(self) -> None:
        self.query_one(SampleQuestions).focus()

    def action_focus_models(self) -> None:
        self.query_one(ModelPicker).focus()

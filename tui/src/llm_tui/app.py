"""llm-tui: a terminal client for the LLM proxy."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import cast

from textual.app import App
from textual.command import Hit, Hits, Provider

from .client import ProxyClient
from .config import TuiConfig, data_dir
from .screens.chat import ChatScreen
from .screens.unreachable import UnreachableScreen
from .store import ConversationStore
from .widgets.model_picker import ModelPicker

POLL_SECONDS = 5.0


class LlmCommands(Provider):
    """Command palette entries of our own (ctrl+p)."""

    async def search(self, query: str) -> Hits:
        app = cast(LlmTui, self.app)
        chat = app.chat
        entries: list[tuple[str, Callable[[], object], str]] = [
            ("New conversation", chat.action_new, "Start over with an empty conversation"),
            ("Open conversation…", chat.action_open, "Reopen a saved conversation"),
            ("Export conversation as Markdown", chat.action_export, "Write it to the data directory"),
            ("Toggle light/dark theme", app.action_toggle_dark, "Remembered for next time"),
            ("Reload models and sample questions", chat.refresh_lists, "Ask the proxy again"),
        ]
        for model in [o.id for o in chat.query_one(ModelPicker).options if o.id]:
            entries.append(
                (f"Use model {model}", partial(chat.use_model, model), "Switch the model for the next question")
            )
        matcher = self.matcher(query)
        for title, callback, help_text in entries:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class LlmTui(App):
    TITLE = "llm-tui"
    CSS_PATH = "styles/app.tcss"
    COMMANDS = App.COMMANDS | {LlmCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        config: TuiConfig,
        *,
        store: ConversationStore | None = None,
        clock: Callable[[], float] = time.perf_counter,
        show_timing: bool = True,
        poll_seconds: float = POLL_SECONDS,
        display_url: str | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.display_url = display_url or config.url  # what the screens show (snapshots pin it)
        self.store = store or ConversationStore(data_dir() / "conversations")
        self.client = ProxyClient(config.url, config.api_key, config.extra_headers, clock=clock)
        self.show_timing = show_timing  # snapshot tests turn clock-dependent figures off
        self.poll_seconds = poll_seconds
        self.connection = "unknown"
        self.chat = ChatScreen()
        self.theme = config.theme if config.theme in self.available_themes else "textual-dark"

    async def on_mount(self) -> None:
        await self.push_screen(self.chat)
        await self.check_connection()
        self.set_interval(self.poll_seconds, self.check_connection)

    async def check_connection(self) -> None:
        state = await self.client.readiness()
        previous, self.connection = self.connection, state
        blocked = state in ("unreachable", "unauthorized")
        showing = isinstance(self.screen, UnreachableScreen)
        if blocked and not showing:
            await self.push_screen(UnreachableScreen(state, self.display_url))
        elif not blocked and showing:
            self.pop_screen()
        if not blocked and previous != state and previous in ("unknown", "unreachable", "unauthorized"):
            await self.chat.refresh_lists()
        self.chat.update_status()

    def remember_model(self, model: str) -> None:
        self.config.last_model = model
        self._save_config()

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        self.config.theme = self.theme
        self._save_config()

    def _save_config(self) -> None:
        try:
            self.config.save()
        except OSError as exc:
            self.notify(f"Could not save settings: {exc}", severity="warning")

    async def on_unmount(self) -> None:
        await self.client.close()

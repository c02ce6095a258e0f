"""Saved conversations: pick one to reopen it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from ..store import Conversation


class ConversationsScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ConversationsScreen {
        align: center middle;
        #dialog {
            width: 90;
            height: 24;
            border: round $primary;
            background: $surface;
            padding: 1 2;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, conversations: list[Conversation]) -> None:
        super().__init__()
        self.conversations = conversations

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Saved conversations  (Enter opens)", classes="heading")
            options = [
                Option(f"{c.created[:16].replace('T', ' ')}  {c.title}  ({len(c.turns)} turns)", id=c.id)
                for c in self.conversations
            ]
            yield OptionList(*options) if options else Label("No saved conversations yet.")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

"""Model picker: the proxy's models grouped as fine-tuned / mock / OpenAI."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ..client import GROUP_ORDER, GROUP_TITLES, Model


class ModelPicker(OptionList):
    class Picked(Message):
        def __init__(self, model: str) -> None:
            super().__init__()
            self.model = model

    def set_models(self, models: list[Model], selected: str | None) -> None:
        self.clear_options()
        index = None
        for group in GROUP_ORDER:
            members = [m for m in models if m.group == group]
            if not members:
                continue
            self.add_option(Option(f"── {GROUP_TITLES[group]} ──", disabled=True))
            for model in members:
                self.add_option(Option(f"  {model.id}", id=model.id))
                if model.id == selected:
                    index = self.option_count - 1
        if index is not None:
            self.highlighted = index

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Picked(event.option.id))

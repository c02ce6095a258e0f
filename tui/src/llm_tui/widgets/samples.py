"""Sample questions from the proxy: click one, or focus the list and press its number."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class SampleQuestions(OptionList):
    BINDINGS: ClassVar[list[BindingType]] = [Binding(str(n % 10), f"ask({n})", show=False) for n in range(1, 11)]

    class Asked(Message):
        def __init__(self, question: str) -> None:
            super().__init__()
            self.question = question

    questions: tuple[str, ...] = ()  # replaced, never mutated: safe as a class default

    def set_questions(self, questions: list[str]) -> None:
        self.questions = tuple(questions)
        self.clear_options()
        for n, question in enumerate(questions, 1):
            self.add_option(Option(f"{n % 10 if n <= 10 else ' '} {question}", id=str(n)))

    def action_ask(self, number: int) -> None:
        if 1 <= number <= len(self.questions):
            self.post_message(self.Asked(self.questions[number - 1]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.action_ask(int(event.option.id))

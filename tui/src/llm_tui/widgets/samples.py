"""Sample questions from the proxy: click one, or focus the list and press its number."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class SampleQuestions(OptionList):
    BINDINGS = [Binding(str(n % 10), f"ask({n})", show=False) for n in range(1, 11)]

    class Asked(Message):
        def __init__(self, question: str) -> None:
            super().__init__()
            self.question = question

    questions: list[str] = []

    def set_questions(self, questions: list[str]) -> None:
        self.questions = questions
        self.clear_options()
        for n, question in enumerate(questions, 1):
            self.add_option(Option(f"{n % 10 if n <= 10 else ' '} {question}", id=str(n)))

    def action_ask(self, number: int) -> None:
        if 1 <= number <= len(self.questions):
            self.post_message(self.Asked(self.questions[number - 1]))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_ask(int(event.option.id))

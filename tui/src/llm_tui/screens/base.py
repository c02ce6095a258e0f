"""What every llm-tui screen shares: `self.tui`, the running app with its own type, where
`self.app` is only a Textual `App` to a type checker."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import Screen

if TYPE_CHECKING:  # the app imports the screens; the screens need its type only
    from ..app import LlmTui

ResultType = TypeVar("ResultType")


class TuiScreen(Screen[ResultType]):
    @property
    def tui(self) -> LlmTui:
        return cast("LlmTui", self.app)

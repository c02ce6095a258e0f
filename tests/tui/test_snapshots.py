"""Snapshots of the main screens (stable: no clock figures, a pinned URL label, fixed size, and a
cursor that does not blink, so the snapshot never lands between two blinks)."""

from fixtures.pilot import settle
from textual.widgets import Input

from llm_tui.app import LlmTui
from llm_tui.config import load_config
from llm_tui.store import Conversation, ConversationStore, Turn
from llm_tui.widgets.answer import Exchange

SIZE = (130, 36)
LABEL = "http://proxy.test:8000"


def _steady_cursor(app) -> None:
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False  # the cursor then stays drawn


def test_main_screen_with_an_answer(snap_compare, stack):
    app = LlmTui(load_config(stack.url), show_timing=False, display_url=LABEL, poll_seconds=600)

    async def ask(pilot):
        await settle(pilot, lambda: app.chat.query_one("#samples").option_count >= 10)
        await pilot.press("alt+9")
        await settle(
            pilot,
            lambda: (
                list(app.chat.query(Exchange))
                and "tokens" in str(app.chat.query_one(Exchange).query_one(".figures").render())
            ),
        )
        _steady_cursor(app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=ask)


def test_unreachable_screen(snap_compare, isolated_dirs):
    app = LlmTui(load_config("http://127.0.0.1:9"), display_url=LABEL, poll_seconds=600)

    async def wait(pilot):
        await settle(pilot, lambda: app.screen.__class__.__name__ == "UnreachableScreen")
        _steady_cursor(app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=wait)


def test_conversations_screen(snap_compare, stack, isolated_dirs):
    store = ConversationStore(isolated_dirs / "data" / "conversations")
    store.save(
        Conversation(
            id="a1",
            title="When is his birthday?",
            created="2026-11-20T10:00:00+00:00",
            turns=[Turn("user", "When is his birthday?"), Turn("assistant", "7 January 1998.")],
        )
    )
    store.save(
        Conversation(
            id="b2",
            title="Which sports can Louis play?",
            created="2026-11-21T09:30:00+00:00",
            turns=[Turn("user", "Which sports can Louis play?")],
        )
    )
    app = LlmTui(load_config(stack.url), store=store, show_timing=False, display_url=LABEL, poll_seconds=600)

    async def open_list(pilot):
        await settle(pilot, lambda: app.chat.model)
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: app.screen.__class__.__name__ == "ConversationsScreen")
        _steady_cursor(app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=open_list)

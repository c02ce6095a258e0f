"""Drive llm-tui with Pilot against a real proxy and mock."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fixtures.pilot import settle
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Input, Markdown

from llm_tui.app import LlmTui
from llm_tui.config import load_config
from llm_tui.screens.chat import ChatScreen
from llm_tui.screens.conversations import ConversationsScreen
from llm_tui.screens.unreachable import UnreachableScreen
from llm_tui.widgets.answer import Exchange
from llm_tui.widgets.model_picker import ModelPicker

SIZE = (140, 40)


@asynccontextmanager
async def ready(url: str, api_key: str | None = None) -> AsyncIterator[tuple[LlmTui, Pilot]]:
    """llm-tui against `url`, running, with the proxy's models listed and one picked."""
    app = LlmTui(load_config(url, api_key))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.chat.model)
        yield app, pilot


def exchanges(app) -> list[Exchange]:
    return list(app.chat.query(Exchange))


def answer_text(exchange: Exchange) -> str:
    return exchange.markdown.source


def figures_text(exchange: Exchange) -> str:
    return str(exchange.query_one(".figures").render())


async def test_first_start_picks_the_mock_and_focuses_the_question(stack):
    async with ready(stack.url) as (app, _):
        assert app.chat.model == "mock-gpt-model-0701"
        assert isinstance(app.focused, Input)
        picker = app.chat.query_one(ModelPicker)
        labels = [str(o.prompt) for o in picker.options]
        assert labels.index("── Fine-tuned ──") < labels.index("── Mock ──") < labels.index("── OpenAI ──")
        assert app.connection == "connected"


async def test_asking_a_sample_question_streams_the_answer_with_figures(stack):
    app = LlmTui(load_config(stack.url))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.chat.query_one("#samples").option_count >= 10)
        await pilot.press("alt+4")
        await settle(pilot, lambda: exchanges(app) and "tokens" in figures_text(exchanges(app)[0]))
        exchange = exchanges(app)[0]
        assert exchange.question == "How many programming languages has Louis employed in his projects?"
        assert "Java" in answer_text(exchange)
        assert "answered by mock-gpt-model-0701" in figures_text(exchange)
        assert "first token" in figures_text(exchange)
        assert app.chat.totals["answers"] == 1 and app.chat.totals["tokens"] > 0


async def test_a_typed_question_is_answered_and_counted(stack):
    async with ready(stack.url) as (app, pilot):
        await pilot.click("#question")
        await pilot.press(*"When is his birthday?")
        await pilot.press("enter")
        await settle(pilot, lambda: exchanges(app) and "tokens" in figures_text(exchanges(app)[0]))
        assert "1998" in answer_text(exchanges(app)[0])
        status = str(app.chat.query_one("#status").render())
        assert "1 answers" in status and "connected" in status


async def test_the_picked_model_is_remembered(stack):
    async with ready(stack.url) as (app, pilot):
        picker = app.chat.query_one(ModelPicker)
        index = next(i for i, o in enumerate(picker.options) if o.id == "louis-ft")
        picker.highlighted = index
        picker.action_select()
        await settle(pilot, lambda: app.chat.model == "louis-ft")
    async with ready(stack.url) as (again, pilot):
        assert again.chat.model == "louis-ft"


async def test_a_proxy_error_is_shown_as_what_it_means(stack):
    async with ready(stack.url) as (app, pilot):
        app.chat.model = "gpt-4"  # routed to a backend that is down
        app.chat.ask("When is his birthday?")
        await settle(pilot, lambda: exchanges(app) and "⚠" in figures_text(exchanges(app)[0]))
        text = figures_text(exchanges(app)[0])
        assert "down or unreachable" in text and "{" not in text
        app.chat.model = "no-such-model"
        app.chat.ask("hello")
        await settle(pilot, lambda: len(exchanges(app)) == 2 and "⚠" in figures_text(exchanges(app)[1]))
        assert "does not know this model" in figures_text(exchanges(app)[1])


async def test_escape_cancels_a_streaming_answer(stack, monkeypatch):
    monkeypatch.setenv("LLM_TUI_EXTRA_HEADERS", '{"X-Mock-Token-Delay-Ms": "100", "X-Mock-Response-Tokens": "200"}')
    async with ready(stack.url) as (app, pilot):
        app.chat.ask("Tell me a long story")
        await settle(pilot, lambda: exchanges(app) and answer_text(exchanges(app)[0]))
        await pilot.press("escape")
        await settle(pilot, lambda: "cancelled" in figures_text(exchanges(app)[0]))
        assert len(answer_text(exchanges(app)[0])) < 400
        turns = app.chat.conversation.turns
        assert turns[-1].role == "assistant" and turns[-1].content.endswith("_(cancelled)_")


async def test_conversations_are_saved_reopened_and_exported(stack):
    async with ready(stack.url) as (app, pilot):
        app.chat.ask("Which sports can Louis play?")
        await settle(pilot, lambda: exchanges(app) and "tokens" in figures_text(exchanges(app)[0]))
        saved_id = app.chat.conversation.id
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: not exchanges(app))
        await pilot.press("ctrl+o")
        await settle(pilot, lambda: isinstance(app.screen, ConversationsScreen))
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ChatScreen) and exchanges(app))
        assert app.chat.conversation.id == saved_id
        assert "badminton" in answer_text(exchanges(app)[0]).lower()
        await pilot.press("ctrl+e")
        exported = list((app.store.root / "exports").glob("*.md"))
        assert len(exported) == 1
        text = exported[0].read_text()
        assert "**You:** Which sports can Louis play?" in text and "badminton" in text.lower()


async def test_an_unreachable_proxy_gets_a_readable_screen(isolated_dirs):
    app = LlmTui(load_config("http://127.0.0.1:9"), poll_seconds=60)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, UnreachableScreen))
        text = app.screen.query_one(Markdown).source
        assert "http://127.0.0.1:9" in text and "make run" in text and "port-forward" in text


async def test_a_missing_key_says_how_to_give_one(keyed_stack):
    app = LlmTui(load_config(keyed_stack.url), poll_seconds=60)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, UnreachableScreen))
        assert "--api-key" in app.screen.query_one(Markdown).source
    async with ready(keyed_stack.url, "tui-key-123") as (ok, pilot):
        assert ok.connection == "connected"


async def test_theme_toggle_is_remembered(stack):
    async with ready(stack.url) as (app, pilot):
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
    assert load_config(stack.url).theme == "textual-light"


async def test_the_command_palette_switches_the_model(stack):
    app = LlmTui(load_config(stack.url))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, lambda: app.chat.model == "mock-gpt-model-0701")
        await pilot.press("ctrl+p")
        await pilot.press(*"Use model louis-ft")

        def best_hit_is_the_model() -> bool:
            hits = app.screen.query_one(CommandList)
            return bool(hits.option_count) and "louis-ft" in str(hits.get_option_at_index(0).prompt)

        await settle(pilot, best_hit_is_the_model)
        await pilot.press("enter")
        await settle(pilot, lambda: app.chat.model == "louis-ft")
        assert isinstance(app.screen, ChatScreen) and "model louis-ft" in str(app.chat.query_one("#status").render())
    assert load_config(stack.url).last_model == "louis-ft"

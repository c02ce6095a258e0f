"""The TUI's settings: CLI > env > config.toml > default, and the file written back as TOML that
reads the same (any text in values and header names), never with a key that came from outside it."""

import tomllib

import pytest

from llm_tui.config import DEFAULT_URL, load_config

pytestmark = pytest.mark.unit

AWKWARD = 'a "quoted" \\ back\\slash, ünïcode ✓ 🚀, a tab\tand a\nnew line'


def test_nothing_set_is_the_defaults(isolated_dirs):
    config = load_config()
    assert (config.url, config.api_key, config.theme, config.last_model) == (DEFAULT_URL, "", "textual-dark", "")
    assert config.extra_headers == {}


def test_what_is_saved_loads_back_the_same(isolated_dirs):
    config = load_config()
    config.theme = "textual-light"
    config.last_model = AWKWARD
    config.extra_headers = {"X-Mock-Token-Delay-Ms": "40", "X-Odd Name: =": AWKWARD}
    config.save()
    document = tomllib.loads(config.path.read_text())
    assert document["last_model"] == AWKWARD and document["extra_headers"]["X-Odd Name: ="] == AWKWARD
    again = load_config()
    assert (again.theme, again.last_model, again.extra_headers) == ("textual-light", AWKWARD, config.extra_headers)


def test_a_key_from_the_command_line_or_the_environment_is_never_written(isolated_dirs, monkeypatch):
    load_config(api_key="cli-key-123").save()
    monkeypatch.setenv("LLM_PROXY_API_KEY", "env-key-456")
    load_config().save()
    text = (isolated_dirs / "config" / "config.toml").read_text()
    assert "cli-key-123" not in text and "env-key-456" not in text and "api_key" not in text


def test_a_key_from_the_file_stays_in_it(isolated_dirs):
    path = isolated_dirs / "config" / "config.toml"
    path.parent.mkdir()
    path.write_text('api_key = "file-key-789"\n')
    config = load_config()
    config.last_model = "mock-gpt-model-0701"
    config.save()
    assert tomllib.loads(path.read_text()) == {
        "url": DEFAULT_URL,
        "api_key": "file-key-789",
        "theme": "textual-dark",
        "last_model": "mock-gpt-model-0701",
    }


def test_the_command_line_beats_the_environment_which_beats_the_file(isolated_dirs, monkeypatch):
    path = isolated_dirs / "config" / "config.toml"
    path.parent.mkdir()
    path.write_text('url = "http://from-file:1"\napi_key = "file-key"\n[extra_headers]\nX-A = "file"\n')
    assert load_config().url == "http://from-file:1"
    monkeypatch.setenv("LLM_PROXY_URL", "http://from-env:2/")
    monkeypatch.setenv("LLM_TUI_EXTRA_HEADERS", '{"X-A": "env", "X-B": "env"}')
    config = load_config()
    assert config.url == "http://from-env:2" and config.api_key == "file-key"
    assert config.extra_headers == {"X-A": "env", "X-B": "env"}
    assert load_config("http://from-cli:3", "cli-key").url == "http://from-cli:3"
    assert load_config("http://from-cli:3", "cli-key").api_key == "cli-key"


def test_a_damaged_file_is_ignored_not_fatal(isolated_dirs):
    path = isolated_dirs / "config" / "config.toml"
    path.parent.mkdir()
    path.write_text('url = "unterminated\n')
    assert load_config().url == DEFAULT_URL

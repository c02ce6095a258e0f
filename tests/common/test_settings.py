"""llm_common.settings: the one strict settings loader both services use."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from llm_common.settings import SettingsError, describe, load, markdown_table, setting
from llm_proxy.settings import ProxySettings, parse_args

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Example:
    port: int = setting(8000, "port", minimum=1, maximum=65535)
    ratio: float = setting(0.5, "a share", minimum=0, maximum=1)
    verbose: bool = setting(False, "more output")
    mode: Literal["fast", "safe"] = setting("safe", "how")
    path: Path | None = setting(None, "a file")
    names: tuple[str, ...] = setting(("a",), "names")
    label: str = setting("x", "a label")


def test_defaults_then_file_then_environment_then_flags(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("port: 7000\nratio: 0.25\nverbose: true\nnames: [p, q]\n")
    got = load(
        Example, "EX_", environ={"EX_PORT": "7100", "EX_MODE": "FAST"}, config_file=config, flags={"port": "7200"}
    )
    assert got == Example(port=7200, ratio=0.25, verbose=True, mode="fast", names=("p", "q"))
    assert load(Example, "EX_", environ={}) == Example()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"EX_PORT": "eighty"}, "EX_PORT: expected a whole number, got 'eighty'"),
        ({"EX_PORT": "1.5"}, "EX_PORT: expected a whole number"),
        ({"EX_PORT": "0"}, "EX_PORT: must be at least 1, got 0"),
        ({"EX_PORT": "70000"}, "EX_PORT: must be at most 65535"),
        ({"EX_RATIO": "nan"}, "EX_RATIO: expected a finite number"),
        ({"EX_RATIO": "half"}, "EX_RATIO: expected a number, got 'half'"),
        ({"EX_VERBOSE": "maybe"}, "EX_VERBOSE: expected true or false, got 'maybe'"),
        ({"EX_VERBOSE": ""}, "EX_VERBOSE: expected true or false"),
        ({"EX_MODE": "quick"}, "EX_MODE: expected one of fast, safe, got 'quick'"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(environ, message):
    with pytest.raises(SettingsError) as caught:
        load(Example, "EX_", environ=environ)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot: 1\n", "unknown setting 'prot'"),
        ("port: true\n", ": port: expected a whole number, got True"),
        ("verbose: 2\n", ": verbose: expected true or false, got 2"),
        ("label: 5\n", ": label: expected text, got 5"),
        ("- port\n", "must be a mapping"),
        ("port: [1\n", "cannot read the settings file"),
    ],
)
def test_a_bad_settings_file_is_refused_with_its_name(tmp_path, text, message):
    config = tmp_path / "s.yaml"
    config.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load(Example, "EX_", environ={}, config_file=config)
    assert str(config) in str(caught.value) and message in str(caught.value)


def test_booleans_take_the_usual_spellings_and_empty_optionals_are_none():
    for raw, want in (("1", True), ("yes", True), ("On", True), ("0", False), ("no", False), ("OFF", False)):
        assert load(Example, "EX_", environ={"EX_VERBOSE": raw}).verbose is want
    assert load(Example, "EX_", environ={"EX_PATH": ""}).path is None
    assert load(Example, "EX_", environ={"EX_PATH": "/x/y"}).path == Path("/x/y")
    assert load(Example, "EX_", environ={"EX_NAMES": " a, b ,,c "}).names == ("a", "b", "c")


def test_the_proxy_command_line_names_the_flag_or_variable_it_refuses(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--port", "http"], environ={})
    assert "--port: expected a whole number, got 'http'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args([], environ={"LLM_PROXY_RETRY_ATTEMPTS": "three"})
    assert "LLM_PROXY_RETRY_ATTEMPTS: expected a whole number" in capsys.readouterr().err
    assert parse_args(["--log-level", "warning"], environ={}).log_level == "WARNING"


def test_every_proxy_setting_is_documented():
    for info in describe(ProxySettings, "LLM_PROXY_"):
        assert info.help.strip(), f"{info.name} has no help text"
    assert "| `LLM_PROXY_PORT` | whole number | `8000` |" in markdown_table(ProxySettings, "LLM_PROXY_")


def test_the_configuration_document_is_current():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_configuration_doc.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr

"""Proxy settings: defaults, typed values from the environment, and flag > env > file > default."""

import pytest

from llm_proxy.settings import ProxySettings, parse_args

pytestmark = pytest.mark.unit


def test_nothing_set_is_the_documented_defaults():
    assert parse_args([], environ={}) == ProxySettings()


def test_environment_values_arrive_typed():
    settings = parse_args(
        [],
        environ={
            "LLM_PROXY_PORT": "9000",
            "LLM_PROXY_RETRY_BACKOFF": "0.5",
            "LLM_PROXY_METRICS_REQUIRE_KEY": "true",
            "LLM_PROXY_ROUTES": "/etc/llm-proxy/routes.yaml",
        },
    )
    assert settings.port == 9000
    assert settings.retry_backoff == 0.5
    assert settings.metrics_require_key is True
    assert str(settings.routes) == "/etc/llm-proxy/routes.yaml"


def test_a_flag_beats_the_environment_which_beats_the_settings_file(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("port: 7001\nlog_level: DEBUG\nretry_attempts: 5\n")
    environ = {"LLM_PROXY_CONFIG": str(config), "LLM_PROXY_PORT": "7002", "LLM_PROXY_LOG_LEVEL": "WARNING"}
    settings = parse_args(["--port", "7003"], environ=environ)
    assert (settings.port, settings.log_level, settings.retry_attempts) == (7003, "WARNING", 5)


@pytest.mark.parametrize(
    "argv, environ, fragment",
    [
        (["--config", "{config}"], {}, "unknown setting 'no_such_setting'"),
        ([], {"LLM_PROXY_LOG_FORMAT": "xml"}, "LLM_PROXY_LOG_FORMAT: expected one of text, json, got 'xml'"),
        ([], {"LLM_PROXY_PORT": "eighty"}, "LLM_PROXY_PORT: expected a whole number, got 'eighty'"),
    ],
)
def test_bad_settings_stop_the_start_with_a_reason(tmp_path, capsys, argv, environ, fragment):
    config = tmp_path / "settings.yaml"
    config.write_text("no_such_setting: 1\n")
    with pytest.raises(SystemExit) as exit_:
        parse_args([a.format(config=config) for a in argv], environ=environ)
    assert exit_.value.code == 2
    assert fragment in capsys.readouterr().err

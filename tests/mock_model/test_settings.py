"""Mock settings: defaults, typed values from the environment, flags over the environment."""

import pytest

from llm_common.settings import describe
from mock_model.settings import ENV_PREFIX, MockSettings, parse_args

pytestmark = pytest.mark.unit


def test_nothing_set_is_the_documented_defaults():
    assert parse_args([], environ={}) == MockSettings()


def test_environment_values_arrive_typed_and_flags_win():
    environ = {
        "MOCK_MODEL_MODELS": "a-model, b-model",
        "MOCK_MODEL_TOKEN_DELAY_MS": "40",
        "MOCK_MODEL_ACCESS_LOG": "yes",
        "MOCK_MODEL_PORT": "6000",
    }
    settings = parse_args(["--port", "6001"], environ=environ)
    assert settings.models == ("a-model", "b-model")
    assert settings.token_delay_ms == 40.0
    assert settings.access_log is True
    assert settings.port == 6001


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--fault-rate", "1.5"], "--fault-rate: must be at most 1"),
        (["--tokens-per-chunk", "0"], "at least 1"),
        (["--fault", "meteor"], "--fault: expected one of status, rate_limit"),
    ],
)
def test_out_of_range_knobs_stop_the_start_with_a_reason(capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv, environ={})
    assert exit_.value.code == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, raw, fragment",
    [
        ("MOCK_MODEL_ACCESS_LOG", "maybe", "true or false"),
        ("MOCK_MODEL_PORT", "eighty", "whole number"),
        ("MOCK_MODEL_TTFT_MS", "soon", "number"),
        ("MOCK_MODEL_FAULT_RATE", "-0.1", "at least 0"),
    ],
)
def test_bad_values_in_the_environment_stop_the_start_naming_the_variable(capsys, name, raw, fragment):
    with pytest.raises(SystemExit) as exit_:
        parse_args([], environ={name: raw})
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert name in err and fragment in err and raw in err


def test_a_settings_file_sits_under_the_environment_and_every_setting_is_documented(tmp_path):
    config = tmp_path / "mock.yaml"
    config.write_text("port: 6100\nmodels: [a, b]\nfault: cut\nfault_rate: 0.25\n")
    settings = parse_args(["--config", str(config)], environ={"MOCK_MODEL_PORT": "6200"})
    assert (settings.port, settings.models, settings.fault, settings.fault_rate) == (6200, ("a", "b"), "cut", 0.25)
    assert parse_args([], environ={"MOCK_MODEL_CONFIG": str(config)}).port == 6100
    for info in describe(MockSettings, ENV_PREFIX):
        assert info.help.strip(), f"{info.name} has no help text"

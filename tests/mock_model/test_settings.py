"""Mock settings: defaults, typed values from the environment, flags over the environment."""

import pytest

from mock_model.settings import MockSettings, parse_args

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
    [(["--fault-rate", "1.5"], "--fault-rate must be between 0 and 1"), (["--tokens-per-chunk", "0"], "at least 1")],
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
    ],
)
def test_bad_values_in_the_environment_stop_the_start_naming_the_variable(capsys, name, raw, fragment):
    with pytest.raises(SystemExit) as exit_:
        parse_args([], environ={name: raw})
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert name in err and fragment in err and repr(raw) in err

"""The routing table: the format, env interpolation, and validation that names the key."""

from importlib import resources

import pytest
import yaml
from fixtures.seed_api import PACKAGED_OPENAI_MODELS

from llm_proxy.routing import RoutingError, interpolate, parse_routes

pytestmark = pytest.mark.unit

BASE = {
    "backends": {
        "openai": {"base_url": "https://api.openai.com/v1", "api_key": "sk-test"},
        "mock": {"base_url": "http://127.0.0.1:5050/v1"},
    },
    "models": [
        {
            "name": "gpt-4",
            "group": "openai",
            "backend": "openai",
            "context": "knowledge",
            "fallbacks": ["gpt-3.5-turbo", "mock-gpt-model-0701"],
        },
        {"name": "gpt-3.5-turbo", "group": "openai", "backend": "openai", "context": "knowledge"},
        {"name": "mock-gpt-model-0701", "group": "mock", "backend": "mock"},
    ],
}


def table_with(**changes):
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is ...:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return yaml.safe_dump(doc)


def test_a_valid_table_parses_with_defaults():
    table = parse_routes(yaml.safe_dump(BASE))
    assert table.names() == ["gpt-4", "gpt-3.5-turbo", "mock-gpt-model-0701"]
    gpt4 = table.get("gpt-4")
    assert gpt4.upstream_model == "gpt-4" and gpt4.context == "knowledge"
    assert gpt4.fallbacks == ("gpt-3.5-turbo", "mock-gpt-model-0701")
    assert table.get("mock-gpt-model-0701").context == "none"
    assert table.timeouts_for(gpt4).first_byte == 60.0


def test_the_backend_key_never_shows_in_a_repr():
    table = parse_routes(yaml.safe_dump(BASE))
    assert "sk-test" not in repr(table)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"models__2__backend": "opnai"}, "models[2].backend: unknown backend 'opnai' (known: mock, openai)"),
        ({"models__2__name": "gpt-4"}, "models[2].name: duplicate model name 'gpt-4' (first at models[0])"),
        ({"models__1__fallbacks": ["gpt-4"]}, "fallback cycle"),
        ({"models__0__fallbacks": ["gpt-5"]}, "models[0].fallbacks: unknown model 'gpt-5'"),
        ({"models__0__fallbacks": ["gpt-4"]}, "falls back to itself"),
        ({"models__0__group": "premium"}, "models[0].group: must be one of fine-tuned, mock, openai"),
        ({"models__0__context": "everything"}, "models[0].context: must be one of knowledge, none"),
        ({"models__0__name": ...}, "models[0].name: must be a non-empty string"),
        ({"models__0__colour": "red"}, "models[0]: unknown key(s) colour"),
        ({"models": []}, "models: must be a non-empty list"),
        ({"backends": {}}, "backends: must be a non-empty mapping"),
        ({"backends__mock__base_url": "ftp://x"}, "backends.mock.base_url: must start with http"),
        ({"backends__mock__timeouts": {"idle": -1}}, "backends.mock.timeouts.idle: must be a positive number"),
        ({"backends__mock__timeouts": {"forever": 1}}, "backends.mock.timeouts.forever: unknown timeout"),
        ({"extra": 1}, "unknown top-level key(s) extra"),
        (
            {"backends__mock__headers": {"X-Org": "a\r\nX-Evil: 1"}},
            "backends.mock.headers.X-Org: not a valid HTTP header",
        ),
        ({"backends__mock__headers": {"Bad Name": "x"}}, "backends.mock.headers.Bad Name: not a valid HTTP header"),
        ({"backends__mock__api_key": "sk-abc\ndef"}, "backends.mock.api_key: contains a line break"),
    ],
)
def test_invalid_tables_are_rejected_naming_the_key(changes, message):
    with pytest.raises(RoutingError) as err:
        parse_routes(table_with(**changes))
    assert message in str(err.value)


def test_a_longer_fallback_cycle_is_found():
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    doc["models"][1]["fallbacks"] = ["mock-gpt-model-0701"]
    doc["models"][2]["fallbacks"] = ["gpt-4"]
    with pytest.raises(RoutingError, match="fallback cycle .*gpt-4.*->.*gpt-4"):
        parse_routes(yaml.safe_dump(doc))


@pytest.mark.parametrize("text", ["backends: [", "- just\n- a list", "null"])
def test_yaml_that_is_not_a_table_is_rejected(text):
    with pytest.raises(RoutingError):
        parse_routes(text)


def test_env_interpolation_with_defaults():
    env = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET}", env) == "value"
    assert interpolate("${UNSET:-fallback}", env) == "fallback"
    assert interpolate("${EMPTY:-fallback}", env) == "fallback"
    assert interpolate("${UNSET}", env) == ""
    assert interpolate({"a": ["x-${SET}-y"]}, env) == {"a": ["x-value-y"]}


def test_a_variable_can_come_from_a_mounted_secret_file(tmp_path):
    secret = tmp_path / "openai-api-key"
    secret.write_text("sk-from-file-123\n")
    assert interpolate("${OPENAI_API_KEY:-}", {"OPENAI_API_KEY_FILE": str(secret)}) == "sk-from-file-123"
    assert (
        interpolate("${OPENAI_API_KEY:-}", {"OPENAI_API_KEY": "env-wins", "OPENAI_API_KEY_FILE": str(secret)})
        == "env-wins"
    )
    with pytest.raises(RoutingError, match="OPENAI_API_KEY_FILE: cannot read"):
        interpolate("${OPENAI_API_KEY}", {"OPENAI_API_KEY_FILE": str(tmp_path / "absent")})


def test_interpolation_applies_when_parsing():
    text = yaml.safe_dump(BASE).replace("http://127.0.0.1:5050/v1", "${MOCK_MODEL_URL:-http://127.0.0.1:5050/v1}")
    table = parse_routes(text, environ={"MOCK_MODEL_URL": "http://mock.svc:5050/v1"})
    assert table.backends["mock"].base_url == "http://mock.svc:5050/v1"
    assert parse_routes(text, environ={}).backends["mock"].base_url == "http://127.0.0.1:5050/v1"


def test_the_packaged_table_routes_the_seeds_eight_models():
    text = resources.files("llm_proxy").joinpath("data/routes.yaml").read_text()
    table = parse_routes(text, environ={})
    assert table.names() == [*PACKAGED_OPENAI_MODELS, "louis-gpt-3.5-fined-tune-model", "mock-gpt-model-0701"]
    ft = table.get("louis-gpt-3.5-fined-tune-model")
    assert (ft.group, ft.backend, ft.context) == ("fine-tuned", "openai", "none")
    assert ft.upstream_model == "ft:gpt-3.5-turbo-0125:personal::9HFIKpx5"
    assert table.get("mock-gpt-model-0701").backend == "mock"
    assert {table.get(n).group for n in table.names()[:6]} == {"openai"}
    assert table.backends["openai"].base_url == "https://api.openai.com/v1"
    assert table.backends["openai"].api_key == ""

"""The chart fails closed on access (issue 15): no client keys, no release, unless anonymous access is
asked for by a value; clients' X-Mock-* test headers reach the mock only when a value says so."""

import helm_python as hp
import pytest
import yaml

from llm_proxy.routing import parse_routes

from .conftest import documents, render


def proxy_env(rendered) -> dict:
    deployment = next(
        d for d in documents(rendered) if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("llm-proxy")
    )
    return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def routes_of(rendered) -> dict:
    configmap = next(
        d for d in documents(rendered) if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-routes")
    )
    return yaml.safe_load(configmap["data"]["routes.yaml"])


def test_without_client_keys_the_chart_refuses_to_render_and_says_what_to_set():
    with pytest.raises(hp.HelmError, match=r"no client keys.*secrets\.clientKeys.*proxy\.allowAnonymous"):
        render({}, keyless=False)


@pytest.mark.parametrize("secrets", [{"clientKeys": "key-one-123"}, {"existingSecret": "mine"}])
def test_keys_from_the_chart_or_an_existing_secret_render_and_anonymous_access_stays_off(secrets):
    env = proxy_env(render({"secrets": secrets}, keyless=False))
    assert "LLM_PROXY_ALLOW_ANONYMOUS" not in env and env["LLM_PROXY_API_KEYS_FILE"]


def test_anonymous_access_only_when_a_value_asks_and_the_notes_warn():
    rendered = render({"proxy": {"allowAnonymous": True}}, keyless=False)
    assert proxy_env(rendered)["LLM_PROXY_ALLOW_ANONYMOUS"] == "true"
    assert "anyone who can" in rendered["llm-proxy/templates/NOTES.txt"]


def test_test_headers_reach_the_in_cluster_mock_only_when_a_value_asks():
    plain = routes_of(render({"secrets": {"clientKeys": "k-123456"}}))
    asked = routes_of(render({"secrets": {"clientKeys": "k-123456"}, "mock": {"forwardTestHeaders": True}}))
    assert "forward_test_headers" not in plain["backends"]["mock"]
    assert asked["backends"]["mock"]["forward_test_headers"] is True
    for table in (plain, asked):
        assert table["backends"]["mock"]["idempotent"] is True  # the mock bills nothing: retries are safe
        assert parse_routes(yaml.safe_dump(table), environ={}).backends["mock"].idempotent

"""publish into a routing file, and into a live ConfigMap through a Kubernetes API (kmock)."""

import asyncio

import pytest
import yaml
from kubernetes import client

from llm_finetune.cli import main
from llm_finetune.publish import add_alias, publish_configmap

ROUTES = """\
backends:
  openai:
    base_url: ${OPENAI_BASE_URL:-https://api.openai.com/v1}
    api_key: ${OPENAI_API_KEY:-}
  mock:
    base_url: ${MOCK_MODEL_URL:-http://127.0.0.1:5050/v1}
models:
  - name: gpt-3.5-turbo
    group: openai
    backend: openai
    context: knowledge
  - name: mock-gpt-model-0701
    group: mock
    backend: mock
"""


def test_add_alias_keeps_everything_else():
    out = yaml.safe_load(add_alias(ROUTES, "ft:gpt-3.5-turbo-0125:me::abc", "louis-ft"))
    before = yaml.safe_load(ROUTES)
    assert out["backends"] == before["backends"]
    assert out["models"][:2] == before["models"]
    assert out["models"][2] == {
        "name": "louis-ft",
        "group": "fine-tuned",
        "backend": "openai",
        "upstream_model": "ft:gpt-3.5-turbo-0125:me::abc",
        "context": "none",
    }


def test_publishing_the_same_alias_again_updates_it():
    once = add_alias(ROUTES, "ft:a", "louis-ft")
    twice = yaml.safe_load(add_alias(once, "ft:b", "louis-ft"))
    assert [m["name"] for m in twice["models"]].count("louis-ft") == 1
    assert twice["models"][-1]["upstream_model"] == "ft:b"


def test_an_unknown_backend_or_a_broken_table_is_refused(tmp_path, capsys):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    assert main(["publish", "ft:x", "--alias", "a", "--routes", str(path), "--backend", "azure"]) == 2
    assert "backend 'azure' is not in the routing table" in capsys.readouterr().err
    path.write_text("models: [")
    assert main(["publish", "ft:x", "--alias", "a", "--routes", str(path)]) == 2
    assert main(["publish", "ft:x", "--alias", "a", "--routes", str(tmp_path / "missing.yaml")]) == 2


def test_the_proxy_validator_is_applied():
    with pytest.raises(Exception, match="not a valid model name"):
        add_alias(ROUTES, "ft:x", "bad alias with spaces")


async def test_publish_to_a_configmap_through_the_kubernetes_api(kmock):
    config = client.Configuration(host=str(kmock.url))
    api = client.CoreV1Api(client.ApiClient(config))
    body = {
        "metadata": {"name": "llm-proxy-routes", "namespace": "llm"},
        "data": {"routes.yaml": ROUTES, "other-key": "kept"},
    }
    await asyncio.to_thread(api.create_namespaced_config_map, "llm", body)

    await asyncio.to_thread(
        publish_configmap, "llm-proxy-routes", "llm", "ft:gpt-3.5-turbo-0125:me::xyz", "louis-ft", "openai", api
    )

    cm = await asyncio.to_thread(api.read_namespaced_config_map, "llm-proxy-routes", "llm")
    table = yaml.safe_load(cm.data["routes.yaml"])
    assert [m["name"] for m in table["models"]] == ["gpt-3.5-turbo", "mock-gpt-model-0701", "louis-ft"]
    assert table["models"][-1]["upstream_model"] == "ft:gpt-3.5-turbo-0125:me::xyz"
    assert table["backends"]["openai"]["api_key"] == "${OPENAI_API_KEY:-}"
    assert cm.data["other-key"] == "kept"


async def test_a_configmap_without_routes_is_a_clear_error(kmock):
    from llm_finetune.errors import ToolkitError

    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=str(kmock.url))))
    await asyncio.to_thread(
        api.create_namespaced_config_map, "llm", {"metadata": {"name": "empty", "namespace": "llm"}, "data": {"x": "y"}}
    )
    with pytest.raises(ToolkitError, match="has no key 'routes.yaml'"):
        await asyncio.to_thread(publish_configmap, "empty", "llm", "ft:x", "a", "openai", api)
    with pytest.raises(ToolkitError, match="cannot read ConfigMap llm/absent"):
        await asyncio.to_thread(publish_configmap, "absent", "llm", "ft:x", "a", "openai", api)

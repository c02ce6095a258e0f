"""publish/unpublish write the routes overlay only: a file, or the toolkit-owned ConfigMap through
a Kubernetes API (kmock, the official client), never the base table or the Helm-owned ConfigMap."""

import asyncio

import pytest
import yaml
from kubernetes import client

from llm_finetune import publish
from llm_finetune.cli import main
from llm_finetune.errors import ToolkitError

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
ENTRY = {"name": "louis-ft", "group": "fine-tuned", "backend": "openai", "upstream_model": "ft:a", "context": "none"}


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    return path


def models(path) -> list[dict]:
    return yaml.safe_load(path.read_text())["models"]


@pytest.mark.unit
def test_set_and_remove_alias_keep_every_other_entry():
    other = {"name": "kept", "group": "mock", "backend": "mock", "fallbacks": ["gpt-3.5-turbo"]}
    text = yaml.safe_dump({"models": [other]})
    once = publish.set_alias(text, "ft:a", "louis-ft", "openai")
    assert yaml.safe_load(once)["models"] == [other, ENTRY]
    twice = yaml.safe_load(publish.set_alias(once, "ft:b", "louis-ft", "openai"))["models"]
    assert twice == [other, {**ENTRY, "upstream_model": "ft:b"}]
    assert yaml.safe_load(publish.remove_alias(once, "louis-ft"))["models"] == [other]
    with pytest.raises(ToolkitError, match="'nope' is not published in the overlay \\(published: kept, louis-ft\\)"):
        publish.remove_alias(once, "nope")


@pytest.mark.unit
def test_publish_and_unpublish_an_overlay_file_leave_the_base_alone(base, tmp_path, capsys):
    overlay = tmp_path / "published.yaml"
    argv = ["--overlay", str(overlay), "--base", str(base)]
    assert main(["publish", "ft:a", "--alias", "louis-ft", *argv]) == 0
    assert models(overlay) == [ENTRY]
    assert overlay.read_text().startswith("# Written by `llm-finetune publish`")
    assert main(["publish", "ft:b", "--alias", "louis-ft", *argv]) == 0
    assert main(["publish", "ft:c", "--alias", "gpt-3.5-turbo", *argv]) == 0  # replaces a base model
    assert models(overlay) == [
        {**ENTRY, "upstream_model": "ft:b"},
        {**ENTRY, "name": "gpt-3.5-turbo", "upstream_model": "ft:c"},
    ]
    assert main(["unpublish", "--alias", "louis-ft", *argv]) == 0
    assert [m["name"] for m in models(overlay)] == ["gpt-3.5-turbo"]
    assert base.read_text() == ROUTES
    assert "louis-ft removed from" in capsys.readouterr().out
    assert main(["unpublish", "--alias", "louis-ft", *argv]) == 2
    assert "'louis-ft' is not published" in capsys.readouterr().err


@pytest.mark.unit
def test_a_directory_gets_published_yaml_validated_with_its_other_overlays(base, tmp_path, capsys):
    directory = tmp_path / "routes-published"
    directory.mkdir()
    argv = ["--overlay", str(directory), "--base", str(base)]
    (directory / "00-team.yaml").write_text(yaml.safe_dump({"models": [{**ENTRY, "name": "team-ft"}]}))
    assert main(["publish", "ft:a", "--alias", "louis-ft", *argv]) == 0
    assert models(directory / "published.yaml") == [ENTRY]
    # The proxy merges the whole directory, so the check does too: the team's overlay now falls
    # back to the published alias, which can no longer be removed.
    (directory / "00-team.yaml").write_text(
        yaml.safe_dump({"models": [{**ENTRY, "name": "team-ft", "fallbacks": ["louis-ft"]}]})
    )
    assert main(["unpublish", "--alias", "louis-ft", *argv]) == 2
    assert "00-team.yaml: models[0].fallbacks: unknown model 'louis-ft'" in capsys.readouterr().err
    assert models(directory / "published.yaml") == [ENTRY]


@pytest.mark.unit
def test_the_proxy_validator_refuses_before_anything_is_written(base, tmp_path, capsys):
    overlay = tmp_path / "published.yaml"
    argv = ["--overlay", str(overlay), "--base", str(base)]
    assert main(["publish", "ft:x", "--alias", "bad alias", *argv]) == 2
    assert "not a valid model name" in capsys.readouterr().err
    assert main(["publish", "ft:x", "--alias", "a", "--backend", "azure", *argv]) == 2
    assert "backend 'azure' is not in the base routing table" in capsys.readouterr().err
    assert not overlay.exists()
    # Unpublishing what a base model falls back to would break the base: refused.
    broken = ROUTES.replace("    context: knowledge\n", "    context: knowledge\n    fallbacks: [louis-ft]\n")
    base.write_text(broken)
    assert main(["publish", "ft:a", "--alias", "louis-ft", *argv]) == 0
    assert main(["unpublish", "--alias", "louis-ft", *argv]) == 2
    assert "models[0].fallbacks: unknown model 'louis-ft'" in capsys.readouterr().err
    assert [m["name"] for m in models(overlay)] == ["louis-ft"]


@pytest.mark.unit
def test_the_old_routes_usage_is_a_clear_error(base, capsys):
    assert main(["publish", "ft:x", "--alias", "a", "--routes", str(base)]) == 2
    err = capsys.readouterr().err
    assert "--routes is gone" in err and "--overlay" in err and "--configmap" in err
    assert base.read_text() == ROUTES


@pytest.mark.unit
def test_without_base_the_proxys_own_table_is_used(tmp_path, monkeypatch, base):
    overlay = tmp_path / "published.yaml"
    monkeypatch.delenv("LLM_PROXY_ROUTES", raising=False)
    assert main(["publish", "ft:a", "--alias", "louis-ft", "--overlay", str(overlay)]) == 0  # the packaged table
    monkeypatch.setenv("LLM_PROXY_ROUTES", str(base))
    assert main(["publish", "ft:a", "--alias", "x", "--backend", "mock", "--overlay", str(overlay)]) == 0
    monkeypatch.setenv("LLM_PROXY_ROUTES", str(tmp_path / "absent.yaml"))
    assert main(["publish", "ft:a", "--alias", "y", "--overlay", str(overlay)]) == 2


@pytest.mark.unit
def test_default_configmap_names_follow_the_chart():
    assert publish.overlay_configmap_name("llm") == "llm-llm-proxy-routes-published"
    assert publish.base_configmap_name("llm") == "llm-llm-proxy-routes"
    assert publish.overlay_configmap_name("my-llm-proxy") == "my-llm-proxy-routes-published"


# Against a Kubernetes API (kmock): the Helm ConfigMap is read, never written.


@pytest.fixture
async def cluster(kmock):
    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=str(kmock.url))))
    helm_cm = {
        "metadata": {
            "name": "llm-llm-proxy-routes",
            "namespace": "llm",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "llm"},
        },
        "data": {"routes.yaml": ROUTES},
    }
    await asyncio.to_thread(api.create_namespaced_config_map, "llm", helm_cm)
    return api


async def run(api, monkeypatch, *argv) -> int:
    monkeypatch.setattr(publish, "core_api", lambda kubeconfig, context: api)
    return await asyncio.to_thread(main, [*argv, "--namespace", "llm"])


async def read(api, name):
    return await asyncio.to_thread(api.read_namespaced_config_map, name, "llm")


async def test_publish_creates_then_updates_the_overlay_configmap_and_unpublish_removes(cluster, monkeypatch, capsys):
    api = cluster
    helm_before = (await read(api, "llm-llm-proxy-routes")).to_dict()

    assert await run(api, monkeypatch, "publish", "ft:a", "--alias", "louis-ft", "--configmap") == 0
    assert "ConfigMap llm/llm-llm-proxy-routes-published (created)" in capsys.readouterr().out
    cm = await read(api, "llm-llm-proxy-routes-published")
    assert cm.metadata.labels["app.kubernetes.io/managed-by"] == "llm-finetune"
    assert yaml.safe_load(cm.data["published.yaml"])["models"] == [ENTRY]

    assert await run(api, monkeypatch, "publish", "ft:b", "--alias", "louis-ft", "--configmap") == 0
    assert await run(api, monkeypatch, "publish", "ft:c", "--alias", "second", "--configmap") == 0
    cm = await read(api, "llm-llm-proxy-routes-published")
    assert cm.metadata.labels["app.kubernetes.io/managed-by"] == "llm-finetune"  # a patch keeps the label
    assert [(m["name"], m["upstream_model"]) for m in yaml.safe_load(cm.data["published.yaml"])["models"]] == [
        ("louis-ft", "ft:b"),
        ("second", "ft:c"),
    ]

    assert await run(api, monkeypatch, "unpublish", "--alias", "louis-ft", "--configmap") == 0
    cm = await read(api, "llm-llm-proxy-routes-published")
    assert [m["name"] for m in yaml.safe_load(cm.data["published.yaml"])["models"]] == ["second"]

    # Validated against the Helm-owned base before writing: an unknown backend is refused.
    assert await run(api, monkeypatch, "publish", "ft:x", "--alias", "x", "--backend", "azure", "--configmap") == 2
    assert "backend 'azure' is not in the base routing table" in capsys.readouterr().err

    helm_after = (await read(api, "llm-llm-proxy-routes")).to_dict()
    assert helm_after == helm_before  # the Helm-owned ConfigMap was never written


async def test_the_helm_owned_configmap_is_never_written(cluster, monkeypatch, capsys):
    api = cluster
    before = (await read(api, "llm-llm-proxy-routes")).to_dict()
    # The old usage: --configmap naming Helm's routes ConfigMap.
    assert await run(api, monkeypatch, "publish", "ft:a", "--alias", "a", "--configmap", "llm-llm-proxy-routes") == 2
    assert "is the Helm-owned routing table" in capsys.readouterr().err
    # Any other ConfigMap the toolkit did not create is refused too, whoever manages it.
    for labels in ({"app.kubernetes.io/managed-by": "Helm"}, None):
        name = "other-" + ("helm" if labels else "unlabelled")
        body = {"metadata": {"name": name, "namespace": "llm", "labels": labels}, "data": {"x": "y"}}
        await asyncio.to_thread(api.create_namespaced_config_map, "llm", body)
        assert await run(api, monkeypatch, "publish", "ft:a", "--alias", "a", "--configmap", name) == 2
        assert "not llm-finetune: publish writes only the toolkit's overlay ConfigMap" in capsys.readouterr().err
        assert (await read(api, name)).data == {"x": "y"}
    assert (await read(api, "llm-llm-proxy-routes")).to_dict() == before


async def test_configmap_errors_are_clear(cluster, monkeypatch, capsys):
    api = cluster
    assert await run(api, monkeypatch, "unpublish", "--alias", "a", "--configmap") == 2
    assert "llm-llm-proxy-routes-published does not exist: nothing is published" in capsys.readouterr().err
    assert await run(api, monkeypatch, "publish", "ft:a", "--alias", "a", "--configmap", "--release", "other") == 2
    assert "cannot read the base routing ConfigMap llm/other-llm-proxy-routes: 404" in capsys.readouterr().err

"""The routes overlay in the chart: the toolkit-owned ConfigMap is mounted (optional, as a
directory, where LLM_PROXY_ROUTES_OVERLAY points) and never rendered, so `helm upgrade` cannot
overwrite or delete what `llm-finetune publish --configmap` wrote."""

import shlex

from llm_finetune.cli import parser
from llm_finetune.publish import overlay_configmap_name

from .conftest import RELEASE, documents, render


def proxy_pod(docs):
    deployments = [
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "proxy"
    ]
    assert len(deployments) == 1
    return deployments[0]["spec"]["template"]["spec"]


def test_the_overlay_configmap_is_mounted_optional_and_never_rendered(env_render):
    _, _, _, docs = env_render
    name = overlay_configmap_name(RELEASE)  # the toolkit's default for this release
    assert name == "llm-llm-proxy-routes-published"
    assert name not in {d["metadata"]["name"] for d in docs}  # any kind: Helm owns no such object

    spec = proxy_pod(docs)
    volumes = [v for v in spec["volumes"] if v.get("configMap", {}).get("name") == name]
    assert len(volumes) == 1
    assert volumes[0]["configMap"] == {"name": name, "optional": True}  # whole ConfigMap: every key, no items
    container = spec["containers"][0]
    mounts = [m for m in container["volumeMounts"] if m["name"] == volumes[0]["name"]]
    assert len(mounts) == 1 and "subPath" not in mounts[0] and mounts[0]["readOnly"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LLM_PROXY_ROUTES_OVERLAY"] == mounts[0]["mountPath"]  # a directory: each key a file


def test_a_release_named_after_the_chart_gets_the_same_name_as_the_toolkit_default():
    docs = documents(render({}, release="team-llm-proxy"))
    name = overlay_configmap_name("team-llm-proxy")
    assert name == "team-llm-proxy-routes-published"
    assert any(v.get("configMap", {}).get("name") == name for v in proxy_pod(docs)["volumes"])


def test_the_notes_publish_command_targets_the_overlay_and_parses():
    for values, base in (({}, "llm-llm-proxy-routes"), ({"proxy": {"existingRoutesConfigMap": "gitops"}}, "gitops")):
        notes = render(values)["llm-proxy/templates/NOTES.txt"]
        line = next(x for x in notes.splitlines() if "llm-finetune publish" in x)
        args = parser().parse_args(shlex.split(line.strip())[1:])
        assert args.configmap == overlay_configmap_name(RELEASE)  # never the Helm-owned one
        assert args.base_configmap == base and args.namespace == "llm-proxy"

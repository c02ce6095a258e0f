"""The chart: strict lint, schema-valid objects for Kubernetes 1.30 and 1.33, and objects that
point at each other the way the proxy needs."""

import json

import helm_python as hp
import kubernetes_validate
import pytest

from llm_proxy.routing import parse_routes

from .conftest import CHART, ENVIRONMENTS, NAMESPACE, documents, load_values, render

KUBE_VERSIONS = ["1.30.0", "1.33.0"]
CRDS = {
    "ServiceMonitor"
}  # not in the core schemas: test_observability.py checks it against schemas/servicemonitor.schema.json


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, component=None):
    found = [
        d
        for d in by_kind(docs, kind)
        if component is None or d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} {component or ''}, got {len(found)}"
    return found[0]


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
@pytest.mark.parametrize("kube", ["v1.30.0", "v1.33.0"])
def test_lint_strict_has_no_errors_or_warnings(env, kube):
    result = hp.lint(str(CHART), load_values(env), strict=True, kube_version=kube, namespace=NAMESPACE)
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_object_validates_strictly(env_render, version):
    _, _, _, docs = env_render
    assert docs
    for doc in docs:
        if doc["kind"] in CRDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} invalid for {version}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{doc['apiVersion']} {doc['kind']} does not exist in Kubernetes {version}")


def test_the_expected_kinds_exist_and_point_at_each_other(env_render):
    env, values, _, docs = env_render
    for doc in docs:
        assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']} has no explicit namespace"
    proxy = one(docs, "Deployment", "proxy")
    pod = proxy["spec"]["template"]
    proxy_svc = one(docs, "Service", "proxy")
    assert proxy_svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert proxy["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    if values.get("mock", {}).get("enabled", True):
        mock = one(docs, "Deployment", "mock-model")
        mock_svc = one(docs, "Service", "mock-model")
        assert mock_svc["spec"]["selector"].items() <= mock["spec"]["template"]["metadata"]["labels"].items()
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": proxy["metadata"]["name"],
    }
    # CPU only: a Python process never hands memory back, so a memory target would never scale down.
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert "behavior" in hpa["spec"]
    ingress = one(docs, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == proxy_svc["metadata"]["name"]
    assert len(by_kind(docs, "NetworkPolicy")) >= 1
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    if env != "minikube":
        pdb = one(docs, "PodDisruptionBudget")
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_configmaps_are_mounted_where_the_proxy_reads_them(env_render):
    _, _, _, docs = env_render
    proxy = one(docs, "Deployment", "proxy")
    spec = proxy["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    for var, key in (("LLM_PROXY_ROUTES", "routes.yaml"), ("LLM_PROXY_KNOWLEDGE", "knowledge.json")):
        directory, filename = env[var].rsplit("/", 1)
        assert filename == key
        mount = mounts[directory]
        assert "subPath" not in mount, "subPath mounts never see kubelet updates"
        cm_name = volumes[mount["name"]]["configMap"]["name"]
        assert key in configmaps[cm_name]["data"]
    secret_dir, _ = env["LLM_PROXY_API_KEYS_FILE"].rsplit("/", 1)
    assert "secret" in volumes[mounts[secret_dir]["name"]]
    assert env["OPENAI_API_KEY_FILE"].startswith(secret_dir + "/")


def test_the_rendered_routing_table_is_one_the_proxy_accepts(env_render):
    _, values, _, docs = env_render
    cm = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-routes"))
    table = parse_routes(cm["data"]["routes.yaml"], environ={})
    assert "mock-gpt-model-0701" in table.routes
    assert table.backends["mock"].base_url.startswith("http://llm-llm-proxy-mock.llm-proxy.svc")
    # Clients' X-Mock-* knobs reach the in-cluster mock only where the values ask, and no other backend.
    asked = bool((values.get("mock") or {}).get("forwardTestHeaders"))
    assert table.backends["mock"].forward_test_headers is asked
    assert not [name for name, b in table.backends.items() if name != "mock" and b.forward_test_headers]
    knowledge = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-knowledge"))
    assert len(json.loads(knowledge["data"]["knowledge.json"])["rows"]) >= 60


def test_pods_are_hardened_and_probed(env_render):
    _, _, _, docs = env_render
    for deploy in by_kind(docs, "Deployment"):
        spec = deploy["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 10000
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]
            if deploy["metadata"]["labels"]["app.kubernetes.io/component"] == "redis":
                assert c["livenessProbe"]["tcpSocket"] and c["readinessProbe"]["exec"]  # no HTTP: test_redis.py
            else:
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}
    proxy = one(docs, "Deployment", "proxy")
    container = proxy["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e.get("value") for e in container["env"]}
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    budget = sleep + float(env["LLM_PROXY_DRAIN_DELAY"]) + float(env["LLM_PROXY_DRAIN_GRACE"])
    assert proxy["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > budget


def test_ingress_defaults_keep_streams_unbuffered():
    docs = documents(render({}))
    annotations = one(docs, "Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_optional_parts_switch_on_and_off():
    docs = documents(
        render(
            {
                "mock": {"enabled": False},
                "routes": {
                    "backends": {"openai": {"base_url": "https://api.openai.com/v1"}},
                    "models": [{"name": "gpt-4", "group": "openai", "backend": "openai"}],
                },
                "metrics": {"serviceMonitor": {"enabled": True, "force": True}, "dashboard": {"enabled": True}},
                "secrets": {"existingSecret": "mine"},
            }
        )
    )
    assert not [d for d in docs if d["metadata"]["name"].endswith("-mock")]
    assert not by_kind(docs, "Secret")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    dashboard = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard"))
    panels = json.loads(dashboard["data"]["llm-proxy.json"])["panels"]
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in (
        "llm_proxy_requests_total",
        "llm_proxy_request_duration_seconds_bucket",
        "llm_proxy_time_to_first_token_seconds_bucket",
        "llm_proxy_upstream_errors_total",
        "llm_proxy_tokens_total",
        "llm_proxy_in_flight_requests",
        "llm_proxy_config_reloads_total",
    ):
        assert metric in exprs
    proxy = one(docs, "Deployment", "proxy")
    secret_volume = next(v for v in proxy["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets")
    assert secret_volume["secret"]["secretName"] == "mine"


def test_a_route_to_a_disabled_mock_fails_the_render_clearly():
    with pytest.raises(hp.HelmError, match='uses backend "mock", which is not defined'):
        render({"mock": {"enabled": False}})


@pytest.mark.parametrize(
    "bad",
    [
        {"proxy": {"port": "eighty"}},
        {"mock": {"enabled": "yes"}},
        {"routes": {"backends": {}, "models": [{"name": "x", "group": "premium", "backend": "b"}]}},
        {"ingress": {"enabled": True, "hosts": [{"host": "h", "paths": [{"path": "/", "pathType": "Sometimes"}]}]}},
        {"autoscaling": {"minReplicas": 0}},
        {"unknownTopLevel": 1},
    ],
)
def test_the_values_schema_rejects_bad_values(bad):
    with pytest.raises(hp.HelmError):
        render(bad)


def test_notes_print_the_next_commands():
    notes = render({})["llm-proxy/templates/NOTES.txt"]
    assert "kubectl -n llm-proxy port-forward svc/llm-llm-proxy 8000:8000" in notes
    assert "llm-tui --url http://llm-proxy.test" in notes
    assert "no client keys are configured" in notes
    assert "no client keys" not in render({"secrets": {"clientKeys": "k1"}})["llm-proxy/templates/NOTES.txt"]


def test_the_helm_test_hook_checks_readiness_and_a_mock_completion():
    docs = documents(render({}))
    pod = next(d for d in by_kind(docs, "Pod"))
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["args"][0]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["MODEL"] == "mock-gpt-model-0701" and env["PROXY"] == "http://llm-llm-proxy:8000"
    assert "/readyz" in script and "/v1/chat/completions" in script
    compile(script, "helm-test", "exec")


@pytest.mark.parametrize("keys_file", ["plain", "yaml", "none"])
async def test_the_helm_test_script_passes_against_a_real_proxy(make_proxy, tmp_path, keys_file):
    """Run the rendered hook script (as the pod would, with the proxy image's Python) against a real
    proxy and mock, with each client-keys file format the Secret may hold."""
    import asyncio
    import sys

    pod = next(d for d in by_kind(documents(render({})), "Pod"))
    script = pod["spec"]["containers"][0]["args"][0]
    keys = tmp_path / "client-keys"
    keys.write_text(
        {"plain": "# ops\nfirst-key\nsecond-key\n", "none": "", "yaml": "keys:\n  - key: yaml-key\n    name: ops\n"}[
            keys_file
        ]
    )
    proxy = await make_proxy(api_keys_file=keys)
    env = {"PROXY": str(proxy.make_url("")).rstrip("/"), "MODEL": "mock-gpt-model-0701", "KEYS_FILE": str(keys)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out = (await asyncio.wait_for(proc.communicate(), 60))[0].decode()
    assert proc.returncode == 0, out
    assert "ok: mock-gpt-model-0701" in out
    # and it fails when the model is not served, so a broken release fails `helm test`
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        env={**env, "MODEL": "no-such-model"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode != 0

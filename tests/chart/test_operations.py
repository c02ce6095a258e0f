"""What an operator meets on a first deploy: ports that really change, NOTES that print working
commands, autoscaling that scales down, NetworkPolicies that let scrapers and extra backends
through, EKS values that drain behind an ALB, keep /metrics off the internet and never answer a
paid model with the mock."""

import fnmatch
import json
from pathlib import Path

import helm_python as hp
import jsonschema
import pytest

from llm_proxy.routing import parse_routes

from .conftest import documents, load_values, render
from .test_chart import by_kind, one

API_PATHS = ["/v1/chat/completions", "/v1/models", "/send_inference", "/get_suppored_models", "/readyz"]


def container(docs, component):
    return one(docs, "Deployment", component)["spec"]["template"]["spec"]["containers"][0]


def routed(ingress, path: str) -> bool:
    """Whether an Ingress routes `path` (Exact, or Prefix by path element, as Kubernetes defines them)."""
    for rule in ingress["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            if p["pathType"] == "Exact" and path == p["path"]:
                return True
            prefix = p["path"].rstrip("/")
            if p["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/") or prefix == ""):
                return True
    return False


# --- item 10: ports ------------------------------------------------------------------------------


def test_ports_reach_the_containers_and_everything_that_points_at_them():
    docs = documents(render({"proxy": {"port": 9000}, "mock": {"port": 6060, "service": {"port": 7070}}}))
    proxy, mock = container(docs, "proxy"), container(docs, "mock-model")
    # The images' entrypoints end in `--port 8000` / `--port 5050`; argparse keeps the last one.
    assert proxy["args"] == ["--port", "9000"] and proxy["ports"][0]["containerPort"] == 9000
    assert mock["args"] == ["--port", "6060"] and mock["ports"][0]["containerPort"] == 6060
    pod = one(docs, "Deployment", "proxy")["spec"]["template"]["metadata"]
    assert pod["annotations"]["prometheus.io/port"] == "9000"
    mock_svc = one(docs, "Service", "mock-model")
    assert mock_svc["spec"]["ports"][0] == {"name": "http", "port": 7070, "targetPort": "http", "protocol": "TCP"}
    routes = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-routes"))
    table = parse_routes(routes["data"]["routes.yaml"], environ={})
    assert table.backends["mock"].base_url == "http://llm-llm-proxy-mock.llm-proxy.svc.cluster.local:7070/v1"
    policies = {p["metadata"]["name"]: p for p in by_kind(docs, "NetworkPolicy")}
    proxy_ports = [port["port"] for rule in policies["llm-llm-proxy"]["spec"]["ingress"] for port in rule["ports"]]
    assert proxy_ports == [9000]
    egress_ports = {port["port"] for rule in policies["llm-llm-proxy"]["spec"]["egress"] for port in rule["ports"]}
    assert 6060 in egress_ports  # a NetworkPolicy matches the pod's port, not the Service's
    mock_ports = [port["port"] for rule in policies["llm-llm-proxy-mock"]["spec"]["ingress"] for port in rule["ports"]]
    assert mock_ports == [6060]


def test_the_cluster_domain_is_a_value():
    docs = documents(render({"clusterDomain": "corp.internal"}))
    routes = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-routes"))
    assert "llm-llm-proxy-mock.llm-proxy.svc.corp.internal:5050" in routes["data"]["routes.yaml"]


# --- item 8: NOTES -------------------------------------------------------------------------------


def test_notes_use_https_where_the_alb_terminates_tls_and_pass_the_client_key():
    notes = render(load_values("eks"))["llm-proxy/templates/NOTES.txt"]
    assert "https://llm-proxy.example.com/v1/models" in notes
    assert "http://llm-proxy.example.com" not in notes
    assert 'llm-tui --url https://llm-proxy.example.com --api-key "$LLM_PROXY_API_KEY"' in notes
    assert 'llm-tui --url http://127.0.0.1:8000 --api-key "$LLM_PROXY_API_KEY"' in notes  # the port-forward
    open_notes = render({})["llm-proxy/templates/NOTES.txt"]
    assert "llm-tui --url http://llm-proxy.test\n" in open_notes and "--api-key" not in open_notes
    tls = render({"ingress": {"tls": [{"secretName": "t", "hosts": ["llm-proxy.test"]}]}})
    assert "https://llm-proxy.test/v1/models" in tls["llm-proxy/templates/NOTES.txt"]


# --- item 11: autoscaling ------------------------------------------------------------------------


def test_hpa_scales_on_cpu_and_takes_extra_metrics_for_in_flight_requests():
    in_flight = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "llm_proxy_in_flight_requests"},
            "target": {"type": "AverageValue", "averageValue": "50"},
        },
    }
    docs = documents(render({"autoscaling": {"extraMetrics": [in_flight]}}))
    metrics = one(docs, "HorizontalPodAutoscaler")["spec"]["metrics"]
    assert metrics[0]["resource"]["name"] == "cpu" and metrics[1:] == [in_flight]
    memory = documents(render({"autoscaling": {"targetMemoryUtilizationPercentage": 80}}))
    names = [m["resource"]["name"] for m in one(memory, "HorizontalPodAutoscaler")["spec"]["metrics"]]
    assert names == ["cpu", "memory"]


# --- item 7: NetworkPolicies ---------------------------------------------------------------------


def test_network_policies_admit_scrapers_and_extra_backends_on_numeric_ports():
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    vllm = {"to": [{"podSelector": {"matchLabels": {"app": "vllm"}}}], "ports": [{"port": 8000, "protocol": "TCP"}]}
    docs = documents(render({"networkPolicy": {"metricsFrom": [monitoring], "extraEgress": [vllm]}}))
    policies = {p["metadata"]["name"]: p["spec"] for p in by_kind(docs, "NetworkPolicy")}
    for name, port in (("llm-llm-proxy", 8000), ("llm-llm-proxy-mock", 5050)):
        assert {"from": [monitoring], "ports": [{"port": port, "protocol": "TCP"}]} in policies[name]["ingress"]
    assert vllm in policies["llm-llm-proxy"]["egress"]
    for spec in policies.values():
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            for port in rule.get("ports", []):
                assert isinstance(port["port"], int), f"named port {port} in a NetworkPolicy"


def test_the_eks_cluster_enforces_network_policies():
    import yaml

    from .conftest import ROOT

    cluster = yaml.safe_load((ROOT / "k8s" / "eks" / "cluster.yaml").read_text())
    cni = next(a for a in cluster["addons"] if a["name"] == "vpc-cni")
    assert json.loads(cni["configurationValues"])["enableNetworkPolicy"] == "true"


# --- items 5, 6, 12: EKS values ------------------------------------------------------------------


@pytest.fixture(scope="module")
def eks():
    return documents(render(load_values("eks")))


def test_eks_pods_drain_behind_the_alb(eks):
    deploy = one(eks, "Deployment", "proxy")
    spec = deploy["spec"]["template"]["spec"]
    proxy = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    sleep = proxy["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(env["LLM_PROXY_DRAIN_DELAY"]) + float(env["LLM_PROXY_DRAIN_GRACE"])
    assert sleep >= 20, "the ALB keeps sending to a terminating pod for seconds (target-type ip)"
    assert spec["terminationGracePeriodSeconds"] >= 60 and spec["terminationGracePeriodSeconds"] > sleep + drain
    annotations = one(eks, "Ingress")["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    attributes = dict(
        a.split("=", 1) for a in annotations["alb.ingress.kubernetes.io/target-group-attributes"].split(",")
    )
    assert int(attributes["deregistration_delay.timeout_seconds"]) >= sleep + drain


def test_eks_ingress_routes_the_api_but_not_metrics(eks):
    ingress = one(eks, "Ingress")
    for path in API_PATHS:
        assert routed(ingress, path), path
    for path in ("/metrics", "/healthz", "/"):
        assert not routed(ingress, path), f"{path} is reachable from the internet"
    assert not routed(one(documents(render({})), "Ingress"), "/metrics")


def test_eks_routes_no_real_model_to_the_mock(eks):
    routes = next(d for d in by_kind(eks, "ConfigMap") if d["metadata"]["name"].endswith("-routes"))
    table = parse_routes(routes["data"]["routes.yaml"], environ={})
    by_name = {r["name"]: r for r in load_values("eks")["routes"]["models"]}
    assert by_name, "EKS values must carry their own routing table"

    def reachable(name, seen=()):
        if name in seen:
            return set()
        route = by_name[name]
        out = {route["backend"]}
        for fallback in route.get("fallbacks", []):
            out |= reachable(fallback, (*seen, name))
        return out

    for name, route in by_name.items():
        if route["group"] != "mock":
            assert "mock" not in reachable(name), f"{name} can be answered by the mock on EKS"
    assert "gpt-4" in table.routes and "mock-gpt-model-0701" in table.routes
    # The chart's defaults (a demo without an OpenAI key) do fall back to the mock: EKS must override them.
    defaults = {r["name"]: r for r in render_values_models({})}
    assert "mock-gpt-model-0701" in defaults["gpt-4"]["fallbacks"]


def render_values_models(values):
    import yaml

    docs = documents(render(values))
    routes = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-routes"))
    return yaml.safe_load(routes["data"]["routes.yaml"])["models"]


# --- what mature charts offer --------------------------------------------------------------------

EVERYTHING = {
    "proxy": {
        "imagePullSecrets": [{"name": "regcred"}],
        "extraEnv": [{"name": "LLM_PROXY_RETRY_ATTEMPTS", "value": "2"}],
        "envFrom": [{"configMapRef": {"name": "proxy-settings"}}],
        "extraVolumes": [{"name": "extra", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
        "podLabels": {"team": "ml"},
        "podAnnotations": {"a": "b"},
        "priorityClassName": "high",
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
        "service": {
            "type": "LoadBalancer",
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
            "loadBalancerClass": "service.k8s.aws/nlb",
        },
    },
    "mock": {
        "imagePullSecrets": [{"name": "regcred"}],
        "envFrom": [{"secretRef": {"name": "mock-settings"}}],
        "extraVolumes": [{"name": "extra", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
        "podLabels": {"team": "ml"},
        "podAnnotations": {"c": "d"},
        "priorityClassName": "low",
        "strategy": {"type": "Recreate"},
        "service": {"annotations": {"x": "y"}},
    },
    "podDisruptionBudget": {"maxUnavailable": 1},
    "metrics": {
        "serviceMonitor": {
            "enabled": True,
            "force": True,
            "namespace": "monitoring",
            "interval": "15s",
            "scrapeTimeout": "5s",
            "relabelings": [{"action": "replace", "targetLabel": "cluster", "replacement": "eks"}],
        }
    },
}


def test_every_component_option_lands_in_its_pods_and_services():
    docs = documents(render(EVERYTHING))
    for component, values in (("proxy", EVERYTHING["proxy"]), ("mock-model", EVERYTHING["mock"])):
        deploy = one(docs, "Deployment", component)
        pod = deploy["spec"]["template"]
        spec, c = pod["spec"], pod["spec"]["containers"][0]
        assert spec["imagePullSecrets"] == values["imagePullSecrets"]
        assert spec["priorityClassName"] == values["priorityClassName"]
        assert deploy["spec"]["strategy"] == values["strategy"]
        assert c["envFrom"] == values["envFrom"]
        assert values["extraVolumes"][0] in spec["volumes"] and values["extraVolumeMounts"][0] in c["volumeMounts"]
        assert pod["metadata"]["labels"]["team"] == "ml"
        assert values["podAnnotations"].items() <= pod["metadata"]["annotations"].items()
        service = one(docs, "Service", component)
        assert service["metadata"]["annotations"] == values["service"]["annotations"]
    assert {"name": "LLM_PROXY_RETRY_ATTEMPTS", "value": "2"} in container(docs, "proxy")["env"]
    service = one(docs, "Service", "proxy")["spec"]
    assert service["type"] == "LoadBalancer" and service["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": one(docs, "PodDisruptionBudget")["spec"]["selector"],
    }
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == ["llm-proxy"]
    endpoint = monitor["spec"]["endpoints"][0]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "5s")
    assert endpoint["relabelings"] == EVERYTHING["metrics"]["serviceMonitor"]["relabelings"]
    kept = json.loads((Path(__file__).parent / "schemas" / "servicemonitor.schema.json").read_text())
    jsonschema.Draft7Validator(kept).validate(monitor)


def test_pod_labels_never_override_the_selector_labels():
    docs = documents(render({"proxy": {"podLabels": {"app.kubernetes.io/component": "mine", "team": "ml"}}}))
    deploy = one(docs, "Deployment", "proxy")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"].items() <= labels.items() and labels["team"] == "ml"


def test_the_service_monitor_needs_its_api_or_force():
    # helm template (and this renderer) sees no monitoring.coreos.com API: an install would fail.
    assert not by_kind(documents(render({"metrics": {"serviceMonitor": {"enabled": True}}})), "ServiceMonitor")
    forced = documents(render({"metrics": {"serviceMonitor": {"enabled": True, "force": True}}}))
    assert one(forced, "ServiceMonitor")["metadata"]["namespace"] == "llm-proxy"


def test_an_existing_routes_configmap_replaces_the_rendered_one():
    docs = documents(render({"proxy": {"existingRoutesConfigMap": "gitops-routes"}}))
    assert not [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-routes")]
    volumes = {v["name"]: v for v in one(docs, "Deployment", "proxy")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["routes"]["configMap"]["name"] == "gitops-routes"
    notes = render({"proxy": {"existingRoutesConfigMap": "gitops-routes"}})["llm-proxy/templates/NOTES.txt"]
    assert "--base-configmap gitops-routes" in notes  # read to validate; publish writes the overlay


@pytest.mark.parametrize(
    "bad",
    [
        {"proxy": {"imagePullSecrets": ["regcred"]}},
        {"proxy": {"service": {"type": "External"}}},
        {"proxy": {"strategy": {"type": "BlueGreen"}}},
        {"proxy": {"podLabels": {"n": 1}}},
        {"mock": {"extraVolumeMounts": [{"name": "x"}]}},
        {"metrics": {"serviceMonitor": {"interval": "often"}}},
        {"autoscaling": {"targetMemoryUtilizationPercentage": 0}},
        {"networkPolicy": {"extraEgress": [{}]}},
        {"service": {"port": 8000}},  # moved to proxy.service
        {"ingress": {"hosts": [{"host": "h", "path": "/"}]}},
    ],
)
def test_the_schema_refuses_bad_component_values(bad):
    with pytest.raises(hp.HelmError):
        render(bad)


def test_every_values_key_is_documented_and_the_readme_table_is_current():
    import importlib.util
    import sys

    from .conftest import CHART, ROOT

    spec = importlib.util.spec_from_file_location(
        "generate_chart_values_table", ROOT / "scripts" / "generate_chart_values_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    values_text = (CHART / "values.yaml").read_text()
    assert module.undocumented(values_text) == []
    readme = (CHART / "README.md").read_text()
    assert module.render_readme(readme, values_text) == readme, (
        "run: python scripts/generate_chart_values_table.py --write"
    )
    keys = {e.key for e in module.entries(values_text)}
    for key in ("proxy.imagePullSecrets", "mock.envFrom", "proxy.service.loadBalancerClass", "clusterDomain"):
        assert key in keys
    # and the check notices a change
    assert module.render_readme(readme, values_text.replace("Hard limits.", "Limits.")) != readme
    assert fnmatch.fnmatch(readme, "*| `proxy.port` | `8000` |*")

"""The chart's shared state: `redis.enabled` runs a small hardened Redis that only the proxy pods
reach and points the proxies at it; `redis.url` / `redis.existingSecret` use a managed one
(ElastiCache) through the proxy's egress; contradictory values fail the render with a reason."""

import helm_python as hp
import kubernetes_validate
import pytest

from .conftest import CHART, NAMESPACE, documents, render

PROXY = {
    "app.kubernetes.io/name": "llm-proxy",
    "app.kubernetes.io/instance": "llm",
    "app.kubernetes.io/component": "proxy",
}


def component(docs, kind, name):
    return [d for d in docs if d["kind"] == kind and d["metadata"]["labels"].get("app.kubernetes.io/component") == name]


def proxy_container(docs):
    deployment = next(d for d in component(docs, "Deployment", "proxy"))
    return deployment, deployment["spec"]["template"]["spec"]["containers"][0]


def env_of(container) -> dict:
    return {e["name"]: e.get("value") for e in container["env"]}


def policies_for(docs, labels):
    return [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ]


def test_without_redis_nothing_is_rendered_and_the_proxy_keeps_state_in_process():
    docs = documents(render({}))
    assert not component(docs, "Deployment", "redis")
    _, container = proxy_container(docs)
    assert not {"LLM_PROXY_REDIS_URL", "LLM_PROXY_REDIS_URL_FILE"} & set(env_of(container))
    assert env_of(container)["LLM_PROXY_TRUSTED_PROXY_HOPS"] == "1"  # the Ingress is on by default
    no_ingress = documents(render({"ingress": {"enabled": False}}))
    assert env_of(proxy_container(no_ingress)[1])["LLM_PROXY_TRUSTED_PROXY_HOPS"] == "0"
    explicit = documents(render({"proxy": {"trustedProxyHops": 0}}))
    assert env_of(proxy_container(explicit)[1])["LLM_PROXY_TRUSTED_PROXY_HOPS"] == "0"


def test_redis_enabled_runs_a_hardened_redis_the_proxies_use():
    docs = documents(render({"redis": {"enabled": True}}))
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33.0", strict=True)
    (deployment,) = component(docs, "Deployment", "redis")
    pod = deployment["spec"]["template"]["spec"]
    (redis,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["automountServiceAccountToken"] is False
    context = redis["securityContext"]
    assert context["readOnlyRootFilesystem"] and context["capabilities"]["drop"] == ["ALL"]
    assert context["allowPrivilegeEscalation"] is False
    assert redis["resources"]["requests"] and redis["resources"]["limits"]
    assert redis["readinessProbe"] and redis["livenessProbe"]
    assert ":" in redis["image"] and not redis["image"].endswith(":latest")
    args = redis["args"]
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    assert {m["mountPath"] for m in redis["volumeMounts"]} == {"/data", "/tmp"}  # writable dirs on a read-only root
    (service,) = component(docs, "Service", "redis")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    name = service["metadata"]["name"]
    _, container = proxy_container(docs)
    assert env_of(container)["LLM_PROXY_REDIS_URL"] == f"redis://{name}.{NAMESPACE}.svc.cluster.local:6379/0"
    # Only the proxy pods may reach Redis, and the proxy pods may reach it.
    (inbound,) = policies_for(docs, deployment["spec"]["template"]["metadata"]["labels"])
    assert inbound["spec"]["policyTypes"] == ["Ingress", "Egress"] and inbound["spec"]["egress"] == []
    (rule,) = inbound["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": PROXY}}]
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
    outbound = [p for p in policies_for(docs, PROXY) if p["metadata"]["name"].endswith("-to-redis")]
    assert outbound and outbound[0]["spec"]["egress"][0]["to"] == [
        {"podSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}}
    ]


def test_a_managed_redis_by_url_or_secret_gets_egress_to_its_cidr():
    docs = documents(render({"redis": {"url": "rediss://master.cache.example:6379/0", "egressCidr": "10.0.0.0/16"}}))
    assert not component(docs, "Deployment", "redis")
    deployment, container = proxy_container(docs)
    assert env_of(container)["LLM_PROXY_REDIS_URL"] == "rediss://master.cache.example:6379/0"
    (outbound,) = [p for p in policies_for(docs, PROXY) if p["metadata"]["name"].endswith("-to-redis")]
    assert outbound["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}], "ports": [{"port": 6379, "protocol": "TCP"}]}
    ]
    docs = documents(render({"redis": {"existingSecret": "redis-url", "egressCidr": "10.0.0.0/16"}}))
    deployment, container = proxy_container(docs)
    assert env_of(container)["LLM_PROXY_REDIS_URL_FILE"] == "/etc/llm-proxy/redis/url"
    assert "LLM_PROXY_REDIS_URL" not in env_of(container)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["redis-url"]["secret"] == {
        "secretName": "redis-url",
        "defaultMode": 0o400,
        "items": [{"key": "url", "path": "url"}],
    }
    assert {"name": "redis-url", "mountPath": "/etc/llm-proxy/redis", "readOnly": True} in container["volumeMounts"]


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"enabled": True, "url": "redis://x:6379"}, "not both"),
        ({"url": "redis://x:6379", "existingSecret": "s", "egressCidr": "10.0.0.0/8"}, "not both"),
        ({"url": "redis://x:6379"}, "redis.egressCidr"),
    ],
)
def test_contradictory_redis_values_fail_the_render_with_a_reason(values, reason):
    with pytest.raises(Exception, match=reason):
        render({"redis": values})


def test_the_schema_refuses_a_url_that_is_not_redis():
    with pytest.raises(Exception, match="url"):
        hp.Chart.load(str(CHART)).render(
            {"redis": {"url": "http://cache:6379"}}, name="llm", namespace=NAMESPACE, is_install=True
        )

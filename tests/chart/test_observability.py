"""Prometheus and Grafana objects of the chart: the ServiceMonitor (a CRD, so kubernetes-validate
has no schema for it) against a small schema we keep, and it scrapes the proxy Service's port; every
metric the dashboard queries is one the proxy really exports."""

import json
import re
from pathlib import Path

import jsonschema
import promql_parser
import pytest
from prometheus_client import generate_latest

from llm_proxy.metrics import ProxyMetrics

from .conftest import documents, render

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "servicemonitor.schema.json").read_text())
ALL_ON = {
    "metrics": {
        "serviceMonitor": {"enabled": True, "force": True, "labels": {"release": "kube-prometheus-stack"}},
        "dashboard": {"enabled": True},
    }
}


@pytest.fixture(scope="module")
def docs():
    return documents(render(ALL_ON))


def test_the_service_monitor_is_valid_and_scrapes_the_proxy_service(docs):
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    jsonschema.Draft7Validator(SCHEMA).validate(monitor)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    proxy_service = next(
        d
        for d in docs
        if d["kind"] == "Service" and d["metadata"]["labels"].get("app.kubernetes.io/component") == "proxy"
    )
    assert monitor["spec"]["selector"]["matchLabels"].items() <= proxy_service["metadata"]["labels"].items()
    ports = {p["name"] for p in proxy_service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [proxy_service["metadata"]["namespace"]]


def test_the_kept_schema_refuses_a_broken_monitor(docs):
    monitor = json.loads(json.dumps(next(d for d in docs if d["kind"] == "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["interval"] = "thirty seconds"
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(monitor)


def test_every_dashboard_query_uses_metrics_the_proxy_exports(docs):
    dashboard = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = _board(docs)
    exported = set(re.findall(r"^# TYPE (\w+) (\w+)", generate_latest(ProxyMetrics().registry).decode(), re.M))
    names = set()
    for name, kind in exported:
        names |= (
            {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "histogram"
            else {name, f"{name}_total"}
            if kind == "counter"
            else {name}
        )
    queried = {m for p in board["panels"] for t in p["targets"] for m in re.findall(r"\bllm_proxy_\w+", t["expr"])}
    assert len(board["panels"]) >= 7
    assert queried and queried <= names, f"not exported: {sorted(queried - names)}"


def _board(docs):
    dashboard = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
    return json.loads(next(iter(dashboard["data"].values())))


def test_every_dashboard_query_is_promql_that_prometheus_would_parse(docs):
    for panel in _board(docs)["panels"]:
        for target in panel["targets"]:
            try:
                promql_parser.parse(target["expr"])
            except ValueError as error:
                pytest.fail(f"panel {panel['title']!r}: {target['expr']!r}: {error}")


def test_the_parser_the_dashboard_test_relies_on_refuses_broken_promql():
    with pytest.raises(ValueError):
        promql_parser.parse("sum by (client (rate(llm_proxy_requests_total[5m]))")


def test_dashboard_panels_have_unique_ids_and_do_not_overlap(docs):
    panels = _board(docs)["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [
        (x, y)
        for p in panels
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)), "two panels share grid cells"
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)


def test_the_dashboard_shows_what_operators_of_shared_limits_need(docs):
    queried = {
        m for p in _board(docs)["panels"] for t in p["targets"] for m in re.findall(r"\bllm_proxy_\w+", t["expr"])
    }
    for metric in (
        "llm_proxy_client_cost_usd_total",
        "llm_proxy_budget_rejections_total",
        "llm_proxy_client_rate_limited_total",
        "llm_proxy_shared_state_up",
    ):
        assert metric in queried

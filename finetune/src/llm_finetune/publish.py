"""Publish a fine-tuned model into the proxy's routing table: a file, or the live ConfigMap."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from .errors import ToolkitError
from .pack import write_atomically

ROUTES_KEY = "routes.yaml"


def add_alias(text: str, model_id: str, alias: str, backend: str = "openai") -> str:
    """The routing document with `alias` added or updated; everything else left as it was."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ToolkitError(f"the routing table is not valid YAML: {exc}") from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("models"), list)
        or not isinstance(doc.get("backends"), dict)
    ):
        raise ToolkitError("the routing table must have 'backends' and a 'models' list")
    if backend not in doc["backends"]:
        raise ToolkitError(f"backend {backend!r} is not in the routing table (known: {', '.join(doc['backends'])})")
    route = {"name": alias, "group": "fine-tuned", "backend": backend, "upstream_model": model_id, "context": "none"}
    for i, existing in enumerate(doc["models"]):
        if isinstance(existing, dict) and existing.get("name") == alias:
            doc["models"][i] = {**existing, **route}
            break
    else:
        doc["models"].append(route)
    out = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
    _validate_with_proxy(out)
    return out


def _validate_with_proxy(text: str) -> None:
    # The proxy is the full validator; use it where it is installed (it is in this repo's venv).
    try:
        from llm_proxy.routing import RoutingError, parse_routes
    except ImportError:
        return
    try:
        parse_routes(text, environ={})
    except RoutingError as exc:
        raise ToolkitError(f"the routing table would be invalid: {exc}") from None


def publish_file(path: Path, model_id: str, alias: str, backend: str) -> None:
    if not path.exists():
        raise ToolkitError(f"{path}: no such routing file")
    write_atomically(path, add_alias(path.read_text(encoding="utf-8"), model_id, alias, backend))


def _core_api(kubeconfig: str | None, context: str | None):
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError) as exc:
            raise ToolkitError(f"no Kubernetes credentials: {exc}") from None
    return client.CoreV1Api()


def publish_configmap(
    name: str,
    namespace: str,
    model_id: str,
    alias: str,
    backend: str,
    api=None,
    kubeconfig: str | None = None,
    context: str | None = None,
    retries: int = 5,
) -> None:
    from kubernetes.client.exceptions import ApiException

    api = api or _core_api(kubeconfig, context)
    for attempt in range(retries):
        try:
            cm = api.read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            raise ToolkitError(f"cannot read ConfigMap {namespace}/{name}: {exc.status} {exc.reason}") from None
        current = (cm.data or {}).get(ROUTES_KEY)
        if current is None:
            raise ToolkitError(f"ConfigMap {namespace}/{name} has no key {ROUTES_KEY!r}")
        patch = {
            "metadata": {"resourceVersion": cm.metadata.resource_version},
            "data": {ROUTES_KEY: add_alias(current, model_id, alias, backend)},
        }
        try:
            api.patch_namespaced_config_map(name, namespace, patch)
            return
        except ApiException as exc:
            if exc.status == 409 and attempt + 1 < retries:  # someone else changed it: read again
                time.sleep(0.2 * (attempt + 1))
                continue
            raise ToolkitError(f"cannot update ConfigMap {namespace}/{name}: {exc.status} {exc.reason}") from None

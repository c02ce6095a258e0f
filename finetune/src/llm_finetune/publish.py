"""Publish a fine-tuned model as a route in the proxy's routes overlay: a file, or a ConfigMap the
toolkit owns. Never the base table: a `helm upgrade` (or any rewrite of the base) would drop what
was written there, while the overlay outlives it. Every change is checked first by merging it
over the base with the proxy's own validator, exactly as the proxy will."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ToolkitError
from .pack import write_atomically

ROUTES_KEY = "routes.yaml"  # the base table's key in the Helm-owned ConfigMap
OVERLAY_KEY = "published.yaml"  # the key (and file name) the toolkit writes
MANAGED_BY = "llm-finetune"
LABELS = {
    "app.kubernetes.io/managed-by": MANAGED_BY,
    "app.kubernetes.io/part-of": "llm-proxy",
    "app.kubernetes.io/component": "routes-overlay",
}
ANNOTATIONS = {
    "llm-proxy/owner": "llm-finetune publish/unpublish; the Helm chart mounts it but never renders it",
}
HEADER = "# Written by `llm-finetune publish`: routes served on top of the base table (the proxy's overlay).\n"


def chart_fullname(release: str) -> str:
    """The chart's `llm-proxy.fullname` (without nameOverride/fullnameOverride)."""
    return release if "llm-proxy" in release else f"{release}-llm-proxy"[:63].rstrip("-")


def overlay_configmap_name(release: str) -> str:
    return f"{chart_fullname(release)}-routes-published"


def base_configmap_name(release: str) -> str:
    return f"{chart_fullname(release)}-routes"


def _load_overlay(text: str | None, where: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as exc:
        raise ToolkitError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.setdefault("models", []), list):
        raise ToolkitError(f"{where} must be a mapping with a 'models' list")
    if doc["models"] is None:
        doc["models"] = []
    return doc


def _dump(doc: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def set_alias(text: str | None, model_id: str, alias: str, backend: str, where: str = "the overlay") -> str:
    """The overlay with `alias` added or updated; every other entry left as it was."""
    doc = _load_overlay(text, where)
    route = {"name": alias, "group": "fine-tuned", "backend": backend, "upstream_model": model_id, "context": "none"}
    for i, existing in enumerate(doc["models"]):
        if isinstance(existing, dict) and existing.get("name") == alias:
            doc["models"][i] = {**existing, **route}
            break
    else:
        doc["models"].append(route)
    return _dump(doc)


def remove_alias(text: str | None, alias: str, where: str = "the overlay") -> str:
    doc = _load_overlay(text, where)
    names = [m.get("name") for m in doc["models"] if isinstance(m, dict)]
    if alias not in names:
        published = ", ".join(str(n) for n in names) or "none"
        raise ToolkitError(f"{alias!r} is not published in {where} (published: {published})")
    doc["models"] = [m for m in doc["models"] if not (isinstance(m, dict) and m.get("name") == alias)]
    return _dump(doc)


def check_merged(base: str, overlays: list[tuple[str, str]], backend: str | None = None) -> None:
    """Refuse a change the proxy would refuse: the base with every overlay merged, validated by the
    proxy's own code (where it is installed, as in this repository's venv)."""
    try:
        doc = yaml.safe_load(base)
    except yaml.YAMLError as exc:
        raise ToolkitError(f"the base routing table is not valid YAML: {exc}") from None
    backends = doc.get("backends") if isinstance(doc, dict) else None
    if not isinstance(backends, dict):
        raise ToolkitError("the base routing table must have 'backends' and a 'models' list")
    if backend is not None and backend not in backends:
        raise ToolkitError(f"backend {backend!r} is not in the base routing table (known: {', '.join(backends)})")
    try:
        from llm_proxy.routing import RoutingError, merge_routes
    except ImportError:
        return
    try:
        merge_routes(base, overlays, environ={})  # no secrets are read: keys do not matter here
    except RoutingError as exc:
        raise ToolkitError(f"the routing table would be invalid: {exc}") from None


@dataclass
class Change:
    """What publish or unpublish does to one overlay: `edit(old_text, where) -> new_text`."""

    edit: Callable[[str | None, str], str]
    backend: str | None = None


def default_base_file() -> Path:
    """The base the proxy would use locally: LLM_PROXY_ROUTES, else its packaged table."""
    if os.environ.get("LLM_PROXY_ROUTES"):
        return Path(os.environ["LLM_PROXY_ROUTES"])
    from importlib.util import find_spec

    spec = find_spec("llm_proxy")
    if spec is None or spec.origin is None:
        raise ToolkitError("give --base FILE: the base routing table the overlay is merged over")
    return Path(spec.origin).parent / "data" / "routes.yaml"  # the proxy's packaged table


def read_base_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolkitError(f"{path}: cannot read the base routing table: {exc.strerror}") from None


def update_file(overlay: Path, base: str, change: Change) -> Path:
    """Apply the change to an overlay file (a directory gets `published.yaml`); atomic replace."""
    directory = overlay if overlay.is_dir() else None
    target = overlay / OVERLAY_KEY if directory else overlay
    if not target.parent.is_dir():
        raise ToolkitError(f"{target.parent}: no such directory")
    old = target.read_text(encoding="utf-8") if target.exists() else None
    new = change.edit(old, str(target))
    if directory is not None:  # the proxy merges the whole directory, in name order
        others = {p.name: p for p in directory.iterdir() if p.name.endswith(".yaml") and not p.name.startswith(".")}
        overlays = [
            (str(p), new if name == OVERLAY_KEY else p.read_text(encoding="utf-8"))
            for name, p in sorted({**others, OVERLAY_KEY: target}.items())
        ]
    else:
        overlays = [(str(target), new)]
    check_merged(base, overlays, change.backend)
    write_atomically(target, new)
    return target


def core_api(kubeconfig: str | None, context: str | None) -> Any:
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig, context=context)
        except (config.ConfigException, OSError) as exc:
            raise ToolkitError(f"no Kubernetes credentials: {exc}") from None
    return client.CoreV1Api()


def read_base_configmap(api: Any, name: str, namespace: str) -> str:
    from kubernetes.client.exceptions import ApiException

    try:
        cm = api.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        raise ToolkitError(
            f"cannot read the base routing ConfigMap {namespace}/{name}: {exc.status} {exc.reason} "
            "(give --release, --base-configmap NAME or --base FILE)"
        ) from None
    text = (cm.data or {}).get(ROUTES_KEY)
    if text is None:
        raise ToolkitError(f"ConfigMap {namespace}/{name} has no key {ROUTES_KEY!r}")
    return str(text)


def _refuse_foreign(cm: Any, namespace: str, name: str) -> None:
    labels = cm.metadata.labels or {}
    owner = labels.get("app.kubernetes.io/managed-by")
    if owner != MANAGED_BY:
        raise ToolkitError(
            f"ConfigMap {namespace}/{name} is managed by {owner or 'someone else (no managed-by label)'}, "
            f"not {MANAGED_BY}: publish writes only the toolkit's overlay ConfigMap "
            "(default <release>-llm-proxy-routes-published), never the Helm-owned routing table"
        )


def update_configmap(
    api: Any, name: str, namespace: str, base: str, change: Change, *, create: bool, retries: int = 5
) -> bool:
    """Apply the change to the overlay ConfigMap (key published.yaml), created when missing if
    `create`; True when it was created. A patch carries the resourceVersion it was computed from
    and is retried on conflict."""
    from kubernetes.client.exceptions import ApiException

    for attempt in range(retries):
        try:
            cm = api.read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise ToolkitError(f"cannot read ConfigMap {namespace}/{name}: {exc.status} {exc.reason}") from None
            if not create:
                raise ToolkitError(f"ConfigMap {namespace}/{name} does not exist: nothing is published") from None
            cm = None
        data = dict((cm.data or {}) if cm is not None else {})
        if cm is not None:
            _refuse_foreign(cm, namespace, name)
        where = f"ConfigMap {namespace}/{name} key {OVERLAY_KEY}"
        new = change.edit(data.get(OVERLAY_KEY), where)
        data[OVERLAY_KEY] = new
        overlays = [
            (f"ConfigMap {namespace}/{name} key {k}", v) for k, v in sorted(data.items()) if k.endswith(".yaml")
        ]
        check_merged(base, overlays, change.backend)
        try:
            if cm is None:
                body = {
                    "metadata": {"name": name, "namespace": namespace, "labels": LABELS, "annotations": ANNOTATIONS},
                    "data": {OVERLAY_KEY: new},
                }
                api.create_namespaced_config_map(namespace, body)
                return True
            patch = {"metadata": {"resourceVersion": cm.metadata.resource_version}, "data": {OVERLAY_KEY: new}}
            api.patch_namespaced_config_map(name, namespace, patch)
            return False
        except ApiException as exc:
            if exc.status == 409 and attempt + 1 < retries:  # changed or created meanwhile: read again
                time.sleep(0.2 * (attempt + 1))
                continue
            raise ToolkitError(f"cannot write ConfigMap {namespace}/{name}: {exc.status} {exc.reason}") from None
    raise ToolkitError(f"ConfigMap {namespace}/{name} kept changing; try again")

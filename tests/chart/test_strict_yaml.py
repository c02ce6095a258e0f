"""Every rendered document parses the way skaffold, kustomize and flux parse it (Go yaml.v3): a key
repeated in one mapping refuses the document. Checked for the default values, each values file in
k8s/ and a variant with every optional part on, including the YAML the ConfigMaps carry."""

import pytest
import yaml

from . import strict_yaml
from .conftest import ENVIRONMENTS, load_values, render

ALL_ON = {
    "metrics": {
        "serviceMonitor": {"enabled": True, "force": True, "labels": {"app.kubernetes.io/component": "x"}},
        "dashboard": {"enabled": True},
    },
    "proxy": {"podLabels": {"team": "ml", "app.kubernetes.io/name": "not-the-chart"}},
    "mock": {"podLabels": {"team": "ml"}},
}
VARIANTS = {**{name: load_values(name) for name in ENVIRONMENTS}, "all-on": ALL_ON}


def test_the_strict_loader_refuses_a_repeated_key_as_yaml_v3_does():
    text = "metadata:\n  labels:\n    app.kubernetes.io/name: a\n    app.kubernetes.io/name: a\n"
    assert yaml.safe_load(text)  # PyYAML's SafeLoader (and Helm) keep the last value silently
    with pytest.raises(yaml.constructor.ConstructorError, match='mapping key "app.kubernetes.io/name" already defined'):
        strict_yaml.load(text)
    assert strict_yaml.load("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n") == {
        "base": {"x": 1},
        "other": {"x": 1, "y": 2},
    }


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_rendered_document_has_no_repeated_keys(variant):
    rendered = render(VARIANTS[variant])
    parsed = 0
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        try:
            docs = [d for d in strict_yaml.load_all(text) if d]
        except yaml.YAMLError as exc:
            pytest.fail(f"{variant}: {path} would be refused by skaffold/kustomize/flux: {exc}")
        for doc in docs:
            parsed += 1
            if doc["kind"] == "ConfigMap":
                for key, value in doc["data"].items():
                    if key.endswith((".yaml", ".yml")):
                        strict_yaml.load(value)
    assert parsed >= 10

"""Render the chart with the real Helm engine (helm-python-sdk), once per values set."""

from pathlib import Path

import helm_python as hp
import pytest
import yaml

from . import strict_yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "llm-proxy"
ENVIRONMENTS = {"default": None, **{p.parent.name: p for p in sorted((ROOT / "k8s").glob("*/values.yaml"))}}
NAMESPACE = "llm-proxy"
RELEASE = "llm"


def load_values(name: str) -> dict:
    path = ENVIRONMENTS[name]
    return yaml.safe_load(path.read_text()) if path else {}


def render(values: dict, release: str = RELEASE, *, keyless: bool = True) -> dict[str, str]:
    """The chart rendered. Values without client keys ask for anonymous access (the chart refuses
    to render keyless otherwise), unless `keyless=False` leaves them as given."""
    secrets = values.get("secrets") or {}
    if keyless and not (secrets.get("clientKeys") or secrets.get("existingSecret")):
        values = {**values, "proxy": {"allowAnonymous": True, **(values.get("proxy") or {})}}
    return hp.Chart.load(str(CHART)).render(values, name=release, namespace=NAMESPACE, is_install=True)


def documents(rendered: dict[str, str]) -> list[dict]:
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in strict_yaml.load_all(text) if d]
    return docs


@pytest.fixture(scope="session", params=sorted(ENVIRONMENTS))
def env_render(request):
    values = load_values(request.param)
    rendered = render(values)
    return request.param, values, rendered, documents(rendered)

"""The Minikube and EKS guides: steps numbered in order, for Linux and macOS, each command where a
first deploy needs it (the Secret before anything that installs, amd64 images with immutable tags,
the tunnel where minikube's IP does not route, a port-forward wherever the TUI or curl is shown)."""

import re

import pytest
import yaml

from .conftest import ROOT

MINIKUBE = ROOT / "docs" / "minikube.md"
EKS = ROOT / "docs" / "eks.md"


def steps(path):
    return [int(n) for n in re.findall(r"^## (\d+)\. ", path.read_text(), re.M)]


def position(text: str, needle: str) -> int:
    index = text.find(needle)
    assert index >= 0, f"missing: {needle}"
    return index


@pytest.mark.parametrize("path", [MINIKUBE, EKS], ids=lambda p: p.name)
def test_the_guides_are_numbered_steps_in_order_for_linux_and_macos(path):
    numbers = steps(path)
    assert len(numbers) >= 5 and numbers == list(range(1, len(numbers) + 1))
    text = path.read_text()
    assert "Linux" in text and "macOS" in text


def test_no_host_name_that_goes_to_mdns():
    for path in [*ROOT.glob("docs/*.md"), *ROOT.glob("k8s/**/*"), *ROOT.glob("charts/llm-proxy/**/*")]:
        if path.is_file() and path.suffix in {".md", ".yaml", ".sh", ".txt", ".tpl", ".json"}:
            assert "llm-proxy.local" not in path.read_text(), path


def test_minikube_guide_reaches_the_ingress_on_every_os_and_keeps_a_port_forward():
    text = MINIKUBE.read_text()
    assert "minikube tunnel" in text and '"127.0.0.1 llm-proxy.test"' in text  # macOS/Windows, docker driver
    assert '"$(minikube ip) llm-proxy.test"' in text  # Linux
    assert "port-forward svc/llm-llm-proxy 8000:8000" in text
    for line in (line for line in text.splitlines() if line.startswith("llm-tui --url")):
        assert '--api-key "$LLM_PROXY_API_KEY"' in line, line
    for addon in ("ingress", "metrics-server"):
        assert f"minikube addons enable {addon}" in text
    assert "--container-runtime=docker" in text and "--cni=calico" in text
    setup = (ROOT / "k8s" / "minikube" / "setup.sh").read_text()
    assert "minikube tunnel" in setup and "port-forward" in setup


def test_eks_guide_creates_the_secret_before_anything_installs():
    text = EKS.read_text()
    secret = yaml.safe_load((ROOT / "k8s" / "eks" / "values.yaml").read_text())["secrets"]["existingSecret"]
    created = position(text, f"create secret generic {secret}")
    labelled = position(text, "elbv2.k8s.aws/pod-readiness-gate-inject=enabled")
    for install in ("helm upgrade --install", "skaffold run -p eks"):
        assert created < position(text, install) and labelled < position(text, install), install


def test_eks_guide_builds_amd64_images_with_immutable_tags():
    text = EKS.read_text()
    builds = [line for line in text.splitlines() if re.search(r"\bdocker (buildx )?build\b", line)]
    assert len(builds) >= 2
    for line in builds:
        assert "--platform linux/amd64" in line and ":$TAG" in line, line
    assert "TAG=$(git rev-parse" in text
    assert text.count("--image-tag-mutability IMMUTABLE") == 2
    assert '--set proxy.image.tag="$TAG"' in text and '--set mock.image.tag="$TAG"' in text
    assert "port-forward svc/llm-llm-proxy 8000:8000" in text


def test_every_image_build_shown_uses_the_context_and_dockerfile_skaffold_builds():
    """The build context is services/ (the shared package lives there): a command naming a service
    folder as context would fail to COPY it."""
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    wanted = {(a["image"], a["context"], a["docker"]["dockerfile"]) for a in config["build"]["artifacts"]}
    found = set()
    sources = [ROOT / "k8s" / "minikube" / "setup.sh", MINIKUBE, EKS, ROOT / "Makefile"]
    for path in sources:
        for line in path.read_text().splitlines():
            build = re.search(r"(minikube image build|docker buildx build|\$\(ENGINE\) build)\s([^`]*)", line)
            if not build or "-t" not in build.group(2):
                continue
            args = build.group(2).split()
            dockerfile, context = args[args.index("-f") + 1], args[-1]
            image = re.search(r"-t \S*?(llm-proxy|mock-model):", build.group(2)).group(1)
            if build.group(1) == "minikube image build":  # minikube's -f is relative to the context
                dockerfile = f"{context}/{dockerfile}"
            assert (ROOT / dockerfile).is_file(), line
            found.add((image, context, str((ROOT / dockerfile).relative_to(ROOT / context))))
    assert wanted <= found and found <= wanted, (found, wanted)

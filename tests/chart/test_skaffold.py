"""skaffold.yaml: valid against the schema of the fields we use and the official schema of its
apiVersion (kept in schemas/skaffold), every path it names exists, and the image values it sets
land in the rendered chart. There is no skaffold binary here, so this is what can be checked."""

import gzip
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from .conftest import CHART, ROOT, documents

SKAFFOLD = ROOT / "skaffold.yaml"
SUBSET_SCHEMA = Path(__file__).with_name("skaffold-subset.schema.json")
# skaffold's own schemas, one per apiVersion, kept in the repo (SOURCE.md there says from where).
OFFICIAL_SCHEMAS = Path(__file__).parent / "schemas" / "skaffold"
TEMPLATE_VAR = re.compile(r"\{\{\s*\.IMAGE_(REPO|TAG|DIGEST)_(\w+)\s*\}\}")


@pytest.fixture(scope="module")
def config():
    return yaml.safe_load(SKAFFOLD.read_text())


def variants(config):
    """(name, build, deploy) for the base config and each profile (a profile replaces what it sets)."""
    yield "base", config["build"], config["deploy"]
    for profile in config.get("profiles", []):
        yield profile["name"], profile.get("build", config["build"]), profile.get("deploy", config["deploy"])


def sanitized(image: str) -> str:
    # skaffold exposes IMAGE_REPO_<name> etc. with the characters Go templates cannot take ("/", "-", ".") as "_"
    return re.sub(r"[^A-Za-z0-9_]", "_", image)


def set_path(values: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        values = values.setdefault(key, {})
    values[leaf] = value


def test_skaffold_yaml_matches_the_fields_we_use(config):
    jsonschema.Draft7Validator(json.loads(SUBSET_SCHEMA.read_text())).validate(config)


def test_the_subset_schema_rejects_what_skaffold_would(config):
    validator = jsonschema.Draft7Validator(json.loads(SUBSET_SCHEMA.read_text()))
    bad = json.loads(json.dumps(config))
    bad["deploy"]["helm"]["releases"][0]["chartpath"] = bad["deploy"]["helm"]["releases"][0].pop("chartPath")
    assert not validator.is_valid(bad)
    assert not validator.is_valid({**config, "apiVersion": "skaffold/v1"})


def test_skaffold_yaml_matches_the_official_schema_of_its_version(config):
    version = config["apiVersion"].split("/", 1)[1]
    schema_file = OFFICIAL_SCHEMAS / f"{version}.json.gz"
    assert schema_file.exists(), f"no official schema for {config['apiVersion']} in {OFFICIAL_SCHEMAS}"
    schema = json.loads(gzip.decompress(schema_file.read_bytes()))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(config), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_the_official_schema_refuses_a_misspelt_field(config):
    version = config["apiVersion"].split("/", 1)[1]
    schema = json.loads(gzip.decompress((OFFICIAL_SCHEMAS / f"{version}.json.gz").read_bytes()))
    bad = json.loads(json.dumps(config))
    bad["deploy"]["helm"]["releases"][0]["chartpath"] = bad["deploy"]["helm"]["releases"][0].pop("chartPath")
    assert not jsonschema.Draft7Validator(schema).is_valid(bad)


def test_every_path_skaffold_names_exists(config):
    for name, build, deploy in variants(config):
        for artifact in build["artifacts"]:
            context = ROOT / artifact["context"]
            assert context.is_dir(), f"{name}: context {artifact['context']} is missing"
            assert (context / artifact["docker"]["dockerfile"]).is_file(), f"{name}: no Dockerfile in {context}"
            assert (context / ".dockerignore").is_file(), f"{name}: no .dockerignore in {context}"
        for release in deploy["helm"]["releases"]:
            assert (ROOT / release["chartPath"] / "Chart.yaml").is_file(), f"{name}: {release['chartPath']}"
            for values_file in release.get("valuesFiles", []):
                assert (ROOT / values_file).is_file(), f"{name}: values file {values_file} is missing"


def test_both_images_are_built_in_every_variant(config):
    for name, build, _ in variants(config):
        built = {(a["context"], a["docker"]["dockerfile"]) for a in build["artifacts"]}
        assert built == {("services", "proxy/Dockerfile"), ("services", "mock-model/Dockerfile")}, name


def test_image_templates_name_built_artifacts_and_land_in_the_rendered_chart(config):
    import helm_python as hp

    for name, build, deploy in variants(config):
        artifacts = {sanitized(a["image"]): a["image"] for a in build["artifacts"]}
        for release in deploy["helm"]["releases"]:
            values = release_values(release)
            expected = {}
            for key, template in release["setValueTemplates"].items():
                names = {m.group(2) for m in TEMPLATE_VAR.finditer(template)}
                assert names and names <= artifacts.keys(), f"{name}: {key}={template} names no built artifact"
                filled = TEMPLATE_VAR.sub(
                    lambda m, artifacts=artifacts: {
                        "REPO": f"registry.example/{artifacts[m.group(2)]}",
                        "TAG": "abc123",
                        "DIGEST": "sha256:" + "0" * 64,
                    }[m.group(1)],
                    template,
                )
                set_path(values, key, filled)
                expected[key] = filled
            rendered = hp.Chart.load(str(ROOT / release["chartPath"])).render(
                values, name=release["name"], namespace=release.get("namespace", "default"), is_install=True
            )
            docs = documents(rendered)
            images = {
                c["image"]
                for d in docs
                if d["kind"] == "Deployment"
                for c in d["spec"]["template"]["spec"]["containers"]
            }
            for component in ("proxy", "mock"):
                repo, tag = expected[f"{component}.image.repository"], expected[f"{component}.image.tag"]
                assert f"{repo}:{tag}" in images, f"{name}: {component} image not applied ({images})"


def hp_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = hp_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def release_values(release: dict) -> dict:
    values: dict = {}
    for values_file in release.get("valuesFiles", []):
        values = hp_merge(values, yaml.safe_load((ROOT / values_file).read_text()) or {})
    for key, value in release.get("setValues", {}).items():
        set_path(values, key, value)
    return values


def test_port_forward_targets_the_rendered_proxy_service_of_each_variant(config):
    import helm_python as hp

    for name, _, deploy in variants(config):
        profile = next((p for p in config.get("profiles", []) if p["name"] == name), {})
        forwards = profile.get("portForward", config["portForward"])
        release = deploy["helm"]["releases"][0]
        rendered = hp.Chart.load(str(CHART)).render(
            release_values(release), name=release["name"], namespace=release["namespace"], is_install=True
        )
        services = {d["metadata"]["name"]: d for d in documents(rendered) if d["kind"] == "Service"}
        assert any(f["localPort"] == 8000 for f in forwards), name
        for forward in forwards:
            assert forward["resourceType"].lower() == "service"
            assert forward["namespace"] == release["namespace"], name
            service = services.get(forward["resourceName"])
            assert service, f"{name}: forwards {forward['resourceName']}, which the release does not render"
            assert forward["port"] in {p["port"] for p in service["spec"]["ports"]}


def profile(config, name):
    return next(p for p in config["profiles"] if p["name"] == name)


def test_the_minikube_profile_uses_the_secret_setup_sh_makes_under_its_own_release(config):
    """skaffold dev -p minikube and k8s/minikube/setup.sh: one way to make the keys Secret, and
    releases apart (quitting `skaffold dev` uninstalls only its own)."""
    helm = profile(config, "minikube")["deploy"]["helm"]
    release = helm["releases"][0]
    setup = (ROOT / "k8s" / "minikube" / "setup.sh").read_text()
    setup_release = re.search(r"^RELEASE=\$\{RELEASE:-(\S+)\}", setup, re.M).group(1)
    setup_namespace = re.search(r"^NAMESPACE=\$\{NAMESPACE:-(\S+)\}", setup, re.M).group(1)
    assert (release["name"], release["namespace"]) != (setup_release, setup_namespace)
    assert release["namespace"] != setup_namespace  # one Ingress host per cluster, one release per namespace
    # The hook runs the same script as setup.sh, for the Secret the values name, in the release's namespace.
    command = helm["hooks"]["before"][0]["host"]["command"]
    assert "k8s/minikube/create-secret.sh" in command and (ROOT / "k8s/minikube/create-secret.sh").is_file()
    assert "k8s/minikube/create-secret.sh" in setup
    secret = release_values(release)["secrets"]["existingSecret"]
    assert f"SECRET={secret}" in command and f"NAMESPACE={release['namespace']}" in command
    assert f"SECRET={secret} k8s/minikube/create-secret.sh" in setup
    # No Secret of the chart's own (which would hold empty keys).
    rendered = documents(hp_render(release_values(release), release["name"], release["namespace"]))
    assert not [d for d in rendered if d["kind"] == "Secret"]


def hp_render(values, name, namespace):
    import helm_python as hp

    return hp.Chart.load(str(CHART)).render(values, name=name, namespace=namespace, is_install=True)


def kube_version_floor() -> tuple[int, ...]:
    constraint = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)(-0)?", constraint)
    assert match, f"update this test for the constraint {constraint!r}"
    return tuple(int(x) for x in match.groups()[:3])


def test_minikube_is_pinned_to_a_kubernetes_version_the_chart_accepts():
    files = [ROOT / "k8s/minikube/setup.sh", ROOT / "docs/minikube.md"]
    pinned = set()
    for path in files:
        text = path.read_text()
        pinned |= set(re.findall(r"KUBERNETES_VERSION=v(\d+\.\d+\.\d+)", text))
        pinned |= set(re.findall(r"--kubernetes-version[= ]v(\d+\.\d+\.\d+)", text))
    assert pinned, "minikube start must pin --kubernetes-version"
    assert len(pinned) == 1, f"setup.sh and docs/minikube.md pin different versions: {pinned}"
    version = tuple(int(x) for x in next(iter(pinned)).split("."))
    assert version >= kube_version_floor()
    assert "--container-runtime=docker" in files[0].read_text()


# skaffold's docs-v2/content/en/schemas/version-mappings/<version>-version.json
SKAFFOLD_RELEASE_OF = {"skaffold/v4beta13": "2.15.0"}


def test_the_skaffold_release_its_config_version_needs_is_stated(config):
    needed = SKAFFOLD_RELEASE_OF[config["apiVersion"]]
    assert f"skaffold >= {needed}" in SKAFFOLD.read_text()
    assert f"skaffold >= {needed}" in (ROOT / "docs" / "minikube.md").read_text()


def test_the_eks_profile_builds_amd64_and_checks_the_secret_first(config):
    eks = profile(config, "eks")
    assert eks["build"]["platforms"] == ["linux/amd64"]
    assert "gitCommit" in eks["build"]["tagPolicy"]  # immutable tags: one per commit
    release = eks["deploy"]["helm"]["releases"][0]
    command = eks["deploy"]["helm"]["hooks"]["before"][0]["host"]["command"]
    secret = release_values(release)["secrets"]["existingSecret"]
    assert command[:2] == ["kubectl", "-n"] and command[2] == release["namespace"] and secret in command

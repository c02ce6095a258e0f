"""The chart's pods played with `podman kube play`: render, stand in for what podman cannot play,
write one file per pod, play and take down.

Everything is played as the chart renders it (ConfigMaps, Deployments and the `helm test` Pod,
with their commands, args, env, security contexts, probes and ConfigMap volumes) except two things
Debian 12's podman 4.3 cannot do, replaced in the test's copy of the manifests only:

1. Secret volumes. podman 4.3 panics on a Secret volume without an explicit `optional`, mounts
   `data` values still base64-encoded, and does not mount `stringData` at all. Stand-in: the
   chart's own rendered Secret is decoded into a host directory (mode 0444 files in a 0755
   directory), mounted read-only as a `hostPath` volume under the same volume name and path.
2. Service DNS. There are no Services, so `<svc>.<ns>.svc.<clusterDomain>` does not resolve.
   Stand-in: `hostAliases` in the pod spec map the Service names the chart gives (short and fully
   qualified) to the IP the target pod is played at (`--ip`, one pod per file).

What `kube play` cannot express at all (Services, Ingress, HPA, PDB, NetworkPolicies, the
ServiceAccount) is not played; tests/chart checks those objects and docs/ci.md lists them.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path

import helm_python as hp
import yaml

from .podman_env import ROOT, Podman

CHART = ROOT / "charts" / "llm-proxy"
VALUES_FILE = Path(__file__).with_name("kube-play-values.yaml")
NAMESPACE = "llm-proxy"


def render(release: str, proxy_image: str, mock_image: str) -> list[dict]:
    """The chart rendered by the real Helm engine with the local values file and the images built."""
    values = yaml.safe_load(VALUES_FILE.read_text())
    for component, image in (("proxy", proxy_image), ("mock", mock_image)):
        repository, tag = image.rsplit(":", 1)
        assert repository == values[component]["image"]["repository"], (image, VALUES_FILE)
        values[component]["image"]["tag"] = tag
    rendered = hp.Chart.load(str(CHART)).render(values, name=release, namespace=NAMESPACE, is_install=True)
    return [
        d for path, text in rendered.items() if not path.endswith("NOTES.txt") for d in yaml.safe_load_all(text) if d
    ]


def find(docs: list[dict], kind: str, component: str) -> dict:
    found = [
        d for d in docs if d["kind"] == kind and d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, (kind, component, len(found))
    return found[0]


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]


def service_names(service: dict, cluster_domain: str = "cluster.local") -> list[str]:
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.{cluster_domain}"]


def write_secret_dir(secret: dict, directory: Path) -> Path:
    """Stand-in 1: the chart's Secret, decoded, as files a read-only hostPath volume mounts."""
    directory.mkdir(parents=True)
    directory.chmod(0o755)  # the pods' user (10001) must traverse it
    for key, value in secret["data"].items():
        path = directory / key
        path.write_bytes(base64.b64decode(value))
        path.chmod(0o444)
    return directory


def stand_in(doc: dict, secret_dir: Path, aliases: dict[str, list[str]]) -> dict:
    """A copy of one pod-bearing document with the two stand-ins applied, and nothing else changed."""
    doc = copy.deepcopy(doc)
    spec = pod_spec(doc)
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            del volume["secret"]
            volume["hostPath"] = {"path": str(secret_dir), "type": "Directory"}
    if aliases:
        spec["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in aliases.items()]
    return doc


@dataclass
class PlayedPod:
    """One pod file played at a fixed IP on a podman network."""

    podman: Podman
    file: Path
    pod_name: str  # podman 4.3 names a Deployment's pod <name>-pod-0, a Pod's <name>
    ip: str
    played: bool = field(default=False)

    def play(self, network: str) -> None:
        self.podman("kube", "play", "--network", network, "--ip", self.ip, str(self.file), timeout=180)
        self.played = True

    def down(self) -> None:
        if self.played:
            self.podman("kube", "down", str(self.file), timeout=180)
            self.played = False

    def container(self, name: str) -> str:
        return f"{self.pod_name}-{name}"


def write_pod_file(directory: Path, name: str, docs: list[dict]) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def network_addresses(podman: Podman, network: str, count: int) -> list[str]:
    """Fixed addresses inside the network's subnet, past the gateway and the first dynamic ones."""
    info = json.loads(podman("network", "inspect", network).stdout)[0]
    subnet = ipaddress.ip_network(info["subnets"][0]["subnet"])
    hosts = list(subnet.hosts())
    return [str(hosts[100 + i]) for i in range(count)]

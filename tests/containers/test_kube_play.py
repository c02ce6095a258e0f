"""The chart's rendered pods, run with `podman kube play`: the mock and the proxy start from the
chart's own pod specs (images of the local build, pull policy Never, tests/containers/
kube-play-values.yaml), the proxy turns ready and answers a chat completion, a stream and the
seed's /send_inference through the mock, which it reaches by the Service name the chart gives it;
the chart's `helm test` pod passes against them; `podman kube down` leaves nothing behind.

Two stand-ins, applied to the test's copy of the manifests only (kube_play.py says why): the
Secret volume becomes a read-only hostPath directory of the chart's Secret decoded, and
`hostAliases` map the Services' names to the pods' IPs. Everything else plays as rendered.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import openai
import pytest
import yaml

from . import kube_play
from .kube_play import PlayedPod, find, pod_spec, service_names
from .podman_env import wait_http

pytestmark = [pytest.mark.containers, pytest.mark.slow]

CLIENT_KEY = "kube-play-client-key"  # in kube-play-values.yaml's secrets.clientKeys
OPENAI_KEY = "sk-kube-play-never-shown"  # its secrets.openaiApiKey


class Release:
    """The rendered documents, the stand-in pod files and the pods played from them."""

    def __init__(self, podman, images, workdir):
        self.podman = podman
        self.name = f"kp{podman.run_id}"
        self.docs = kube_play.render(self.name, images.proxy, images.mock)
        self.configmaps = {d["metadata"]["name"]: d for d in self.docs if d["kind"] == "ConfigMap"}
        self.proxy_doc = find(self.docs, "Deployment", "proxy")
        self.mock_doc = find(self.docs, "Deployment", "mock-model")
        self.test_doc = find(self.docs, "Pod", "helm-test")
        self.secret = next(d for d in self.docs if d["kind"] == "Secret")
        self.secret_dir = kube_play.write_secret_dir(self.secret, workdir / "secret")
        self.network = podman.name("kube-play")
        self.workdir = workdir
        self.pods: dict[str, PlayedPod] = {}
        self.before = self.snapshot()

    def configmaps_of(self, doc) -> list[dict]:
        # An optional ConfigMap the chart does not render (the toolkit-owned routes overlay) is
        # played as a missing one, as on a cluster before the first publish.
        names = {v["configMap"]["name"] for v in pod_spec(doc).get("volumes", []) if "configMap" in v}
        return [self.configmaps[n] for n in sorted(names) if n in self.configmaps]

    def play(self) -> None:
        self.podman("network", "create", self.network)
        mock_ip, proxy_ip, test_ip = kube_play.network_addresses(self.podman, self.network, 3)
        mock_service = find(self.docs, "Service", "mock-model")
        proxy_service = find(self.docs, "Service", "proxy")
        plan = [
            ("mock", self.mock_doc, mock_ip, {}),
            ("proxy", self.proxy_doc, proxy_ip, {mock_ip: service_names(mock_service)}),
        ]
        for key, doc, ip, aliases in plan:
            self.add(key, doc, ip, aliases)
        self.test_plan = ("helm-test", self.test_doc, test_ip, {proxy_ip: service_names(proxy_service)})

    def add(self, key, doc, ip, aliases) -> PlayedPod:
        played_doc = kube_play.stand_in(doc, self.secret_dir, aliases)
        path = kube_play.write_pod_file(self.workdir, key, [*self.configmaps_of(doc), played_doc])
        name = doc["metadata"]["name"] + ("-pod-0" if doc["kind"] == "Deployment" else "")
        pod = PlayedPod(self.podman, path, name, ip)
        self.pods[key] = pod
        pod.play(self.network)
        return pod

    def logs(self) -> str:
        return "\n".join(
            self.podman.logs(pod.container(pod_spec(doc)["containers"][0]["name"]))
            for pod, doc in ((self.pods.get("proxy"), self.proxy_doc), (self.pods.get("mock"), self.mock_doc))
            if pod
        )

    def snapshot(self) -> dict[str, set[str]]:
        def names(*args):
            return set(self.podman(*args).stdout.split())

        return {
            "pods": names("pod", "ps", "--format", "{{.Name}}"),
            "containers": names("ps", "-a", "--format", "{{.Names}}"),
            "volumes": names("volume", "ls", "--format", "{{.Name}}"),
        }

    def leftovers(self) -> dict[str, list[str]]:
        """What exists now that did not before the release was played."""
        now = self.snapshot()
        return {kind: sorted(now[kind] - self.before[kind]) for kind in now}

    def teardown(self) -> None:
        for pod in reversed(list(self.pods.values())):
            self.podman("kube", "down", str(pod.file), check=False, timeout=180)
        for volume in self.leftovers()["volumes"]:
            self.podman("volume", "rm", "--force", volume, check=False)
        self.podman("network", "rm", "--force", self.network, check=False, timeout=60)


@pytest.fixture(scope="module")
def release(podman, images, tmp_path_factory):
    rel = Release(podman, images, tmp_path_factory.mktemp("kube-play"))
    try:
        rel.play()
        yield rel
    finally:
        rel.teardown()


def inspect(podman, container: str) -> dict:
    return json.loads(podman("inspect", container).stdout)[0]


def exec_python(podman, container: str, code: str) -> str:
    return podman("exec", container, "python", "-c", code).stdout


@pytest.mark.parametrize("key", ["mock", "proxy"])
def test_both_pods_start_from_the_chart_pod_specs(release, key):
    podman = release.podman
    doc = {"mock": release.mock_doc, "proxy": release.proxy_doc}[key]
    pod = release.pods[key]
    spec = pod_spec(doc)
    wanted = spec["containers"][0]
    name = pod.container(wanted["name"])
    state = inspect(podman, name)
    assert state["State"]["Running"], release.logs()
    config, host = state["Config"], state["HostConfig"]
    assert config["Image"].endswith(wanted["image"]) and wanted["imagePullPolicy"] == "Never"
    # The image's entrypoint (the chart sets no command) with the chart's args: the port the chart
    # sets is the one the service listens on.
    image_config = json.loads(podman("image", "inspect", config["Image"]).stdout)[0]["Config"]
    assert "command" not in wanted and config["Entrypoint"] == " ".join(image_config["Entrypoint"])
    assert config["Cmd"] == wanted["args"] == ["--port", str(wanted["ports"][0]["containerPort"])]
    env = dict(e.split("=", 1) for e in config["Env"])
    for var in wanted["env"]:
        assert env.get(var["name"]) == str(var["value"]), var
    sc = wanted["securityContext"]
    assert config["User"] == f"{sc['runAsUser']}:{sc['runAsGroup']}"
    assert host["ReadonlyRootfs"] is sc["readOnlyRootFilesystem"] is True
    status = dict(
        line.split(":\t", 1)
        for line in podman("exec", name, "cat", "/proc/1/status").stdout.splitlines()
        if ":\t" in line
    )
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0  # capabilities: drop ALL
    assert status["NoNewPrivs"].strip() == "1"  # allowPrivilegeEscalation: false
    assert status["Seccomp"].strip() == "2"  # seccompProfile RuntimeDefault: a filter is on
    assert status["Uid"].split()[0] == str(sc["runAsUser"])
    # Every ConfigMap volume is a directory holding the ConfigMap's keys, as rendered.
    volumes = {v["name"]: v for v in spec["volumes"]}
    for mount in wanted["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            rendered = release.configmaps.get(volume["configMap"]["name"])
            assert rendered or volume["configMap"].get("optional"), volume
            listing = podman(
                "exec",
                name,
                "python",
                "-c",
                "import json, os, sys; d = sys.argv[1]; print(json.dumps(os.path.isdir(d) and {f: open(os.path.join(d, f)).read() "
                "for f in os.listdir(d) if not f.startswith('.')}))",
                mount["mountPath"],
            ).stdout
            found = json.loads(listing)  # False: no such directory
            if rendered:
                assert found == rendered["data"], mount
            else:  # a missing optional ConfigMap: Kubernetes mounts an empty directory, podman 4.3 none
                assert found in (False, {}), mount
        if mount["mountPath"] == "/tmp":
            podman("exec", name, "touch", "/tmp/writable")  # the emptyDir is writable, the root is not
    assert podman("exec", name, "touch", "/not-writable", check=False).returncode != 0


def test_the_secret_files_are_the_chart_secret_decoded(release):
    podman, pod = release.podman, release.pods["proxy"]
    name = pod.container("proxy")
    env = dict(e.split("=", 1) for e in inspect(podman, name)["Config"]["Env"])
    keys = podman("exec", name, "cat", env["LLM_PROXY_API_KEYS_FILE"]).stdout
    assert CLIENT_KEY in keys.splitlines()
    assert podman("exec", name, "cat", env["OPENAI_API_KEY_FILE"]).stdout == OPENAI_KEY


async def test_the_proxy_turns_ready_and_answers_through_the_mock(release):
    podman = release.podman
    url = f"http://{release.pods['proxy'].ip}:{release.proxy_doc['spec']['template']['spec']['containers'][0]['ports'][0]['containerPort']}"
    ready = await wait_http(f"{url}/readyz", timeout=120, logs=release.logs)
    assert ready["status"] == "ready" and ready["models"] == len(release_models(release))

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
    answer = await client.chat.completions.with_raw_response.create(
        model="mock-gpt-model-0701", messages=[{"role": "user", "content": "When is his birthday?"}]
    )
    assert answer.headers["X-LLM-Proxy-Model"] == "mock-gpt-model-0701"
    assert answer.parse().choices[0].message.content
    with pytest.raises(openai.AuthenticationError):  # the key file from the Secret is enforced
        await openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()

    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    body = {"model": "mock-gpt-model-0701", "stream": True, "messages": [{"role": "user", "content": "Hello"}]}
    # The chart's mock backend passes clients' X-Mock-* knobs on: a 3-token answer instead of the
    # default (about 60 chunks for this question).
    knobs = {"X-Mock-Response-Tokens": "3"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.post(f"{url}/v1/chat/completions", json=body, headers=knobs) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
            raw = await resp.read()
        assert raw.rstrip().endswith(b"data: [DONE]") and 2 <= raw.count(b'"content"') <= 5, raw[-300:]
        seed = {
            "model": {"model_name": "mock-gpt-model-0701"},
            "inference": {
                "sample_question": {"status": False, "selected_question": 1},
                "custom_question": {"status": True, "your_question": "Tell me more about his hobbies ?"},
            },
        }
        async with http.post(f"{url}/send_inference", json=seed) as resp:
            assert resp.status == 200, await resp.text()
            reply = await resp.json()
    assert reply["response"]["response"]

    # The proxy found the mock by the Service name the chart put in the routing table (resolved by
    # the hostAliases stand-in to the mock pod's IP).
    table = yaml.safe_load(
        next(c for n, c in release.configmaps.items() if n.endswith("-routes"))["data"]["routes.yaml"]
    )
    mock_url = table["backends"]["mock"]["base_url"]
    host = mock_url.split("//", 1)[1].split(":", 1)[0]
    assert host == service_names(find(release.docs, "Service", "mock-model"))[-1]
    resolved = exec_python(
        podman, release.pods["proxy"].container("proxy"), f"import socket; print(socket.gethostbyname({host!r}))"
    )
    assert resolved.strip() == release.pods["mock"].ip
    assert OPENAI_KEY not in release.logs()


def release_models(release) -> list[str]:
    routes = next(c for n, c in release.configmaps.items() if n.endswith("-routes"))
    return [m["name"] for m in yaml.safe_load(routes["data"]["routes.yaml"])["models"]]


async def test_the_chart_helm_test_pod_passes_against_the_played_release(release):
    url = f"http://{release.pods['proxy'].ip}:8000"
    await wait_http(f"{url}/readyz", timeout=120, logs=release.logs)
    pod = release.add(*release.test_plan)
    name = pod.container(pod_spec(release.test_doc)["containers"][0]["name"])
    for _ in range(240):
        state = inspect(release.podman, name)["State"]
        if not state["Running"] and state["Status"] == "exited":
            break
        await asyncio.sleep(0.25)
    logs = release.podman.logs(name)
    assert state["Status"] == "exited" and state["ExitCode"] == 0, (state, logs)
    assert "ok: mock-gpt-model-0701" in logs


def test_kube_down_leaves_nothing_behind(release):
    """Runs last in this module: every pod file taken down, then nothing of the release is left.
    podman 4.3 keeps the volumes it made for ConfigMaps (it has no `kube down --force`); those, and
    only those, are removed here by name."""
    for pod in reversed(list(release.pods.values())):
        pod.down()
    left = release.leftovers()
    assert left["pods"] == [] and left["containers"] == [], left
    configmap_volumes = set(release.configmaps)
    assert set(left["volumes"]) <= configmap_volumes, left["volumes"]
    for volume in left["volumes"]:
        release.podman("volume", "rm", volume)
    assert release.leftovers() == {"pods": [], "containers": [], "volumes": []}
    release.pods.clear()
